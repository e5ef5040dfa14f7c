"""The GraphQL endpoint: Strawberry's ASGI view with our context, JSON and errors."""

from __future__ import annotations

from collections.abc import Callable

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema import BaseSchema

from persistence import LibraryStore
from resolvers import RequestContext
from resolvers.access import OPEN, Caller
from server._json import dumps
from server.graphiql import GRAPHIQL_CSP, graphiql_html
from server.http_errors import error_response
from server.settings import Settings

Authenticate = Callable[[Request], Caller]


class LibraryGraphQL(GraphQL[RequestContext, None]):
    def __init__(
        self,
        schema: BaseSchema,
        settings: Settings,
        *,
        authenticate: Authenticate | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
        )
        self._settings = settings
        self._authenticate = authenticate or (lambda _request: OPEN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # There are no subscriptions: refuse WebSocket handshakes outright.
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            response = await self.run(Request(scope, receive=receive))
        except HTTPException as error:
            headers = {"Allow": "GET, POST"} if error.status_code == 405 else None
            response = error_response(error.status_code, error.reason, headers=headers)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        store: LibraryStore = request.app.state.store
        assert isinstance(request, Request)
        return RequestContext(
            store=store,
            limits=self._settings.limits,
            max_page_size=self._settings.max_page_size,
            request_id=request.state.request_id,
            caller=self._authenticate(request),
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            graphiql_html("/graphiql-assets"), headers={"Content-Security-Policy": GRAPHIQL_CSP}
        )

    def encode_json(self, data: object) -> bytes:
        return dumps(data)
