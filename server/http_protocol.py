"""uvicorn's httptools protocol with the limits it lacks: header size, count and read time.

uvicorn bounds idle keep-alive (``timeout_keep_alive``) and concurrency
(``limit_concurrency``), and h11 bounds the header block, but the httptools protocol
(uvicorn's default, and faster) takes a header block of any size and any number of
headers, and a connection that never finishes its headers (slowloris), or never sends
a byte, is held for ever. Those happen before there is an ASGI request, so no
middleware can see them: they are enforced here, as the parser reports each part.

uvicorn imports this class by name in each worker (``http="server.http_protocol:..."``),
so its limits come from the worker's settings, like the app's (``create_app_from_env``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from server.settings import Settings

log = logging.getLogger("librarycache.http")


@dataclass(frozen=True)
class HeaderLimits:
    max_bytes: int
    """Request line and header block together."""
    max_count: int
    read_seconds: float
    """From a connection's first byte (or its opening) to the end of a request's headers."""

    @classmethod
    def from_settings(cls, settings: Settings) -> HeaderLimits:
        return cls(
            max_bytes=settings.max_header_bytes,
            max_count=settings.max_headers,
            read_seconds=settings.header_timeout_seconds,
        )


@functools.cache
def _worker_limits() -> HeaderLimits:
    return HeaderLimits.from_settings(Settings.from_env())


class _HeadersRefused(Exception):
    def __init__(self, status_line: bytes, message: str) -> None:
        super().__init__(message)
        self.status_line = status_line


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol``, refusing oversized header blocks and slow or silent clients."""

    limits: HeaderLimits | None = None
    """Set by tests; otherwise the worker's settings."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, object],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = self.limits or _worker_limits()
        self._header_bytes = 0
        self._header_count = 0
        self._header_deadline: asyncio.TimerHandle | None = None
        self._started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A client that connects and sends nothing is held no longer than a slow one.
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, except that a refusal raised by a callback below is answered with
        # its status instead of the generic 400 (the parser wraps callback exceptions).
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _HeadersRefused):
                self._refuse(error.__context__.status_line, str(error.__context__))
                return
            self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = True
        self._header_bytes = self._header_count = 0
        self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), headers=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), headers=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        self._started = False
        super().on_headers_complete()

    def _count(self, size: int, *, headers: int) -> None:
        self._header_bytes += size
        self._header_count += headers
        if self._header_count > self._limits.max_count:
            raise _HeadersRefused(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
                f"more than {self._limits.max_count} request headers",
            )
        if self._header_bytes > self._limits.max_bytes:
            raise _HeadersRefused(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
                f"request line and headers larger than {self._limits.max_bytes} bytes",
            )

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(
            self._limits.read_seconds, self._header_deadline_passed
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_deadline_passed(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if not self._started:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        self._refuse(
            b"HTTP/1.1 408 Request Timeout\r\n",
            f"the request's headers did not arrive within {self._limits.read_seconds:g}s",
        )

    def _refuse(self, status_line: bytes, message: str) -> None:
        log.info("refused a connection: %s", message, extra={"client": _host(self.client)})
        body = f"{message}\n".encode()
        self.transport.write(
            status_line
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        self.transport.close()


def _host(client: tuple[str, int] | None) -> str:
    return client[0] if client else "-"
