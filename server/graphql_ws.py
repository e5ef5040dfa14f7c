"""GraphQL subscriptions over WebSocket (graphql-transport-ws), with the HTTP endpoint's rules.

A handshake is checked in this order, each refusal a JSON error body with a code (the
ASGI WebSocket denial-response extension, which uvicorn's ``websockets`` implementation
offers): the ``Origin`` (cross-origin pages only from ``LIBRARYCACHE_CORS_ORIGINS``, as
for HTTP), the subprotocol (``graphql-transport-ws`` only), then the token when the
upgrade carries an ``Authorization`` header. A client that cannot set headers (a
browser's ``WebSocket``) sends ``{"authorization": "Bearer <JWT>"}`` as the
``connection_init`` payload instead; a missing or bad one there closes the socket with
4401 and the reason. Where the server lacks the denial extension, handshake refusals are
sent the same way: accepted, then closed with 4400/4401/4403 and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol, cast

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from resolvers import RequestContext
from resolvers.access import Caller, Unauthenticated
from server._json import dumps
from server.http_errors import error_response

log = logging.getLogger("librarycache.auth")

SUBPROTOCOL = "graphql-transport-ws"
_DENIAL = "websocket.http.response"
_CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403}
_MAX_REASON_BYTES = 123
"""A close frame's reason is at most 123 bytes (RFC 6455, 5.5)."""


class Refused(Exception):
    """The handshake was answered with a refusal; nothing more is to be sent."""


async def refuse(
    websocket: WebSocket,
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Refuse a handshake not yet accepted, as clearly as the server allows."""
    log.info("refused a WebSocket handshake: %s", message, extra={"code": code})
    if _DENIAL in websocket.scope.get("extensions", {}):
        response: Response = error_response(status, message, code, headers=headers)
        await websocket.send_denial_response(response)
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    await websocket.close(_CLOSE_CODES.get(status, 4400), close_reason(message))


def close_reason(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return message
    return encoded[: _MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def payload_token(payload: dict[str, Any]) -> str:
    """The bearer token of a ``connection_init`` payload (``authorization`` key)."""
    value = payload.get("authorization", payload.get("Authorization"))
    if not isinstance(value, str):
        raise Unauthenticated(
            "send 'Authorization: Bearer <JWT>' with the upgrade, or "
            '{"authorization": "Bearer <JWT>"} as the connection_init payload'
        )
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the connection_init authorization must read 'Bearer <JWT>'")
    return token.strip()


class TextFrames(ASGIWebSocketAdapter):
    """Sends each message as a text frame, as graphql-transport-ws requires.

    Strawberry sends bytes as binary frames, and the view's ``encode_json`` gives bytes
    (orjson): graphql-ws clients would refuse every message.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(dumps(message).decode())
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


class _Authenticating(Protocol):
    def verify_token(self, token: str) -> Caller | None:
        """The token's caller; None when authentication is off."""


class TransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Strawberry's graphql-transport-ws handler, authenticating at ``connection_init``.

    With authentication on, a socket whose upgrade carried no token has a caller without
    identity (reads nothing, and Strawberry refuses ``subscribe`` before the ack) until
    its ``connection_init`` payload brings one.
    """

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        view = cast(_Authenticating, self.view)
        needs_token = self.context.caller.subject is None and not self.context.caller.open
        if needs_token and isinstance(payload, dict) and not self.connection_init_received:
            try:
                caller = view.verify_token(payload_token(payload))
            except Unauthenticated as error:
                log.info("refused a WebSocket connection: %s", error)
                await self.websocket.close(code=4401, reason=close_reason(str(error)))
                return
            if caller is not None:
                self.context.caller = caller
        await super().handle_connection_init(message)
