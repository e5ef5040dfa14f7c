"""The ASGI application factory. ``uvicorn --factory server.app:create_app_from_env``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from persistence import LibraryStore
from persistence.client import close, connect
from resolvers import build_schema
from resolvers.schema import SchemaOptions
from server.body_limit import BodyLimitMiddleware
from server.embedded import EmbeddedMongo
from server.graphiql import GRAPHIQL_ASSETS_DIR
from server.graphql_http import LibraryGraphQL
from server.health import healthz, readyz
from server.request_id import RequestIdMiddleware
from server.settings import Settings

log = logging.getLogger("librarycache")


def create_app(settings: Settings) -> Starlette:
    """Build the app; nothing connects until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            uri = settings.mongodb_uri
            if uri is None:
                embedded = EmbeddedMongo(settings.data_dir)
                uri = await embedded.start()
                stack.push_async_callback(embedded.stop)
                log.info("embedded store started", extra={"dataDir": str(settings.data_dir)})
            client = connect(uri, settings.driver, timeout_ms=settings.store_timeout_ms)
            stack.push_async_callback(close, client)
            store = LibraryStore(client[settings.db], settings.store_options)
            await store.ensure_indexes()
            app.state.store = store
            yield

    schema = build_schema(SchemaOptions(field_suggestions=not settings.production))
    graphql = LibraryGraphQL(schema, settings)
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if settings.graphiql_enabled:
        routes.append(Mount("/graphiql-assets", StaticFiles(directory=GRAPHIQL_ASSETS_DIR)))
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
            )
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    return create_app(Settings.from_env())
