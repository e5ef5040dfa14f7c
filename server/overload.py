"""Sheds load past a bound on the requests a worker handles at once (503 ``OVERLOADED``).

Driven past its capacity, a server without a bound accepts every request and queues it
in memory: each waiting request holds its body, its task and whatever it has built so
far, the queue grows as long as the overload lasts, answers come later and later, and
clients that gave up leave their work behind to be done anyway (measured at 1.15 times the
capacity: 977 requests in flight and 1.4 GiB resident after three minutes, two thirds
of the answers too late for their clients; docs/performance.md). uvicorn's own bound
(``MAX_CONNECTIONS``) counts connections, a thousand by default, and answers in plain text.

With at most ``limit`` requests in hand, the worker's memory and every answer's wait are
bounded (the limit over the throughput: 64 at ~30 requests a second is ~2 s); what is
over is refused at once, before its body is read, with ``Retry-After`` so that clients
back off. Health checks and metrics scrapes are never refused: a busy worker is alive.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from server.http_errors import error_response

OVERLOADED: Final = "OVERLOADED"
RETRY_AFTER_SECONDS: Final = 1
_NEVER_REFUSED: Final = frozenset({"/healthz", "/readyz", "/metrics"})


class ConcurrencyLimitMiddleware:
    """Answers 503 ``OVERLOADED`` while ``limit`` HTTP requests are being handled."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _NEVER_REFUSED:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            refusal = error_response(
                503,
                f"the server is handling as many requests as it takes at once ({self.limit}, "
                f"LIBRARYCACHE_MAX_IN_FLIGHT): retry in {RETRY_AFTER_SECONDS} s",
                OVERLOADED,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await refusal(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
