"""JSON error bodies for failures that happen before GraphQL runs (bad JSON, size, auth)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server._json import dumps

_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A GraphQL-shaped error body, so clients parse every failure the same way."""
    body = {"errors": [{"message": message, "extensions": {"code": code or _code(status)}}]}
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def _code(status: int) -> str:
    return _CODE_BY_STATUS.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")


_MESSAGES = {
    404: "there is nothing at {path}: the GraphQL endpoint is /graphql",
    405: "{method} is not allowed on {path}",
}


async def http_exception_handler(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (an unknown path, a method a route does not take) in JSON."""
    assert isinstance(error, HTTPException)
    template = _MESSAGES.get(error.status_code)
    message = (
        template.format(path=request.url.path, method=request.method) if template else error.detail
    )
    return error_response(error.status_code, message, headers=dict(error.headers or {}))
