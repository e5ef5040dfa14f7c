"""``/metrics``: what each request, operation, sync and store failure adds, in Prometheus text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import AutoReconnect
from starlette.applications import Starlette

from persistence import LibraryView
from server.app import create_app
from server.metrics import Metrics, MetricsConfigError
from server.settings import Settings
from tests.factories import make_library
from tests.graphql_client import INGEST, SYNC, data, post
from tests.serve_process import serve

LIKED = "query Liked($userId: ID!) { liked(userId: $userId) { trackIds } }"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """The sample's value; 0 when the series does not exist (yet)."""
    return samples.get((metric, frozenset(labels.items())), 0.0)


@pytest.fixture
async def app(wire_uri: str, db_name: str) -> AsyncIterator[Starlette]:
    app = create_app(Settings(mongodb_uri=wire_uri, db=db_name))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_operations_are_counted_by_type_name_and_outcome(
    client: httpx.AsyncClient,
) -> None:
    await data(client, LIKED, {"userId": "user:a"})
    await data(client, LIKED, {"userId": "user:b"})
    await post(client, "query Broken { liked(userId: 1) { nope } }")
    await post(client, "{ liked(userId: ")  # does not parse: no type, no name

    samples = await scrape(client)
    ops = "librarycache_graphql_operations_total"
    assert value(samples, ops, type="query", name="Liked", outcome="ok") == 2
    broken = {"type": "query", "name": "Broken", "outcome": "GRAPHQL_VALIDATION_FAILED"}
    assert value(samples, ops, **broken) == 1
    unparsed = {"type": "unknown", "name": "unknown", "outcome": "GRAPHQL_PARSE_FAILED"}
    assert value(samples, ops, **unparsed) == 1
    latency = "librarycache_graphql_operation_duration_seconds_count"
    assert value(samples, latency, type="query", name="Liked") == 2


async def test_http_requests_latency_and_in_flight(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/path")
    await data(client, LIKED, {"userId": "user:a"})

    samples = await scrape(client)
    requests = "librarycache_http_requests_total"
    assert value(samples, requests, method="GET", route="/healthz", status="200") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, requests, method="POST", route="/graphql", status="200") == 1
    duration = "librarycache_http_request_duration_seconds_count"
    assert value(samples, duration, method="POST", route="/graphql") == 1
    # The scrape itself is the one request in flight.
    assert value(samples, "librarycache_http_requests_in_flight", route="/metrics") == 1
    assert value(samples, "librarycache_http_requests_in_flight", route="/graphql") == 0
    assert value(samples, "process_resident_memory_bytes") > 0


async def test_syncs_report_duration_documents_and_outcome(client: httpx.AsyncClient) -> None:
    library = make_library("user:a", likes=5)
    ingest = (await data(client, INGEST, {"input": library}))["ingest"]
    await post(client, INGEST, {"input": library})  # ALREADY_INGESTED
    changed = make_library("user:a", likes=7)
    await data(client, SYNC, {"input": changed})

    samples = await scrape(client)
    syncs = "librarycache_syncs_total"
    assert value(samples, syncs, kind="ingest", outcome="ok") == 1
    assert value(samples, syncs, kind="ingest", outcome="ALREADY_INGESTED") == 1
    assert value(samples, syncs, kind="sync", outcome="ok") == 1
    written = "librarycache_sync_documents_written_total"
    assert value(samples, written, kind="ingest") == ingest["documentsWritten"]
    assert value(samples, written, kind="sync") > 0
    assert value(samples, "librarycache_sync_duration_seconds_count", kind="ingest") == 1
    assert value(samples, "librarycache_sync_duration_seconds_count", kind="sync") == 1
    mutations = "librarycache_graphql_operations_total"
    assert value(samples, mutations, type="mutation", name="Ingest", outcome="ok") == 1
    rejected = {"type": "mutation", "name": "Ingest", "outcome": "ALREADY_INGESTED"}
    assert value(samples, mutations, **rejected) == 1


async def test_store_failures_are_counted_by_exception(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("injected: the store went away")

    monkeypatch.setattr(LibraryView, "liked_track_ids", failing)  # LIKED asks ids only
    monkeypatch.setattr(app.state.store, "_replace", failing)

    body = await post(client, LIKED, {"userId": "user:a"})
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    await post(client, SYNC, {"input": make_library("user:a")})

    samples = await scrape(client)
    assert value(samples, "librarycache_store_errors_total", error="AutoReconnect") == 2
    unavailable = {"kind": "sync", "outcome": "SERVICE_UNAVAILABLE"}
    assert value(samples, "librarycache_syncs_total", **unavailable) == 1
    failed = {"type": "query", "name": "Liked", "outcome": "SERVICE_UNAVAILABLE"}
    assert value(samples, "librarycache_graphql_operations_total", **failed) == 1


async def test_each_app_counts_alone(wire_uri: str, db_name: str) -> None:
    for _ in range(2):
        app = create_app(Settings(mongodb_uri=wire_uri, db=db_name))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            await c.get("/healthz")
            samples = await scrape(c)
        requests = "librarycache_http_requests_total"
        assert value(samples, requests, method="GET", route="/healthz", status="200") == 1


async def test_metrics_can_be_turned_off(wire_uri: str, db_name: str) -> None:
    app = create_app(Settings(mongodb_uri=wire_uri, db=db_name, metrics=False))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        assert (await c.get("/metrics")).status_code == 404


def test_client_chosen_operation_names_are_bounded() -> None:
    metrics = Metrics()
    assert metrics.operation_label(None) == "anonymous"
    assert metrics.operation_label("not a GraphQL name") == "other"
    labels = {metrics.operation_label(f"Op{i}") for i in range(1000)}
    assert len(labels) == 201  # 200 names, then "other"
    assert "other" in labels
    assert metrics.operation_label("Op0") == "Op0"  # names seen before keep their series


def test_a_metrics_dir_without_multiprocess_mode_is_refused(tmp_path: Path) -> None:
    # This process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR: values would
    # stay in memory, and /metrics would read an empty folder.
    with pytest.raises(MetricsConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(multiprocess_dir=tmp_path)


@pytest.mark.e2e
async def test_workers_are_summed_in_one_scrape(tmp_path: Path) -> None:
    """``serve --workers 2``: each request lands on either worker, the scrape counts all."""
    with serve(tmp_path / "data", "--workers", "2") as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            for _ in range(20):
                await data(c, LIKED, {"userId": "user:a"})
            scrapes = [parse((await c.get("/metrics")).text) for _ in range(4)]
    liked = {"type": "query", "name": "Liked", "outcome": "ok"}
    counts = [value(s, "librarycache_graphql_operations_total", **liked) for s in scrapes]
    assert counts == [20, 20, 20, 20]
