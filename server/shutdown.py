"""Lets requests still running at shutdown settle before the store's client is closed.

On SIGTERM uvicorn stops accepting, waits up to ``timeout_graceful_shutdown`` (the CLI sets
it from ``sync_timeout_seconds``) for requests to finish, cancels those left, and runs the
lifespan's shutdown right away. A sync cancelled that way unwinds through the store's own
clean-up, which releases its lease and needs the client still open; what it wrote stays
invisible either way (see ``persistence.store``). So the lifespan awaits :meth:`settled`
before it closes the client.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("librarycache.shutdown")


class InFlight:
    """Counts the HTTP requests being handled."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def settled(self, grace: float) -> bool:
        """Wait until no request is being handled, at most ``grace`` seconds."""
        if self.count:
            log.info("waiting for %d request(s) to settle", self.count)
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d request(s) still running at shutdown", self.count)
            return False
        return True

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()


class InFlightMiddleware:
    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave()
