"""A sync that fails part-way, dies, or stalls past its lease changes nothing readers see.

Failures are injected with ``tests.faults.FaultyDatabase`` at every write a sync makes, in
the order the store makes them (recorded from a sync that runs through), so these tests
keep covering every step when the write path changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure, PyMongoError

from persistence import Dialect, LibraryStore, StoreUnavailable, SyncConflict
from persistence.client import Client
from persistence.store import StoreOptions
from tests.factories import snapshot
from tests.faults import (
    Call,
    Clock,
    Fail,
    FaultyDatabase,
    Pause,
    View,
    assert_only_committed_documents,
    expected_view,
    raw_documents,
    view,
)
from tests.persistence.test_atomicity import A, B, C

LEASE_SECONDS = 30.0


@pytest.fixture
def options() -> StoreOptions:
    return StoreOptions(lease_seconds=LEASE_SECONDS, write_batch=200)


@pytest.fixture
def db(store: LibraryStore, mongo_client: Client, db_name: str) -> Any:
    """The test's database, indexed (by the ``store`` fixture) and dropped afterwards."""
    return mongo_client[db_name]


@dataclass
class Recording:
    """The writes of a sync of B over A, in order; positions index this list."""

    writes: list[Call]

    @property
    def lease(self) -> int:
        return next(i for i, c in enumerate(self.writes) if c.op == "find_one_and_update")

    @property
    def commit(self) -> int:
        # The last write to ``libraries`` is the flip of ``version``; after it comes the
        # collection of old documents.
        return max(i for i, c in enumerate(self.writes) if c.collection == "libraries")

    @property
    def first_insert(self) -> int:
        """The first insert of a snapshot's document (tracks are global, not the user's)."""
        return next(
            i
            for i, c in enumerate(self.writes)
            if c.op == "insert_many" and c.collection in ("likes", "plays", "playlists")
        )

    def sample(self, positions: Iterable[int], backend: str, every: int = 3) -> list[int]:
        """Every position on mongomock; on the wire server, where a sync takes about ten
        times longer, every ``every``-th one and the edges (lease, first insert, commit)."""
        positions = list(positions)
        if backend == "mongomock":
            return positions
        edges = {self.lease, self.lease + 1, self.first_insert, self.commit - 1, self.commit}
        edges.add(self.commit + 1)
        return [k for i, k in enumerate(positions) if i % every == 0 or k in edges]

    def is_data_write(self, i: int) -> bool:
        """Writes that put a document into or take one out of a snapshot by ``_id``."""
        call = self.writes[i]
        if call.collection not in ("likes", "plays", "playlists"):
            return False
        return call.op == "insert_many" or (call.op == "update_many" and "_id" in call.filter)


@pytest.fixture
async def recording(db: Any, options: StoreOptions, dialect: Dialect) -> Recording:
    recorder = FaultyDatabase(db)
    store = LibraryStore(recorder, options, dialect=dialect)
    await store.ingest(snapshot(_as(A, "user:recording")))
    start = len(recorder.calls)
    await store.sync(snapshot(_as(B, "user:recording")))
    writes = [c for c in recorder.calls[start:] if c.is_write]
    assert [c.op for c in writes].count("find_one_and_update") == 1
    return Recording(writes)


def _as(library: dict[str, Any], user: str) -> dict[str, Any]:
    """``library`` as ``user``'s, over tracks of that user's own: tracks are global, and
    each user's first sync must upsert its tracks as the recorded one did."""

    def own(item: dict[str, Any]) -> dict[str, Any]:
        return item | {"trackId": f"{user}/{item['trackId']}"}

    return {
        "userId": user,
        "tracks": [own(t) for t in library["tracks"]],
        "likes": [own(like) for like in library["likes"]],
        "plays": [own(play) for play in library["plays"]],
        "playlists": [
            p | {"entries": [own(e) for e in p["entries"]]} for p in library["playlists"]
        ],
    }


