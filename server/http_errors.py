"""JSON error bodies for failures that happen before GraphQL runs (bad JSON, size, auth)."""

from __future__ import annotations

from starlette.responses import Response

from server._json import dumps

_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
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
