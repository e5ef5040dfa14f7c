"""Structured logs: one JSON object per line on stderr, for the app and for uvicorn.

Every line has ``time``, ``level``, ``logger`` and ``message``; lines written while a request
is handled also have its ``requestId`` (from ``server.request_id``). Fields passed as
``extra={...}`` (``userId``, ``phase``, ``version``...) become fields of the object, so the
store's progress lines read ``{"message": "sync user:1: likes done ...", "phase": "likes", ...}``.

``librarycache serve`` applies :func:`log_config` in its own process and hands the same dict
to uvicorn, which applies it again in each worker. ``LIBRARYCACHE_LOG_FORMAT=text`` gives one
readable line per record instead, with the same fields.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http_errors import error_response
from server.request_id import current_request_id

LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]

_RESERVED: Final = frozenset(
    {
        *vars(logging.LogRecord("", 0, "", 0, "", None, None)),
        "message",
        "asctime",
        "taskName",
        # uvicorn's copy of the message with terminal colours
        "color_message",
    }
)
# Health checks and scrapes come every few seconds: at info level they would drown the rest.
_QUIET_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
_access_fields: ContextVar[dict[str, Any] | None] = ContextVar("_access_fields", default=None)

access_log = logging.getLogger("librarycache.access")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields: what the caller passed in ``extra``, and the request id."""
    fields = {k: v for k, v in vars(record).items() if k not in _RESERVED and k[0] != "_"}
    request_id = fields.get("requestId") or current_request_id.get()
    if request_id != "-":
        fields["requestId"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra`` fields never overwrite the four fixed ones."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # orjson refuses some values outright, such as ints past 64 bits
            return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [requestId] message key=value...``, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        request_id = fields.pop("requestId", None)
        head, _, tail = line.partition("\n")  # keep any traceback below the first line
        if request_id:
            head = f"{head} [{request_id}]"
        if fields:
            head += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{head}\n{tail}" if tail else head


def log_config(level: LogLevel = "info", fmt: LogFormat = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: everything to stderr, uvicorn's loggers included.

    uvicorn's own access log is replaced by :class:`AccessLogMiddleware` (it has no duration);
    pass ``access_log=False`` to uvicorn. Plain data, so uvicorn can hand it to its workers.
    """
    upper = level.upper()
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": upper, "handlers": ["default"]},
        "loggers": {
            # Without a handler of their own, uvicorn's loggers reach ours through the root.
            "uvicorn": {"level": upper, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": upper, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": upper, "handlers": [], "propagate": False},
            # PyMongo's own debug logging is one record per command: only on request.
            "pymongo": {"level": "INFO" if upper == "DEBUG" else upper},
        },
    }


def configure_logging(level: LogLevel = "info", fmt: LogFormat = "json") -> None:
    logging.config.dictConfig(log_config(level, fmt))


def note_operation(operation: str) -> None:
    """Name a GraphQL operation (``"query Liked"``) on the access line of the current request."""
    fields = _access_fields.get()
    if fields is not None:
        fields.setdefault("operations", []).append(operation)


class AccessLogMiddleware:
    """One line per request once it is answered: method, path, status, durationMs, requestId.

    It is also the last boundary for errors: an exception nothing else handled is logged here,
    under the request id, and answered with a JSON 500 that carries the id. Put it inside
    ``RequestIdMiddleware`` so that the id is known. The query string is left out of the line:
    a GET query may carry variables, and tokens have been seen there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        fields: dict[str, Any] = {}
        token = _access_fields.set(fields)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        outcome = "answered"
        try:
            await self.app(scope, receive, send_noting_status)
        except ClientDisconnect:
            # The client left while its body was read: nobody to answer, and no bug.
            outcome = "client left"
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "-")
            access_log.exception("unhandled error", extra={"requestId": request_id})
            if status is not None:
                outcome = "failed"
                raise  # the response has begun: the server can only drop the connection
            status = 500
            await error_response(500, f"Internal server error (request id {request_id})")(
                scope, receive, send
            )
        except BaseException:
            # Cancelled: the client left, or shutdown outlasted the graceful timeout.
            outcome = "cancelled"
            raise
        finally:
            _access_fields.reset(token)
            self._log(scope, status, outcome, started, fields)

    @staticmethod
    def _log(
        scope: Scope, status: int | None, outcome: str, started: float, fields: dict[str, Any]
    ) -> None:
        path: str = scope["path"]
        if outcome == "cancelled":
            level = logging.WARNING
        elif outcome == "failed" or (status is not None and status >= 500):
            level = logging.ERROR
        elif path in _QUIET_PATHS and status is not None and status < 400:
            level = logging.DEBUG
        else:
            level = logging.INFO
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        client = scope.get("client")
        request_id = scope.get("state", {}).get("request_id")
        access_log.log(
            level,
            "%s %s %s in %s ms",
            scope["method"],
            path,
            status if outcome == "answered" else outcome,
            duration_ms,
            extra={
                "method": scope["method"],
                "path": path,
                "status": status,
                "durationMs": duration_ms,
                **({"client": client[0]} if client else {}),
                **({"outcome": outcome} if outcome != "answered" else {}),
                **({"requestId": request_id} if request_id else {}),
                **fields,
            },
        )
