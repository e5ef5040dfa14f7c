"""ensure_indexes on every backend: idempotent, reads stay exact, stand-in index on nx only.

On nx-27017 the store adds a single-field ``{userId: 1}`` index (``user_standin``): nx plans
a sorted find through the compound indexes only when a field of the filter has an index of
its own (docs/performance.md). Its index descriptions differ from MongoDB's (STANDINS.md),
so on nx these tests assert what the store reads, not what ``index_information`` says.
"""

from __future__ import annotations

import pytest

from persistence import LibraryStore
from tests.factories import make_library, snapshot
from tests.persistence.reads import liked_pages, track_ids

PER_USER = ("likes", "plays", "playlists")


async def _ingest_two_users(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library("user:alice", likes=7, plays=5, playlists=3)))
    await store.ingest(
        snapshot(make_library("user:bob", likes=4, plays=2, playlists=2, prefix="bob"))
    )
    # A second snapshot of alice: retired and live versions side by side.
    await store.sync(snapshot(make_library("user:alice", likes=6, plays=5, playlists=2, offset=1)))


async def test_ensure_indexes_is_idempotent_and_reads_stay_exact(store: LibraryStore) -> None:
    await store.ensure_indexes()  # the fixture ran it once already
    await _ingest_two_users(store)
    await store.ensure_indexes()  # and on a store holding data

    alice = await store.liked("user:alice")
    assert [like.track_id for like in alice.items] == [f"track:{i}" for i in range(6, 0, -1)]
    bob = await store.liked("user:bob")
    assert [like.track_id for like in bob.items] == [f"bob:{i}" for i in range(3, -1, -1)]
    assert [p.track_id for p in (await store.plays("user:alice")).items] == [
        f"track:{i}" for i in range(5, 0, -1)
    ]
    assert [p.name for p in await store.playlists("user:alice")] == ["Playlist 0", "Playlist 1"]
    assert [p.name for p in await store.playlists("user:bob")] == ["Playlist 0", "Playlist 1"]

    pages = await liked_pages(store, "user:alice", first=4)
    assert track_ids(pages) == [like.track_id for like in alice.items]


async def test_whole_list_of_ids_matches_the_whole_list(store: LibraryStore) -> None:
    """A whole read of bare ids projects the ids alone; its end cursor is still exact."""
    await _ingest_two_users(store)
    for user in ("user:alice", "user:bob"):
        for whole, ids in (
            (await store.liked(user), await store.liked_track_ids(user)),
            (await store.plays(user), await store.played_track_ids(user)),
        ):
            assert ids.items == [item.track_id for item in whole.items]
            assert (ids.total, ids.has_next) == (whole.total, whole.has_next)
            assert ids.end_cursor == whole.end_cursor is not None
            assert ids.cursors[-1] == whole.cursors[-1]
            assert ids.start_cursor == whole.start_cursor == whole.cursors[0] == ids.cursors[0]
            assert len(ids.cursors) == len(whole.cursors)
    # The end cursor of a whole read resumes after its last item: nothing follows.
    ids = await store.liked_track_ids("user:alice")
    with pytest.raises(LookupError, match="only its start and end cursors"):
        ids.cursors[1]  # read without the order key: only the ends' cursors are known
    assert (await store.liked_track_ids("user:alice", after=ids.end_cursor)).items == []
    # After a cursor, the rest of the list, with the same end cursor as the whole list's.
    first = await store.liked("user:alice", first=2)
    rest = await store.liked_track_ids("user:alice", after=first.end_cursor)
    assert rest.items == ids.items[2:]
    assert rest.end_cursor == ids.end_cursor
    assert (await store.liked_track_ids("user:nobody")).end_cursor is None


async def test_the_stand_in_index_is_made_on_nx_alone(store: LibraryStore, backend: str) -> None:
    on_nx = backend.startswith("wire")
    assert (store.dialect.name == "nx-27017") is on_nx
    if on_nx:
        return  # nx reports index descriptions differently (STANDINS.md): not asserted
    for name in PER_USER:
        indexes = await store._db[name].index_information()
        assert "user_standin" not in indexes
        assert {"user_from", "user_to"} <= set(indexes)