def _view(library: dict[str, Any], user: str) -> View:
    return expected_view(snapshot(_as(library, user)))


async def _committed(db: Any, user: str) -> int:
    library = await db["libraries"].find_one({"_id": user})
    assert library is not None
    version: int = library["version"]
    return version


# ------------------------------------------------------- a store error part-way


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied-reply-lost"])
async def test_a_sync_killed_at_any_write_leaves_the_previous_snapshot_intact(
    db: Any,
    options: StoreOptions,
    recording: Recording,
    applied: bool,
    backend: str,
    dialect: Dialect,
) -> None:
    """The process loses the store at write ``k`` and never comes back (it cannot even
    release its lease). Readers keep seeing A; once the lease expires the next sync takes
    over, clears what the dead one wrote and commits exactly C."""
    clock = Clock()
    # Whether the write was applied matters at the lease and at the commit; elsewhere a
    # sample of positions is enough.
    every = 1000 if applied else 3
    for k in recording.sample(range(len(recording.writes)), backend, every):
        call = recording.writes[k]
        user = f"user:killed-{k}"
        where = f"write {k} ({call.op} on {call.collection}), applied={applied}"
        reader = LibraryStore(db, options, clock=clock, dialect=dialect)
        version_a = (await reader.ingest(snapshot(_as(A, user)))).version

        dying = LibraryStore(
            FaultyDatabase(db, Fail("write", nth=k + 1, applied=applied, down=True)),
            options,
            clock=clock,
            dialect=dialect,
        )
        committed_b = k > recording.commit or (k == recording.commit and applied)
        if k > recording.commit:
            # The flip happened; only the collection of old documents failed, and a
            # committed sync does not fail for that.
            await dying.sync(snapshot(_as(B, user)))
        else:
            # The store stays down: retries of idempotent writes fail too.
            with pytest.raises(StoreUnavailable) as refused:
                await dying.sync(snapshot(_as(B, user)))
            assert isinstance(refused.value.__cause__, AutoReconnect), where

        assert await view(reader, user) == _view(B if committed_b else A, user), where
        version_now = await _committed(db, user)
        lease_left = (
            recording.lease < k < recording.commit
            or (applied and k == recording.lease)
            or (not applied and k == recording.commit)
        )
        library = await db["libraries"].find_one({"_id": user})
        assert (library.get("lease") is not None) == lease_left, where

        next_sync = reader
        if lease_left:
            with pytest.raises(SyncConflict, match="another sync of this user is in progress"):
                await reader.sync(snapshot(_as(C, user)))
            next_sync = LibraryStore(
                db, options, clock=clock.later(LEASE_SECONDS + 1), dialect=dialect
            )
        version_c = (await next_sync.sync(snapshot(_as(C, user)))).version

        assert await view(reader, user) == _view(C, user), where
        await assert_only_committed_documents(db, user, {version_a, version_now, version_c})
        # And the store goes on as usual: the sync after reverts to A, and collects B's
        # dead documents along with C's retired ones.
        version_a2 = (await reader.sync(snapshot(_as(A, user)))).version
        assert await view(reader, user) == _view(A, user), where
        await assert_only_committed_documents(
            db, user, {version_a, version_now, version_c, version_a2}
        )


def _refused_write() -> PyMongoError:
    return OperationFailure("injected: a write the server refused", code=2)  # BadValue


