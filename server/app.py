"""The ASGI application factory. ``uvicorn --factory server.app:create_app_from_env``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from persistence import LibraryStore, detect_dialect
from persistence.client import close, connect
from persistence.feed import LibraryFeed
from resolvers import build_schema
from resolvers.schema import SchemaOptions
from server._gc import tune_for_serving
from server.auth import JwtAuthenticator
from server.body_limit import BodyLimitMiddleware
from server.cors import cors_middleware
from server.embedded import EmbeddedMongo, Supervisor
from server.graphiql import GRAPHIQL_ASSETS_DIR
from server.graphql_http import LibraryGraphQL
from server.health import healthz, readyz
from server.http_errors import http_exception_handler
from server.limits import limit_extensions
from server.logging import AccessLogMiddleware
from server.memory import ReleaseMemoryMiddleware
from server.metrics import GraphQLMetrics, HttpMetricsMiddleware, Metrics, SyncMetrics
from server.overload import ConcurrencyLimitMiddleware
from server.request_id import RequestIdMiddleware
from server.settings import Settings
from server.shutdown import InFlight, InFlightMiddleware

log = logging.getLogger("librarycache")

_SETTLE_SECONDS = 10.0
"""How long shutdown waits for cancelled requests to unwind before closing the store."""


def create_app(settings: Settings) -> Starlette:
    """Build the app; nothing connects until the lifespan starts."""
    metrics = Metrics(multiprocess_dir=settings.metrics_dir)
    in_flight = InFlight()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(metrics.worker_exited)
            uri = settings.mongodb_uri
            if uri is None:
                embedded = EmbeddedMongo(settings.data_dir)
                uri = await embedded.start()
                stack.push_async_callback(embedded.stop)
                log.info("embedded store started", extra={"dataDir": str(settings.data_dir)})
                # If it dies it is restarted; if it cannot be, /healthz says so.
                supervisor = Supervisor(embedded, partial(setattr, app.state, "unrecoverable"))
                watching = asyncio.create_task(supervisor.run())
                stack.callback(watching.cancel)
                stack.callback(supervisor.stop)
            client = connect(uri, settings.driver, timeout_ms=settings.store_timeout_ms)
            stack.push_async_callback(close, client)
            stack.push_async_callback(in_flight.settled, _SETTLE_SECONDS)  # before close
            db = client[settings.db]
            store = LibraryStore(
                db,
                settings.store_options,
                # Chosen once: nothing downstream asks which server it got.
                dialect=await detect_dialect(db),
                observer=SyncMetrics(metrics),
            )
            await store.ensure_indexes()
            app.state.store = store
            # Stopped before the client closes: subscriptions end, then the store goes.
            feed = LibraryFeed(
                client[settings.db], mode=settings.feed, poll_seconds=settings.feed_poll_seconds
            )
            stack.push_async_callback(feed.stop)
            app.state.feed = feed
            _log_auth(settings)
            yield

    schema = build_schema(
        SchemaOptions(
            field_suggestions=not settings.production,
            extensions=(partial(GraphQLMetrics, metrics), *limit_extensions(settings)),
            max_batch=settings.max_batch,
        )
    )
    authenticator = JwtAuthenticator.from_settings(settings)
    graphql = LibraryGraphQL(schema, settings, authenticator=authenticator)
    routes: list[BaseRoute] = [
        Route("/", _to_graphql),  # a newcomer's first URL: the IDE, or the endpoint
        # Every method reaches the endpoint, which answers the others with a JSON 405.
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if settings.graphiql_enabled:
        routes.append(Mount("/graphiql-assets", StaticFiles(directory=GRAPHIQL_ASSETS_DIR)))
    if settings.metrics:
        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
    middleware = [
        *cors_middleware(settings),  # outermost, so that every answer carries its headers
        # Outside the access log and metrics: its clean-up is not the request's latency.
        Middleware(ReleaseMemoryMiddleware, threshold=settings.release_memory_after_bytes),
        Middleware(RequestIdMiddleware),
        Middleware(AccessLogMiddleware),
        Middleware(HttpMetricsMiddleware, metrics=metrics, routes=routes),
        # Inside the access log and metrics, which then log and count its refusals.
        Middleware(ConcurrencyLimitMiddleware, limit=settings.max_in_flight),
        Middleware(InFlightMiddleware, in_flight=in_flight),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            read_seconds=settings.body_timeout_seconds,
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler},
    )


def create_app_from_env() -> Starlette:
    """The server processes' factory (``librarycache serve``, ``uvicorn --factory``)."""
    app = create_app(Settings.from_env())
    tune_for_serving()
    return app


async def _to_graphql(request: Request) -> Response:
    return RedirectResponse("/graphql", status_code=307)


def _log_auth(settings: Settings) -> None:
    if settings.jwt_secret is None:
        log.warning(
            "authentication is off (LIBRARYCACHE_JWT_SECRET is not set): "
            "anyone who can reach this server may read and overwrite every library"
        )
        return
    log.info(
        "authentication is on: HS256 bearer tokens required",
        extra={"audience": settings.jwt_audience, "issuer": settings.jwt_issuer},
    )
