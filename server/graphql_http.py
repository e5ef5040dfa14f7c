"""The GraphQL endpoint: Strawberry's ASGI view with our context, JSON and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from persistence import LibraryStore, StoreUnavailable
from resolvers import RequestContext
from resolvers.access import OPEN, Caller, Unauthenticated
from server._json import dumps
from server.auth import refusal
from server.cost import COST_LIMIT_EXCEEDED, Budget, request_budget
from server.graphiql import GRAPHIQL_CSP, graphiql_html
from server.http_errors import error_response
from server.negotiation import GRAPHQL_RESPONSE, response_media_type
from server.settings import Settings

_REQUEST_ERROR_CODES = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", COST_LIMIT_EXCEEDED}
)
_SERVICE_UNAVAILABLE = StoreUnavailable.code
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
        except Unauthenticated as error:
            response = refusal(error)
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
            caller=self._caller(request),
        )

    def _caller(self, request: Request) -> Caller:
        """Runs before the body is read: a refused request costs no parsing at all."""
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            # The IDE page is static; the operations it then sends carry their own token.
            # With no IDE (production), Strawberry answers the browser 404, token or not.
            return Caller()
        return self._authenticate(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            graphiql_html(
                "/graphiql-assets", bearer_required=self._settings.jwt_secret is not None
            ),
            headers={"Content-Security-Policy": GRAPHIQL_CSP},
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and content_type != "application/json":
            raise HTTPException(415, "POST a JSON body with Content-Type: application/json")
        return await super().parse_http_body(request)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if isinstance(parsed, list):
            _check_batch(parsed)
        elif not isinstance(parsed, dict):
            # Strawberry would call .get() on it: a 500.
            raise HTTPException(400, "the body must be a JSON object, or an array of them")
        return parsed

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        # One budget for the request: the operations of a batch share it (server.cost).
        token = request_budget.set(Budget(self._settings.max_cost))
        try:
            return await super().execute_operation(*args, **kwargs)
        finally:
            request_budget.reset(token)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as error:
            # A mutation over GET is a method the operation does not allow: 405, not 400.
            if isinstance(error.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, error.reason) from error
            raise

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        media_type = response_media_type(request.headers.get("accept", ""))
        sub_response.headers["content-type"] = f"{media_type}; charset=utf-8"
        request.state.sub_response = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        sub_response: Response = request.state.sub_response
        # A request error (parse, validation, variable coercion) means nothing was
        # executed: graphql-response+json says so with 400 and no "data". A timeout or
        # an internal error also has no data, but the request itself was fine.
        request_error = bool(result.errors) and all(
            e.path is None and (e.extensions or {}).get("code") in _REQUEST_ERROR_CODES
            for e in result.errors or ()
        )
        graphql_response = GRAPHQL_RESPONSE in sub_response.headers["content-type"]
        if request_error and graphql_response:
            sub_response.status_code = 400
            response.pop("data", None)
        elif graphql_response and _unavailable(result):
            # The store is down and nothing was answered: a 503 that clients and load
            # balancers retry (application/json keeps 200, as that format requires).
            sub_response.status_code = 503
            sub_response.headers["retry-after"] = "1"
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            headers=dict(sub_response.headers),
        )
        if sub_response.background:
            response.background = sub_response.background
        return response

    def encode_json(self, data: object) -> bytes:
        return dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson parses an ingest body (3.5 MB for 10,000 likes) in 60% of the stdlib's
        # time. Its errors subclass json.JSONDecodeError, so a bad body is still a 400;
        # it is stricter only where JSON is (NaN, Infinity, integers over 64 bits).
        return orjson.loads(data)


def _unavailable(result: ExecutionResult) -> bool:
    """Whether the store's outage left the operation without any data."""
    errors = result.errors or ()
    unavailable = any((e.extensions or {}).get("code") == _SERVICE_UNAVAILABLE for e in errors)
    data = result.data
    return unavailable and (data is None or all(v is None for v in data.values()))


_BATCH_ITEM_TYPES = {"query": str, "operationName": str, "variables": dict, "extensions": dict}


def _check_batch(operations: list[Any]) -> None:
    """What Strawberry checks of a single operation, for each of a batch (it checks none)."""
    if not operations:
        raise HTTPException(400, "a batch needs at least one operation")
    for operation in operations:
        if not isinstance(operation, dict):
            raise HTTPException(400, "each operation of a batch must be a JSON object")
        for key, kind in _BATCH_ITEM_TYPES.items():
            if operation.get(key) is not None and not isinstance(operation[key], kind):
                kind_name = "a string" if kind is str else "an object"
                raise HTTPException(400, f"each operation's `{key}` must be {kind_name} or null")