async def test_a_transient_error_at_any_write_is_retried_and_the_sync_commits(
    db: Any,
    options: StoreOptions,
    recording: Recording,
    backend: str,
    dialect: Dialect,
) -> None:
    """A connection cut once (before or after the write was applied, its reply lost) is
    retried where the write is idempotent, and the sync commits B exactly. Taking the
    lease is not idempotent: a cut there is ``StoreUnavailable``, and nothing changes."""
    for k in recording.sample(range(recording.lease, recording.commit + 1), backend):
        for applied in (False, True):
            user = f"user:cut-{k}-{applied}"
            where = f"write {k} ({recording.writes[k].op}), applied={applied}"
            store = LibraryStore(db, options, dialect=dialect)
            await store.ingest(snapshot(_as(A, user)))
            cut = LibraryStore(
                FaultyDatabase(db, Fail("write", nth=k + 1, applied=applied)),
                options,
                dialect=dialect,
            )
            if k == recording.lease:
                with pytest.raises(StoreUnavailable):
                    await cut.sync(snapshot(_as(B, user)))
                assert await view(store, user) == _view(A, user), where
                continue
            report = await cut.sync(snapshot(_as(B, user)))
            assert await view(store, user) == _view(B, user), where
            assert report.version == await _committed(db, user), where


async def test_a_sync_that_fails_releases_its_lease_and_the_next_one_cleans_up(
    db: Any, options: StoreOptions, recording: Recording, backend: str, dialect: Dialect
) -> None:
    """A store error the process survives and a retry would not cure (a refused write):
    the sync raises, releases its lease on the way out, and the next sync runs at once."""
    for k in recording.sample(range(recording.lease + 1, recording.commit + 1), backend):
        user = f"user:failed-{k}"
        store = LibraryStore(db, options, dialect=dialect)
        version_a = (await store.ingest(snapshot(_as(A, user)))).version
        failing = LibraryStore(
            FaultyDatabase(db, Fail("write", nth=k + 1, error=_refused_write)),
            options,
            dialect=dialect,
        )
        with pytest.raises(OperationFailure, match="injected"):
            await failing.sync(snapshot(_as(B, user)))
        assert await view(store, user) == _view(A, user)
        leftovers = await raw_documents(db, user)

        report = await failing.sync(snapshot(_as(C, user)))  # the same store: the fault fired

        assert await view(store, user) == _view(C, user)
        await assert_only_committed_documents(db, user, {version_a, report.version})
        assert report.version == version_a + 2  # the failed sync's version is never reused
        dead = version_a + 1
        for docs in (await raw_documents(db, user)).values():
            assert not [d for d in docs if dead in (d["from"], d["to"])]
        # The failure left something to clean up once the first insert had gone through.
        left = any(d["from"] == dead for docs in leftovers.values() for d in docs)
        assert left == (k > recording.first_insert)


# ------------------------------------------------------------------- zombies


async def _zombie_round(
    db: Any, options: StoreOptions, recording: Recording, k: int, dialect: Dialect
) -> tuple[str, set[int]]:
    """A sync of B stalls before write ``k`` past its lease; another sync takes over and
    commits C; then the stalled one ("zombie") wakes up and carries on."""
    user = f"user:zombie-{k}"
    clock = Clock()
    store = LibraryStore(db, options, clock=clock, dialect=dialect)
    version_a = (await store.ingest(snapshot(_as(A, user)))).version
    pause = Pause("write", nth=k + 1)
    zombie = LibraryStore(FaultyDatabase(db, pause), options, clock=clock, dialect=dialect)
    stalled = asyncio.create_task(zombie.sync(snapshot(_as(B, user))))
    await asyncio.wait_for(pause.reached.wait(), timeout=10)
    assert await view(store, user) == _view(A, user)

    taker = LibraryStore(db, options, clock=clock.later(LEASE_SECONDS + 1), dialect=dialect)
    version_c = (await taker.sync(snapshot(_as(C, user)))).version
    assert await view(store, user) == _view(C, user)

    pause.resume.set()
    with pytest.raises(SyncConflict, match="another sync took over"):
        await asyncio.wait_for(stalled, timeout=10)
    return user, {version_a, version_c}


