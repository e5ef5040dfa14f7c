"""Liveness (`/healthz`: the process serves, or can recover) and readiness (`/readyz`: the
store answers)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("librarycache.health")


async def healthz(request: Request) -> JSONResponse:
    """503 once the server knows it cannot recover by itself (its embedded store died
    and could not be restarted): the process manager should restart it. A store that is
    merely unreachable is ``/readyz``'s concern; restarting would not help."""
    unrecoverable = getattr(request.app.state, "unrecoverable", None)
    if unrecoverable is not None:
        return JSONResponse({"status": "failing", "reason": unrecoverable}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.wait_for(request.app.state.store.ping(), timeout=2.0)
    except Exception:
        log.warning("store is not reachable", exc_info=True)
        return JSONResponse({"status": "unavailable", "store": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "store": "ok"})
