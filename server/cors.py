"""Cross-origin access for browser clients on other origins (``LIBRARYCACHE_CORS_ORIGINS``)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from server.request_id import HEADER as REQUEST_ID_HEADER
from server.settings import Settings


def cors_middleware(settings: Settings) -> list[Middleware]:
    """The CORS middleware, or none when no origin is allowed.

    It must be the outermost middleware: whatever answers inside it (a 413 from the body
    limit, the JSON 500 of the access log) then carries the CORS headers, so a page sees
    the JSON error instead of an opaque network failure.
    """
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=settings.cors_allow_headers,
            # Pages may read the id to quote it in a bug report, as the logs carry it.
            expose_headers=[REQUEST_ID_HEADER],
        )
    ]
