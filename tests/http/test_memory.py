"""A large request's memory is handed back once it is answered (``server.memory``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from graphql.execution.executor import Executor

import server.memory
from persistence import LibrarySnapshot
from tests.factories import make_library
from tests.graphql_client import INGEST, data

THRESHOLD = 4096


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"release_memory_after_bytes": THRESHOLD}


@pytest.fixture
def releases(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    calls: list[None] = []
    real = server.memory.release_memory

    def counting() -> None:
        calls.append(None)
        real()

    monkeypatch.setattr(server.memory, "release_memory", counting)
    return calls


def _live_execution_contexts() -> int:
    return sum(isinstance(o, Executor) for o in gc.get_objects())


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """As in a server, where full collections are rare (``server._gc``)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _ingest(client: httpx.AsyncClient, user: str, likes: int) -> int:
    """Ingest a library of ``likes`` likes; the size of the request's body."""
    library = make_library(user, likes=likes)
    assert (await data(client, INGEST, {"input": library}))["ingest"]["documentsWritten"] > 0
    return len(orjson.dumps({"query": INGEST, "variables": {"input": library}}))


async def test_a_large_body_is_followed_by_one_release_and_a_small_one_by_none(
    app_client: httpx.AsyncClient, releases: list[None]
) -> None:
    small = await _ingest(app_client, "user:small", likes=1)
    assert small <= THRESHOLD
    assert releases == []
    large = await _ingest(app_client, "user:large", likes=200)
    assert large > THRESHOLD
    assert len(releases) == 1
    response = await app_client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert len(releases) == 1


@pytest.mark.usefixtures("no_automatic_collection")
async def test_the_coerced_input_of_a_large_ingest_does_not_outlive_its_response(
    app_client: httpx.AsyncClient,
) -> None:
    # graphql-core's execution context sits in a reference cycle and holds the coerced
    # variables: without a collection it, and the whole input, would stay resident.
    before = _live_execution_contexts()
    await _ingest(app_client, "user:large", likes=200)
    assert _live_execution_contexts() == before


@pytest.mark.parametrize("settings_overrides", [{"release_memory_after_bytes": 0}])
async def test_zero_turns_the_release_off(
    app_client: httpx.AsyncClient, releases: list[None]
) -> None:
    await _ingest(app_client, "user:large", likes=200)
    assert releases == []


def _live_snapshots() -> int:
    return sum(isinstance(o, LibrarySnapshot) for o in gc.get_objects())


async def test_no_library_outlives_its_ingest_in_the_timers_it_scheduled(
    app_client: httpx.AsyncClient,
) -> None:
    # asyncio copies the context into every timer it schedules, and a cancelled timer stays
    # in the loop's heap until its time comes (the store's and the execution's timeouts:
    # seconds to minutes). The coerced variables are kept in the request's context between
    # the cost limit and execution, so a copy taken then must not keep the library.
    gc.collect()
    before = _live_snapshots()
    for n in range(3):
        await _ingest(app_client, f"user:{n}", likes=200)
    gc.collect()
    assert _live_snapshots() == before
