"""The entries of many playlists are read in one round trip, and still from one snapshot.

A response that lists 50 playlists with their entries used to read each playlist's
entries apart (a ``find_one`` and a snapshot check each: 100 round trips), and the
track loader then ran once per playlist. Round trips are counted, not timed: a wrapper
counts the reads each collection is asked for, on every backend and so on each dialect.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from persistence import Dialect, LibraryStore, SnapshotExpired
from persistence.client import Client
from persistence.store import StoreOptions
from resolvers import RequestContext, build_schema
from tests.factories import make_library, snapshot
from tests.persistence.counting import CountingDatabase

PLAYLISTS = 12
ENTRIES = 7
USER = "user:alice"


@pytest.fixture
async def counted(
    mongo_client: Client, db_name: str, store_options: StoreOptions, dialect: Dialect
) -> tuple[LibraryStore, Counter[str]]:
    reads: Counter[str] = Counter()
    db = CountingDatabase(mongo_client[db_name], reads=reads)
    store = LibraryStore(db, store_options, dialect=dialect)
    await store.ensure_indexes()
    library = make_library(USER, likes=3, playlists=PLAYLISTS, entries=ENTRIES)
    for p, playlist in enumerate(library["playlists"]):
        # Each playlist its own tracks in its own order, so a mix-up shows.
        playlist["entries"] = playlist["entries"][p % ENTRIES :] + playlist["entries"][:1]
    await store.ingest(snapshot(library))
    reads.clear()
    return store, reads


def _playlist(p: int) -> str:
    return f"playlist:{USER}:{p}"


async def test_concurrent_entry_reads_are_one_read_and_one_check(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, reads = counted
    view = await store.view(USER)
    reads.clear()
    one_by_one = [await view.playlist_entries(_playlist(p), first=3) for p in range(PLAYLISTS)]
    assert reads == {"playlists": PLAYLISTS, "libraries": PLAYLISTS}

    reads.clear()
    together = await asyncio.gather(
        *(view.playlist_entries(_playlist(p), first=3) for p in range(PLAYLISTS)),
        view.playlist_entries("playlist:none", first=3),
    )
    # One find for every playlist, one snapshot check for the batch.
    assert reads == {"playlists": 1, "libraries": 1}
    assert together[:-1] == one_by_one
    assert together[-1].items == []
    assert [e.position for e in together[0].items] == [0, 1, 2]


async def test_reads_of_other_bounds_are_batched_apart(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, reads = counted
    view = await store.view(USER)
    expected_last = [await view.playlist_entries(_playlist(p), last=2) for p in range(3)]
    expected_whole = [await view.playlist_entries(_playlist(p)) for p in range(3)]
    expected_header = await view.playlist(_playlist(1))
    reads.clear()
    last, whole, header = await asyncio.gather(
        asyncio.gather(*(view.playlist_entries(_playlist(p), last=2) for p in range(3))),
        asyncio.gather(*(view.playlist_entries(_playlist(p)) for p in range(3))),
        view.playlist(_playlist(1)),
    )
    assert reads == {"playlists": 3, "libraries": 3}  # one per bounds: last 2, all, none
    assert list(last) == expected_last
    assert list(whole) == expected_whole
    assert header == expected_header
    assert [e.position for e in last[0].items] == [ENTRIES - 1, ENTRIES]


async def test_a_batch_still_refuses_a_collected_snapshot(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, _ = counted
    view = await store.view(USER)
    # Two syncs later, the view's version is collected: every read of the batch says so.
    for offset in (1, 2):
        await store.sync(snapshot(make_library(USER, playlists=2, offset=offset)))
    results = await asyncio.gather(
        *(view.playlist_entries(_playlist(p)) for p in range(PLAYLISTS)),
        return_exceptions=True,
    )
    assert all(isinstance(r, SnapshotExpired) for r in results), results


PLAYLISTS_ENTRIES = """query($u: ID!) {
  playlists(userId: $u) {
    playlistId entries(first: 100) { position trackId track { trackId title } }
  }
}"""


async def test_a_response_with_every_playlists_entries_reads_each_collection_once(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, reads = counted
    result = await build_schema().execute(
        PLAYLISTS_ENTRIES, variable_values={"u": USER}, context_value=RequestContext(store=store)
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    # The view, then the headers with their check, the entries of all with theirs, and
    # the tracks of every entry in one batch.
    assert reads == {"libraries": 3, "playlists": 2, "tracks": 1}
    playlists = result.data["playlists"]
    assert len(playlists) == PLAYLISTS
    view = await store.view(USER)
    for p, playlist in enumerate(playlists):
        expected = (await view.playlist_entries(_playlist(p))).items
        assert [(e["position"], e["trackId"]) for e in playlist["entries"]] == [
            (e.position, e.track_id) for e in expected
        ]
        assert all(e["track"]["trackId"] == e["trackId"] for e in playlist["entries"])
