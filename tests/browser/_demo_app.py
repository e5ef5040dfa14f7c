"""A tiny Starlette app serving the vendored GraphiQL page the way LibraryCache's app should.

Used by test_harness_demo.py to check the browser harness and the GraphiQL bundle without the
real app: ``python -m uvicorn --app-dir tests/browser _demo_app:app`` from the repo root.
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.types import Info

from server.graphiql import GRAPHIQL_ASSETS_DIR, GRAPHIQL_CSP, graphiql_html

ASSETS_PATH = "/graphiql-assets"


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def authorization(self, info: Info) -> str | None:
        """The Authorization header the request carried, to check GraphiQL sends it."""
        value: str | None = info.context["request"].headers.get("authorization")
        return value


schema = strawberry.Schema(query=Query)
graphql_app: GraphQL[object, None] = GraphQL(schema, graphql_ide=None)

# For the harness's own test: the same page plus an image from another port of this machine
# (the harness aborts that request, so nothing is sent; port 9 is "discard" anyway).
LEAK_URL = "http://127.0.0.1:9/leak.png"
LEAKY_PAGE = graphiql_html(ASSETS_PATH).replace(
    "</body>", f'  <img src="{LEAK_URL}" alt="">\n  </body>'
)


class GraphQLEndpoint:
    """GraphiQL for a browser's GET, the GraphQL API for everything else.

    A class rather than a function, so that Starlette's Route treats it as a raw ASGI app.
    """

    def __init__(self, *, leak: bool = False, csp: bool = True) -> None:
        self.page = LEAKY_PAGE if leak else graphiql_html(ASSETS_PATH)
        self.headers = {"Content-Security-Policy": GRAPHIQL_CSP} if csp else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        accept = headers.get(b"accept", b"").decode("latin-1")
        if scope["type"] == "http" and scope["method"] == "GET" and "text/html" in accept:
            response = HTMLResponse(self.page, headers=self.headers)
            await response(scope, receive, send)
            return
        await graphql_app(scope, receive, send)


app = Starlette(
    routes=[
        Route("/graphql", GraphQLEndpoint(), methods=["GET", "POST"]),
        Route("/leaky/graphql", GraphQLEndpoint(leak=True, csp=False), methods=["GET", "POST"]),
        Route("/leaky-csp/graphql", GraphQLEndpoint(leak=True), methods=["GET", "POST"]),
        Mount(ASSETS_PATH, app=StaticFiles(directory=GRAPHIQL_ASSETS_DIR), name="graphiql"),
    ]
)
