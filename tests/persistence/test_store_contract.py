"""The persistence contract: the same guarantees on every backend (see tests/backends.py)."""

from __future__ import annotations

import pytest

from persistence import AlreadyIngested, InvalidInput, LibraryStore
from tests.factories import make_library, seed_trace_ingest, seed_trace_sync, snapshot, track
from tests.persistence.reads import liked_ids, liked_pages, track_ids


async def test_seed_trace(store: LibraryStore) -> None:
    await store.ingest(snapshot(seed_trace_ingest()))
    assert await liked_ids(store) == ["track:2", "track:1"]

    report = await store.sync(snapshot(seed_trace_sync()))

    assert await liked_ids(store) == ["track:3", "track:2"]
    assert (report.likes_added, report.likes_removed) == (1, 1)
    assert [p.track_id for p in (await store.plays("user:alice")).items] == ["track:3", "track:2"]
    (rock,) = await store.playlists("user:alice")
    assert [e.track_id for e in rock.entries] == ["track:1", "track:3"]
    # Tracks are global and a sync never deletes them.
    assert set(await store.tracks(["track:1", "track:2", "track:3"])) == {
        "track:1",
        "track:2",
        "track:3",
    }


async def test_ingest_twice_is_refused_and_changes_nothing(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=2)))
    with pytest.raises(AlreadyIngested, match='"user:alice" is already ingested'):
        await store.ingest(snapshot(make_library(likes=5)))
    assert len(await liked_ids(store)) == 2


async def test_sync_of_a_new_user_creates_the_library(store: LibraryStore) -> None:
    report = await store.sync(snapshot(make_library("user:bob", likes=4)))
    assert report.total_likes == 4
    assert len(await liked_ids(store, "user:bob")) == 4


async def test_unknown_user_reads_empty(store: LibraryStore) -> None:
    assert (await store.liked("user:nobody")).items == []
    assert (await store.plays("user:nobody")).total == 0
    assert await store.playlists("user:nobody") == []
    assert await store.playlist("user:nobody", "playlist:x") is None
    assert await store.last_sync("user:nobody") is None


async def test_liked_is_newest_first_and_pages_cover_the_list(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=7)))
    everything = await liked_ids(store)
    assert everything == [f"track:{i}" for i in reversed(range(7))]

    pages = await liked_pages(store, "user:alice", first=3)
    assert [page.total for page in pages] == [7, 7, 7]
    assert track_ids(pages) == everything


async def test_equal_timestamps_order_by_track_id(store: LibraryStore) -> None:
    library = make_library(likes=3)
    for like in library["likes"]:
        like["addedAt"] = "2024-01-01T00:00:00Z"
    await store.ingest(snapshot(library))
    assert await liked_ids(store) == ["track:2", "track:1", "track:0"]
    first = await store.liked("user:alice", first=1)
    rest = await store.liked("user:alice", after=first.end_cursor)
    assert [like.track_id for like in rest.items] == ["track:1", "track:0"]


async def test_bad_cursor_is_refused_by_name(store: LibraryStore) -> None:
    with pytest.raises(InvalidInput, match="after"):
        await store.liked("user:alice", first=1, after="not-a-cursor!")


async def test_playlists_keep_order_and_duplicate_entries(store: LibraryStore) -> None:
    library = make_library(playlists=3, entries=2)
    library["playlists"][1]["entries"].append(dict(library["playlists"][1]["entries"][0]))
    await store.ingest(snapshot(library))

    playlists = await store.playlists("user:alice")
    assert [p.name for p in playlists] == ["Playlist 0", "Playlist 1", "Playlist 2"]
    assert [e.track_id for e in playlists[1].entries] == ["track:0", "track:1", "track:0"]


async def test_users_may_hold_the_same_playlist_id(store: LibraryStore) -> None:
    shared = {"playlistId": "playlist:followed", "name": "Shared", "entries": []}
    alice = make_library("user:alice") | {"playlists": [shared | {"name": "Alice's copy"}]}
    bob = make_library("user:bob") | {"playlists": [shared | {"name": "Bob's copy"}]}
    await store.ingest(snapshot(alice))
    await store.ingest(snapshot(bob))
    await store.sync(snapshot(alice | {"playlists": []}))

    assert await store.playlist("user:alice", "playlist:followed") is None
    bobs = await store.playlist("user:bob", "playlist:followed")
    assert bobs is not None
    assert bobs.name == "Bob's copy"


