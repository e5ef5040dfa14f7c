"""The GraphQL endpoint: Strawberry's ASGI view with our context, JSON and errors.

HTTP for queries and mutations; WebSocket (graphql-transport-ws) for subscriptions, with
the handshake rules of ``server.graphql_ws``.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from persistence import LibraryStore, StoreUnavailable
from resolvers import RequestContext
from resolvers.access import OPEN, Caller, Unauthenticated
from server._json import dumps
from server.auth import JwtAuthenticator, bearer_token, challenge, refusal
from server.cost import COST_LIMIT_EXCEEDED, Budget, request_budget
from server.graphiql import GRAPHIQL_CSP, graphiql_html
from server.graphql_ws import SUBPROTOCOL, Refused, TextFrames, TransportWSHandler, refuse
from server.http_errors import error_response
from server.negotiation import GRAPHQL_RESPONSE, response_media_type
from server.settings import Settings

_REQUEST_ERROR_CODES = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", COST_LIMIT_EXCEEDED}
)
_SERVICE_UNAVAILABLE = StoreUnavailable.code
_HTTP_OPERATIONS = {
    "GET": {OperationType.QUERY},
    "POST": {OperationType.QUERY, OperationType.MUTATION},
}
_INIT_WAIT = timedelta(seconds=10)
"""How long an accepted socket may take to send ``connection_init`` (then 4408)."""


class LibraryGraphQL(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = TextFrames

    def __init__(
        self,
        schema: BaseSchema,
        settings: Settings,
        *,
        authenticator: JwtAuthenticator | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            subscription_protocols=(SUBPROTOCOL,),
            connection_init_wait_timeout=_INIT_WAIT,
            # The origins trusted for cross-origin HTTP reads; same-origin pages and
            # clients that send no Origin (not browsers) are always let in.
            allowed_origins=settings.cors_origins,
        )
        self._settings = settings
        self._authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with contextlib.suppress(Refused):  # a refused handshake is answered already
                await self.run(WebSocket(scope, receive=receive, send=send))
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
        if isinstance(request, WebSocket):
            caller: Caller = request.state.caller
            # One id for the connection's lifetime, for its log lines and errors.
            request_id = secrets.token_hex(8)
        else:
            caller = self._caller(request)
            request_id = request.state.request_id
        return RequestContext(
            store=store,
            limits=self._settings.limits,
            max_page_size=self._settings.max_page_size,
            request_id=request_id,
            caller=caller,
            feed=request.app.state.feed,
        )

    def _caller(self, request: Request) -> Caller:
        """Runs before the body is read: a refused request costs no parsing at all."""
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            # The IDE page is static; the operations it then sends carry their own token.
            # With no IDE (production), Strawberry answers the browser 404, token or not.
            return Caller()
        if self._authenticator is None:
            return OPEN
        return self._authenticator(request)

    def verify_token(self, token: str) -> Caller | None:
        """A ``connection_init`` token's caller (``server.graphql_ws``); None: auth is off."""
        return None if self._authenticator is None else self._authenticator.verify(token)

    async def create_websocket_response(
        self, request: WebSocket, subprotocol: str | None
    ) -> WebSocket:
        """Accept the handshake only if the protocol and a token in the upgrade are good.

        Strawberry has checked the ``Origin`` already (``reject_websocket``).
        """
        if subprotocol is None:
            await refuse(
                request,
                400,
                f"GraphQL over WebSocket here speaks the {SUBPROTOCOL!r} subprotocol only "
                f"(Sec-WebSocket-Protocol: {SUBPROTOCOL})",
                "UNSUPPORTED_WEBSOCKET_PROTOCOL",
            )
            raise Refused
        request.state.caller = OPEN if self._authenticator is None else Caller()
        if self._authenticator is not None and "authorization" in request.headers:
            try:
                request.state.caller = self._authenticator.verify(bearer_token(request))
            except Unauthenticated as error:
                headers = {"WWW-Authenticate": challenge(error)}
                await refuse(request, 401, str(error), error.code, headers=headers)
                raise Refused from None
        return await super().create_websocket_response(request, subprotocol)

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        await refuse(
            request,
            403,
            f"pages from {request.headers.get('origin')!r} may not open this WebSocket: "
            "the server allows cross-origin pages only from LIBRARYCACHE_CORS_ORIGINS",
            "FORBIDDEN_ORIGIN",
        )
        raise Refused

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

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, except that subscriptions are left to the WebSocket.

        Strawberry would run one over plain HTTP as a query, and fail inside.
        """
        allowed = _HTTP_OPERATIONS[request_adapter.method]
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(
                    400,
                    f"subscriptions are served over WebSocket at /graphql ({SUBPROTOCOL})",
                ) from error
            # A mutation over GET is a method the operation does not allow: 405, not 400.
            raise HTTPException(405, error.as_http_error_reason(request_adapter.method)) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error

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
            # GraphQL over HTTP allows a non-2xx status only for a response without a
            # "data" entry; with nullable root fields it would be all nulls, so it goes.
            sub_response.status_code = 503
            sub_response.headers["retry-after"] = "1"
            response.pop("data", None)
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
