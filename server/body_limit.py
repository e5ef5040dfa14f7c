"""Bounds a request body's size (413) and the time taken to send it (408).

The size is refused before the body is buffered whole. The time is a deadline for the
whole body from when the request's headers are in: a client that promises a
``Content-Length`` and sends less, or trickles it, holds a worker's task no longer.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http_errors import error_response


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, read_seconds: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refuse = error_response(
            413,
            f"request body is larger than the limit of {self.max_bytes} bytes",
            "PAYLOAD_TOO_LARGE",
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await refuse(scope, receive, send)
                return

        received = 0
        body_read = False
        started = False
        deadline = asyncio.get_running_loop().time() + self.read_seconds

        async def limited_receive() -> Message:
            nonlocal received, body_read
            if body_read:  # what follows the body is only the client leaving: wait for it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
                body_read = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            # A chunked body without Content-Length: refused once it passes the limit.
            if not started:
                await refuse(scope, receive, send)
        except _TooSlow:
            if not started:
                # The rest of the body may still come: the connection cannot be reused.
                await error_response(
                    408,
                    f"the request body did not arrive within {self.read_seconds:g}s",
                    "REQUEST_TIMEOUT",
                    headers={"Connection": "close"},
                )(scope, receive, send)
