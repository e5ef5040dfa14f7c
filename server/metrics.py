"""Prometheus metrics, served at ``/metrics``.

Each app has its own :class:`Metrics` (its own registry), so building several apps in one
process, as tests do, counts nothing twice. Three sources feed it:

* :class:`HttpMetricsMiddleware`: requests, latency and requests in flight per route;
* :class:`GraphQLMetrics`, a schema extension: operations and their latency per operation
  type and name, and store failures behind the errors they caused;
* :class:`SyncMetrics`, the store's injected observer: the ``SyncReport`` of every ingest
  and sync (duration, documents written) and how each ended.

With several uvicorn workers each worker is its own process, so counts are only whole when
added up across them: ``librarycache serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh folder that every worker writes to, and ``/metrics`` adds up all of their files.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    multiprocess,
    platform_collector,
    process_collector,
    values,
)
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from persistence import SyncKind, SyncReport
from persistence.errors import LibraryCacheError, StoreUnavailable
from server.logging import note_operation

_MAX_OPERATION_NAMES: Final = 200
"""Operation names are chosen by clients; past this many distinct ones, new ones count as
``other`` so that a misbehaving client cannot grow the series without bound."""
_GRAPHQL_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_UNMATCHED: Final = "unmatched"

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SYNC_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The service's metrics, registered in a registry of their own.

    ``multiprocess_dir``: the folder set as ``PROMETHEUS_MULTIPROC_DIR`` in every worker,
    which prometheus_client then writes values to; ``render`` reads all workers' files.
    """

    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        if multiprocess_dir is not None:
            _check_multiprocess_mode(multiprocess_dir)
        self.multiprocess_dir = multiprocess_dir
        registry = self.registry = CollectorRegistry()
        if multiprocess_dir is None:  # these read this process only; wrong summed per worker
            process_collector.ProcessCollector(registry=registry)
            platform_collector.PlatformCollector(registry=registry)
            gc_collector.GCCollector(registry=registry)

        self.http_requests = Counter(
            "librarycache_http_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "librarycache_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "librarycache_http_requests_in_flight",
            "Requests being handled now.",
            ["route"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.operations = Counter(
            "librarycache_graphql_operations",
            "GraphQL operations executed, by type, name and outcome (ok or the error code).",
            ["type", "name", "outcome"],
            registry=registry,
        )
        self.operation_duration = Histogram(
            "librarycache_graphql_operation_duration_seconds",
            "Time to parse, validate and execute one GraphQL operation.",
            ["type", "name"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.syncs = Counter(
            "librarycache_syncs",
            "Ingests and syncs, by kind and outcome (ok or the error code).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.sync_duration = Histogram(
            "librarycache_sync_duration_seconds",
            "Duration of committed ingests and syncs, from their SyncReport.",
            ["kind"],
            buckets=_SYNC_BUCKETS,
            registry=registry,
        )
        self.sync_documents = Counter(
            "librarycache_sync_documents_written",
            "Documents inserted, upserted or retired by committed ingests and syncs.",
            ["kind"],
            registry=registry,
        )
        self.store_errors = Counter(
            "librarycache_store_errors",
            "Store (MongoDB) failures behind GraphQL errors, by exception class.",
            ["error"],
            registry=registry,
        )
        self._operation_names: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        if name is None:
            return "anonymous"
        if name in self._operation_names:
            return name
        if not _GRAPHQL_NAME.fullmatch(name) or len(self._operation_names) >= _MAX_OPERATION_NAMES:
            return "other"
        self._operation_names.add(name)
        return name

    def render(self) -> bytes:
        """The exposition text of every metric (of every worker, in multiprocess mode)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        # prometheus_client leaves its multiprocess helpers untyped.
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            merged, path=str(self.multiprocess_dir)
        )
        return generate_latest(merged)

    def worker_exited(self) -> None:
        """Drop this worker's in-flight gauge from the sums; its counters keep counting."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call] # untyped upstream
                os.getpid(), str(self.multiprocess_dir)
            )

    async def endpoint(self, request: Request) -> Response:
        return Response(self.render(), media_type=CONTENT_TYPE_LATEST)


class MetricsConfigError(RuntimeError):
    """Metrics would be silently lost: the process is not set up as the settings say."""


def _check_multiprocess_mode(folder: Path) -> None:
    # prometheus_client picks where values live once, when imported, from this variable.
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if values.ValueClass is values.MutexValue or given is None or Path(given) != folder:
        raise MetricsConfigError(
            f"LIBRARYCACHE_METRICS_DIR is {folder}, so PROMETHEUS_MULTIPROC_DIR must name the "
            f"same folder before the process starts (it is {given!r}); `librarycache serve` "
            "sets both"
        )


class HttpMetricsMiddleware:
    """Counts requests per route (the route's pattern, never the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                path: str = getattr(route, "path", _UNMATCHED)
                return path
        return _UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, method = self._route(scope), scope["method"]
        status = 500  # unless a response starts: an exception or a cancellation
        started = time.perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.metrics.http_in_flight.labels(route)
        in_flight.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            in_flight.dec()
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_duration.labels(method, route).observe(time.perf_counter() - started)


class GraphQLMetrics(SchemaExtension):
    """Per operation: a count by outcome and the latency; store failures behind its errors.

    Place it before ``ErrorCodes`` (``SchemaOptions.extensions`` are): its ``on_operation``
    then ends after the error boundary's and sees the final codes, while its ``on_execute``
    ends before the boundary rewrites errors and still sees the exceptions behind them.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except GraphQLError as error:  # raised by a hook, such as the execution timeout
            self._record(started, _code(error))
            raise
        except BaseException:
            self._record(started, "CANCELLED")
            raise
        context = self.execution_context
        result = context.result
        errors = (result.errors if result is not None else None) or context.pre_execution_errors
        self._record(started, _code(errors[0]) if errors else "ok")

    def _record(self, started: float, outcome: str) -> None:
        context = self.execution_context
        try:
            kind = context.operation_type.value
            name = self.metrics.operation_label(context.operation_name)
        except RuntimeError:  # no document (a parse error) or no such operation in it
            kind = name = "unknown"
        self.metrics.operations.labels(kind, name, outcome).inc()
        self.metrics.operation_duration.labels(kind, name).observe(time.perf_counter() - started)
        note_operation(f"{kind} {name}")

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in (result.errors if result is not None else None) or ():
            original: BaseException | None = error.original_error
            if isinstance(original, StoreUnavailable):  # counted by the outage behind it
                original = original.__cause__
            if isinstance(original, PyMongoError):
                self.metrics.store_errors.labels(type(original).__name__).inc()


def _code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else "ERROR"


class SyncMetrics:
    """The store's ``SyncObserver``: counts every ingest and sync and how each ended."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def sync_committed(self, report: SyncReport) -> None:
        label = report.kind.value.lower()
        self._metrics.syncs.labels(label, "ok").inc()
        self._metrics.sync_duration.labels(label).observe(report.duration_ms / 1000)
        self._metrics.sync_documents.labels(label).inc(report.documents_written)

    def sync_failed(self, user_id: str, kind: SyncKind, error: BaseException) -> None:
        label = kind.value.lower()
        if isinstance(error, LibraryCacheError):
            self._metrics.syncs.labels(label, error.code).inc()
        elif isinstance(error, PyMongoError):
            self._metrics.syncs.labels(label, "STORE_ERROR").inc()
