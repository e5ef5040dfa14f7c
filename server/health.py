"""Liveness (`/healthz`: the process serves) and readiness (`/readyz`: the store answers)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("librarycache.health")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.wait_for(request.app.state.store.ping(), timeout=2.0)
    except Exception:
        log.warning("store is not reachable", exc_info=True)
        return JSONResponse({"status": "unavailable", "store": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "store": "ok"})