async def test_a_sync_that_lost_its_lease_cannot_change_what_readers_see(
    db: Any, options: StoreOptions, recording: Recording, backend: str, dialect: Dialect
) -> None:
    """Stalled anywhere from just after taking its lease up to its commit, other than just
    before a data write (the next test), the zombie gets ``SyncConflict``, writes nothing
    more, and the snapshot of the sync that took over stays exactly as it committed it."""
    positions = [
        k
        for k in range(recording.lease + 1, recording.commit + 1)
        if not recording.is_data_write(k)
    ]
    assert recording.commit in positions
    for k in recording.sample(positions, backend):
        where = f"zombie stalled before write {k} ({recording.writes[k]})"
        user, committed = await _zombie_round(db, options, recording, k, dialect)
        store = LibraryStore(db, options, dialect=dialect)
        assert await view(store, user) == _view(C, user), where
        await assert_only_committed_documents(db, user, committed)
        version = (await store.sync(snapshot(_as(A, user)))).version
        assert await view(store, user) == _view(A, user), where
        await assert_only_committed_documents(db, user, {*committed, version})


async def test_a_sync_that_lost_its_lease_just_before_a_data_write(
    db: Any, options: StoreOptions, recording: Recording, dialect: Dialect
) -> None:
    """The zombie's one late insert or retirement lands after the new owner's clean-up.

    Readers never see it: the commit recorded the zombie's version as one that never
    committed, and reads ignore such versions. The zombie then fails its next lease check
    with ``SyncConflict``, and the next sync's clean-up removes what it wrote.
    """
    positions = [k for k in range(len(recording.writes)) if recording.is_data_write(k)]
    assert positions
    for k in positions:
        where = f"zombie stalled before data write {k} ({recording.writes[k]})"
        user, committed = await _zombie_round(db, options, recording, k, dialect)
        store = LibraryStore(db, options, dialect=dialect)
        assert await view(store, user) == _view(C, user), where
        version = (await store.sync(snapshot(_as(A, user)))).version
        assert await view(store, user) == _view(A, user), where
        await assert_only_committed_documents(db, user, {*committed, version})


# -------------------------------------------------- leases belong to one user


async def test_an_expired_lease_of_another_user_is_never_taken(
    db: Any, options: StoreOptions, dialect: Dialect
) -> None:
    """Carol's sync died and left an expired lease; Alice's sync holds a live one. A second
    sync of Alice must be refused, and must not take Carol's lease instead (the stand-in
    matched Carol's document for the lease query until it was written with an explicit
    ``$and``)."""
    start = Clock()
    carol = LibraryStore(db, options, clock=start, dialect=dialect)
    await carol.ingest(snapshot(_as(A, "user:carol")))
    dying = LibraryStore(
        FaultyDatabase(db, Fail("insert_many", down=True)), options, clock=start, dialect=dialect
    )
    with pytest.raises(StoreUnavailable):
        await dying.sync(snapshot(_as(B, "user:carol")))
    carol_before = await db["libraries"].find_one({"_id": "user:carol"})
    assert carol_before["lease"] is not None

    later = start.later(LEASE_SECONDS + 5)  # Carol's lease has expired by now
    alice = LibraryStore(db, options, clock=later, dialect=dialect)
    for library in (A, B, A, B):  # Alice's versions run ahead of Carol's
        await alice.sync(snapshot(_as(library, "user:alice")))
    pause = Pause("insert_many")
    running = LibraryStore(FaultyDatabase(db, pause), options, clock=later, dialect=dialect)
    first = asyncio.create_task(running.sync(snapshot(_as(A, "user:alice"))))
    await asyncio.wait_for(pause.reached.wait(), timeout=10)

    with pytest.raises(SyncConflict, match="another sync of this user is in progress"):
        await alice.sync(snapshot(_as(C, "user:alice")))

    assert await db["libraries"].find_one({"_id": "user:carol"}) == carol_before
    assert await view(alice, "user:alice") == _view(B, "user:alice")
    pause.resume.set()
    await first
    assert await view(alice, "user:alice") == _view(A, "user:alice")
    assert await view(alice, "user:carol") == _view(A, "user:carol")
