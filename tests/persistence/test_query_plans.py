"""Every query the store sends is served by an index: checked on query plans, MongoDB only.

A query plan means something only on MongoDB: mongomock has none, and nx-27017 plans
SQLite queries (its explain shows SQLite's plan, and it uses the store's compound indexes
only in some cases, see docs/nx-27017-probes.md and docs/performance.md). So these tests
run on the ``mongodb`` backend alone, skipped with a reason when
``LIBRARYCACHE_TEST_MONGODB_URI`` is unset.

Rather than restating the store's filters here, the tests record the commands the store
really sends (a driver command listener) while it ingests, syncs, reads and collects
garbage, and ask MongoDB to explain each one. Only ``db.command("explain", ...)`` is used,
which Motor and PyMongo's ``AsyncMongoClient`` share.
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from persistence import LibraryStore
from tests.backends import BACKENDS, TEST_MONGODB_URI
from tests.factories import make_library, snapshot

MONGODB = [p for p in BACKENDS if getattr(p, "values", None) == ("mongodb",)]
pytestmark = pytest.mark.parametrize("backend", MONGODB, indirect=True)

USER = "user:plans"
PER_USER = ("likes", "plays", "playlists")
INDEXED = {
    "IXSCAN",
    "IDHACK",
    "EXPRESS_IXSCAN",
    "EXPRESS_CLUSTERED_IXSCAN",
    "EXPRESS_UPDATE",
    "EXPRESS_DELETE",
    "CLUSTERED_IXSCAN",
}
"""Stages that read through an index (the EXPRESS ones: MongoDB 8's point lookups)."""
_DRIVER_FIELDS = {"lsid", "$db", "$clusterTime", "$readPreference", "txnNumber", "$audit"}


@dataclass
class Recorder(monitoring.CommandListener):
    """Keeps a copy of every command the store sends that explain can plan."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    kinds: tuple[str, ...] = ("find", "update", "delete", "findAndModify")

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in self.kinds:
            command = {k: v for k, v in event.command.items() if k not in _DRIVER_FIELDS}
            self.commands.append(copy.deepcopy(command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass(frozen=True)
class Planned:
    command: dict[str, Any]
    """One statement, as explained."""
    stages: list[str]
    indexes: list[str]

    @property
    def collection(self) -> str:
        name: str = next(iter(self.command.values()))
        return name

    def __str__(self) -> str:
        return f"{self.command} -> stages {self.stages}, indexes {self.indexes}"


def _statements(command: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Explain takes one statement: split update and delete batches (a few of each)."""
    name = next(iter(command))
    if name in ("update", "delete"):
        key = "updates" if name == "update" else "deletes"
        seen: set[str] = set()
        for statement in command[key]:
            shape = repr(sorted(statement["q"]))  # one per filter shape, not per document
            if shape not in seen:
                seen.add(shape)
                yield {name: command[name], key: [statement]}
    else:
        yield {k: v for k, v in command.items() if k not in ("batchSize", "singleBatch")}


def _walk(plan: Any, stages: list[str], indexes: list[str]) -> None:
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            stages.append(plan["stage"])
        if isinstance(plan.get("indexName"), str):
            indexes.append(plan["indexName"])
        for value in plan.values():
            _walk(value, stages, indexes)
    elif isinstance(plan, list):
        for value in plan:
            _walk(value, stages, indexes)


@pytest.fixture
async def planned(backend: str, db_name: str) -> AsyncIterator[list[Planned]]:
    """The store's commands during an ingest, a sync, every read and a clean-up, planned."""
    recorder = Recorder()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ[TEST_MONGODB_URI], tz_aware=True, event_listeners=[recorder]
    )
    db = client[db_name]
    try:
        store = LibraryStore(db)
        await store.ensure_indexes()
        await store.ingest(snapshot(make_library(USER, likes=6, plays=4, playlists=2)))
        # A sync that adds, retires and changes items (retire updates, then garbage
        # collection of the first snapshot, and the clean-up of uncommitted versions).
        changed = make_library(USER, likes=5, plays=4, playlists=2, offset=2, entries=4)
        await store.sync(snapshot(changed))
        await store.sync(snapshot(make_library(USER, likes=3, plays=1, playlists=1)))
        first = await store.liked(USER, first=2)
        await store.liked(USER, first=2, after=first.end_cursor)
        await store.liked(USER)
        await store.liked_track_ids(USER)
        page = await store.plays(USER, first=1)
        await store.plays(USER, first=1, after=page.end_cursor)
        await store.playlists(USER)
        await store.playlist(USER, f"playlist:{USER}:0")
        await store.tracks(["track:0", "track:1", "track:9"])
        await store.last_sync(USER)
        view = await store.view(USER)  # the read API: both directions, headers, entries
        await view.liked(last=1, before=first.end_cursor)
        headers = await view.playlists(first=1)
        await view.playlists(after=headers.end_cursor)
        await view.playlist_entries(f"playlist:{USER}:0", first=1)
        await view.playlist_entries(f"playlist:{USER}:0", last=1)

        recorded, recorder.commands = recorder.commands, []
        plans: list[Planned] = []
        for command in recorded:
            for statement in _statements(command):
                explained = await db.command("explain", statement, verbosity="queryPlanner")
                stages: list[str] = []
                indexes: list[str] = []
                _walk(explained["queryPlanner"]["winningPlan"], stages, indexes)
                plans.append(Planned(statement, stages, indexes))
        yield plans
    finally:
        await client.drop_database(db_name)
        await client.close()


def test_the_workload_reaches_every_collection(planned: list[Planned]) -> None:
    kinds = {(p.collection, next(iter(p.command))) for p in planned}
    for name in PER_USER:
        assert (name, "find") in kinds, kinds
        assert (name, "delete") in kinds, kinds  # garbage collection and clean-up
        assert (name, "update") in kinds, kinds  # retiring items, undoing dead syncs
    assert ("tracks", "find") in kinds
    assert ("libraries", "findAndModify") in kinds  # the lease


def test_no_query_scans_a_collection(planned: list[Planned]) -> None:
    scans = [str(p) for p in planned if "COLLSCAN" in p.stages]
    assert not scans, "\n".join(scans)


def test_every_query_reads_through_an_index(planned: list[Planned]) -> None:
    unindexed = [str(p) for p in planned if not INDEXED & set(p.stages)]
    assert not unindexed, "\n".join(unindexed)


def test_per_user_queries_use_the_stores_own_indexes(planned: list[Planned]) -> None:
    """Reads, retirements and deletes of one user's documents are bounded by that user."""
    ours = {
        "user_addedAt",
        "user_lastPlayedAt",
        "user_index",
        "user_playlist",
        "user_from",
        "user_to",
        "_id_",
    }
    wrong = [
        str(p)
        for p in planned
        if p.collection in PER_USER and not (set(p.indexes) and set(p.indexes) <= ours)
    ]
    assert not wrong, "\n".join(wrong)


def test_ordered_pages_are_read_in_index_order(planned: list[Planned]) -> None:
    """liked and plays pages come off the (userId, order, trackId) index, never a sort in
    memory: the cost of a page then does not grow with the user's library."""
    pages = [p for p in planned if "find" in p.command and "sort" in p.command]
    assert pages
    sorted_in_memory = [str(p) for p in pages if "SORT" in p.stages]
    assert not sorted_in_memory, "\n".join(sorted_in_memory)
