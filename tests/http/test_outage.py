"""The store goes away while the service runs: clean errors, ``/readyz`` says so, and the
service recovers by itself when the store comes back.

Each test runs its own nx-27017 server on a fixed port in a temporary directory, so that it
can stop it and start it again on the same port with the same data, as a restarted mongod
would come back; the session's shared wire server is left alone.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from persistence import LibraryStore
from persistence.client import Driver, close, connect
from persistence.store import StoreOptions
from server.app import create_app
from server.embedded import EmbeddedMongo
from server.settings import Settings
from tests.factories import make_library
from tests.faults import Clock, FaultyDatabase, Pause
from tests.graphql_client import INGEST, SYNC, post

USER = "user:alice"
LIKED = f'{{ liked(userId: "{USER}") {{ trackIds }} }}'
STORE_TIMEOUT_MS = 1000
# Server selection gives up after STORE_TIMEOUT_MS; the rest is slack for a loaded machine.
PROMPT_SECONDS = 3 * STORE_TIMEOUT_MS / 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    server: EmbeddedMongo
    app: Starlette
    client: httpx.AsyncClient


@pytest.fixture(params=["motor", "pymongo"])
def driver(request: pytest.FixtureRequest) -> Driver:
    value: Driver = request.param
    return value


@pytest.fixture
async def service(tmp_path: Path, driver: Driver) -> AsyncIterator[Service]:
    server = EmbeddedMongo(tmp_path / "nx-27017", port=_free_port())
    uri = await server.start()
    settings = Settings(
        mongodb_uri=uri, db="outage", driver=driver, store_timeout_ms=STORE_TIMEOUT_MS
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Service(server, app, client)
    finally:
        await server.stop()


async def _timed(client: httpx.AsyncClient, query: str, variables: Any = None) -> tuple[Any, float]:
    started = time.perf_counter()
    body = await post(client, query, variables)
    return body, time.perf_counter() - started


def _unavailable(body: dict[str, Any]) -> str:
    """Asserts a retryable SERVICE_UNAVAILABLE (never INTERNAL, no driver message) and
    returns its request id."""
    (error,) = body["errors"]
    request_id: str = error["extensions"]["requestId"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
    assert error["message"] == (
        "the library store is unavailable at the moment; nothing was changed, "
        "retry in a few seconds"
    )
    return request_id


async def test_the_store_stopped_between_requests(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    client = service.client
    library = make_library(USER, likes=3)
    assert "errors" not in await post(client, INGEST, {"input": library})
    before = await post(client, LIKED)
    assert (await client.get("/readyz")).status_code == 200

    await service.server.stop()

    # A read, a sync and a readiness probe at once, while the store is down.
    (read, read_took), (sync, sync_took), ready = await asyncio.gather(
        _timed(client, LIKED),
        _timed(client, SYNC, {"input": make_library(USER, likes=1)}),
        client.get("/readyz"),
    )
    request_id = _unavailable(read)
    _unavailable(sync)
    assert max(read_took, sync_took) < PROMPT_SECONDS
    assert any(getattr(r, "requestId", None) == request_id for r in caplog.records)
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "store": "unreachable"}
    assert (await client.get("/healthz")).status_code == 200  # the process itself is fine
    # graphql-response+json answers an outage with 503, which clients and proxies retry;
    # application/json must keep 200 (GraphQL over HTTP).
    response = await client.post(
        "/graphql", json={"query": LIKED}, headers={"accept": "application/graphql-response+json"}
    )
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    # A non-2xx answer carries no "data" entry (GraphQL over HTTP), though `liked` is nullable.
    assert "data" not in response.json()
    _unavailable(response.json())
    response = await client.post(
        "/graphql", json={"query": LIKED}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    _unavailable(response.json())

    await service.server.start()  # the same port and data directory

    assert (await client.get("/readyz")).status_code == 200
    assert await post(client, LIKED) == before
    # The sync refused while the store was down took no lease: the next one runs at once.
    body = await post(client, SYNC, {"input": make_library(USER, likes=2)})
    assert "errors" not in body, body
    assert await post(client, LIKED) == {"data": {"liked": {"trackIds": ["track:1", "track:0"]}}}


async def test_the_store_stopped_in_the_middle_of_a_sync(service: Service, driver: Driver) -> None:
    """The sync fails with a clean error; it could not release its lease while the store was
    down, so the user's next sync is refused with ``CONFLICT`` until the lease expires."""
    client = service.client
    assert "errors" not in await post(client, INGEST, {"input": make_library(USER, likes=3)})
    before = await post(client, LIKED)

    # The app's store, but through a proxy that holds the sync just before its first insert.
    own = connect(service.server.uri, driver, timeout_ms=STORE_TIMEOUT_MS)
    try:
        pause = Pause("insert_many")
        clock = Clock()
        options = StoreOptions(lease_seconds=30)
        service.app.state.store = LibraryStore(
            FaultyDatabase(own["outage"], pause),
            options,
            clock=clock,
            dialect=service.app.state.store.dialect,
        )
        sync = asyncio.create_task(post(client, SYNC, {"input": make_library(USER, likes=5)}))
        await asyncio.wait_for(pause.reached.wait(), timeout=10)
        await service.server.stop()
        pause.resume.set()
        _unavailable(await asyncio.wait_for(sync, timeout=10 * PROMPT_SECONDS))

        await service.server.start()

        assert (await client.get("/readyz")).status_code == 200
        assert await post(client, LIKED) == before
        refused = await post(client, SYNC, {"input": make_library(USER, likes=2)})
        (error,) = refused["errors"]
        assert error["extensions"] == {"code": "CONFLICT"}
        clock.now += timedelta(seconds=31)
        body = await post(client, SYNC, {"input": make_library(USER, likes=2)})
        assert "errors" not in body, body
        assert await post(client, LIKED) == {
            "data": {"liked": {"trackIds": ["track:1", "track:0"]}}
        }
    finally:
        await close(own)