async def test_reference_to_an_unknown_track_is_refused_before_writing(
    store: LibraryStore,
) -> None:
    library = make_library(likes=2)
    library["likes"].append({"trackId": "track:9", "addedAt": "2024-01-01T00:00:00Z"})
    with pytest.raises(InvalidInput) as refused:
        await store.ingest(snapshot(library))
    assert str(refused.value) == 'likes[2].trackId: "track:9" is neither in tracks nor cached'
    # Nothing at all was written: not even the payload's valid tracks.
    assert await store.tracks(["track:0", "track:1"]) == {}
    assert await store.last_sync("user:alice") is None


async def test_references_to_cached_tracks_are_accepted(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library("user:bob", likes=2)))
    library = make_library(likes=0, plays=0, playlists=0) | {
        "tracks": [],
        "likes": [{"trackId": "track:1", "addedAt": "2024-01-01T00:00:00Z"}],
    }
    await store.ingest(snapshot(library))
    assert await liked_ids(store) == ["track:1"]


async def test_sync_upserts_changed_track_metadata(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=2)))
    library = make_library(likes=2)
    library["tracks"][0] = track("track:0", title="Renamed")
    report = await store.sync(snapshot(library))
    assert report.tracks_upserted == 1
    assert (await store.tracks(["track:0"]))["track:0"].title == "Renamed"


async def test_same_sync_twice_gives_the_same_state_and_writes_nothing(
    store: LibraryStore,
) -> None:
    library = make_library(likes=5, plays=4, playlists=2)
    await store.ingest(snapshot(library))
    before = (await liked_ids(store), await store.playlists("user:alice"))

    report = await store.sync(snapshot(library))

    assert report.documents_written == 0
    assert report.playlists_unchanged == 2
    assert (await liked_ids(store), await store.playlists("user:alice")) == before


async def test_sync_writes_in_proportion_to_the_change(store: LibraryStore) -> None:
    library = make_library(likes=100, plays=10, playlists=2, entries=5)
    await store.ingest(snapshot(library))

    library["likes"] = library["likes"][1:]  # one like removed
    library["playlists"][0]["name"] = "Renamed"  # one playlist changed
    report = await store.sync(snapshot(library))

    assert (report.likes_added, report.likes_removed) == (0, 1)
    assert report.playlists_updated == 1
    # one like retired, one playlist retired and rewritten
    assert report.documents_written == 3


async def test_last_sync_reports_the_committed_sync(store: LibraryStore) -> None:
    await store.ingest(snapshot(seed_trace_ingest()))
    report = await store.sync(snapshot(seed_trace_sync()))
    assert await store.last_sync("user:alice") == report


async def test_old_versions_are_collected(store: LibraryStore, mongo_client: object) -> None:
    for i in range(4):
        await store.sync(snapshot(make_library(likes=5, offset=i * 5)))
    # Only the current and the previous snapshot's likes remain in the store.
    collection = store._likes
    remaining = await collection.find({"userId": "user:alice"}).to_list(None)
    assert len(remaining) == 10


async def test_ensure_indexes_is_idempotent(store: LibraryStore) -> None:
    await store.ensure_indexes()  # the fixture already ran it once, as every start does
    await store.ingest(snapshot(make_library(likes=2)))
    await store.ensure_indexes()
    assert len(await liked_ids(store)) == 2


async def test_paging_is_exact_for_timestamps_within_one_second(store: LibraryStore) -> None:
    """Milliseconds apart, with ties: nx-27017 compares datetimes only to the second in
    filters, so the store must not rely on the query alone to place a cursor."""
    library = make_library(likes=6)
    stamps = ["00.900", "00.100", "00.500", "00.500", "00.001", "01.000"]
    for like, stamp in zip(library["likes"], stamps, strict=True):
        like["addedAt"] = f"2024-01-01T00:00:{stamp}Z"
    await store.ingest(snapshot(library))
    everything = await liked_ids(store)
    assert everything == ["track:5", "track:0", "track:3", "track:2", "track:1", "track:4"]

    assert track_ids(await liked_pages(store, "user:alice", first=1)) == everything
