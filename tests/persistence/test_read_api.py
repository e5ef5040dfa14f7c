"""The read API the resolvers use (``LibraryStore.view``), on every backend.

Relay semantics: the items after ``after`` and before ``before``, then the first
``first`` or the last ``last`` of them, always returned in list order; a page's start and
end cursors work as ``after`` and as ``before``. Timestamps here are whole seconds unless a
test is about sub-second ones: nx-27017 compares datetimes at whole seconds, and the
store's stand-in dialect must still give MongoDB's answers (those tests prove it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from persistence import (
    InvalidInput,
    LibraryStore,
    LibraryView,
    Page,
    PlaylistHeader,
    SnapshotExpired,
)
from tests.factories import BASE, make_library, snapshot, track
from tests.faults import Fail, FaultyDatabase

Read = Callable[..., Awaitable[Page[Any]]]


def _key(item: Any) -> Any:
    for name in ("position", "playlist_id", "track_id"):
        if hasattr(item, name):
            return getattr(item, name)
    return item


async def walk_forward(read: Read, size: int) -> list[Any]:
    """Every item, ``size`` at a time, following ``end_cursor`` as a client would."""
    items: list[Any] = []
    after = None
    while True:
        page = await read(first=size, after=after)
        assert len(page.items) <= size
        items += [_key(i) for i in page.items]
        assert page.has_previous is (after is not None)
        if not page.has_next:
            return items
        after = page.end_cursor


async def walk_backward(read: Read, size: int) -> list[Any]:
    """Every item from the end, ``size`` at a time, following ``start_cursor``."""
    pages: list[list[Any]] = []
    before = None
    while True:
        page = await read(last=size, before=before)
        assert len(page.items) <= size
        pages.insert(0, [_key(i) for i in page.items])
        assert page.has_next is (before is not None)
        if not page.has_previous:
            return [item for page_items in pages for item in page_items]
        before = page.start_cursor


def tied_library(ties: int, others: int, user: str = "user:alice") -> dict[str, Any]:
    """``ties`` likes and plays at one whole second, ``others`` before and after them."""
    count = ties + 2 * others
    library = make_library(user, likes=count, plays=count, playlists=0)
    stamps = [BASE + timedelta(seconds=i) for i in range(others)]
    stamps += [BASE + timedelta(hours=1)] * ties
    stamps += [BASE + timedelta(hours=2, seconds=i) for i in range(others)]
    for like, play, at in zip(library["likes"], library["plays"], stamps, strict=True):
        like["addedAt"] = play["lastPlayedAt"] = at.isoformat()
    return library


async def test_pages_cover_the_list_both_ways_through_ties(store: LibraryStore) -> None:
    await store.ingest(snapshot(tied_library(ties=13, others=6)))
    view = await store.view("user:alice")
    for whole_read, ids_read in (
        (view.liked, view.liked_track_ids),
        (view.plays, view.played_track_ids),
    ):
        whole = [_key(i) for i in (await whole_read()).items]
        assert len(whole) == 25
        assert (await ids_read()).items == whole
        for size in (1, 4, 25, 50):
            assert await walk_forward(whole_read, size) == whole
            assert await walk_backward(whole_read, size) == whole
            assert await walk_forward(ids_read, size) == whole
            assert await walk_backward(ids_read, size) == whole


async def test_sub_second_timestamps_page_exactly_both_ways(store: LibraryStore) -> None:
    """Milliseconds apart within one second, with ties, next to other seconds: nx-27017
    compares datetimes at whole seconds, so its dialect must not rely on the query alone."""
    library = make_library(likes=9, playlists=0)
    stamps = ["00.900", "00.100", "00.500", "00.500", "00.001", "01.000", "00.000", "00.500"]
    stamps += ["59.999"]
    for like, stamp in zip(library["likes"], stamps, strict=True):
        minute = "00" if stamp != "59.999" else "59"
        like["addedAt"] = f"2024-01-01T00:{minute}:{stamp}Z"
    await store.ingest(snapshot(library))
    view = await store.view("user:alice")
    whole = [like.track_id for like in (await view.liked()).items]
    assert whole == [f"track:{i}" for i in (8, 5, 0, 7, 3, 2, 1, 4, 6)]
    for size in (1, 2, 3):
        assert await walk_forward(view.liked, size) == whole
        assert await walk_backward(view.liked, size) == whole


async def test_cursors_work_in_both_directions_and_between(store: LibraryStore) -> None:
    await store.ingest(snapshot(tied_library(ties=5, others=3)))
    view = await store.view("user:alice")
    whole = (await view.liked()).items
    ids = [like.track_id for like in whole]
    middle = await view.liked(first=3, after=(await view.liked(first=2)).end_cursor)
    assert [like.track_id for like in middle.items] == ids[2:5]
    assert middle.cursors[0] == middle.start_cursor

    before = await view.liked(before=middle.start_cursor)
    assert [like.track_id for like in before.items] == ids[:2]
    assert (before.has_next, before.has_previous) == (True, False)
    after = await view.liked(after=middle.end_cursor)
    assert [like.track_id for like in after.items] == ids[5:]
    assert (after.has_next, after.has_previous) == (False, True)

    window = await view.liked(after=before.start_cursor, before=after.start_cursor, first=2)
    assert [like.track_id for like in window.items] == ids[1:3]
    assert window.has_next is True
    window = await view.liked(after=before.start_cursor, before=after.start_cursor, last=2)
    assert [like.track_id for like in window.items] == ids[3:5]
    assert window.has_previous is True
    assert (await view.liked(first=0)).items == []
    assert (await view.liked(first=0)).has_next is True


async def test_paging_arguments_are_checked_by_name(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=3)))
    view = await store.view("user:alice")
    with pytest.raises(InvalidInput, match="last: first and last cannot be used together"):
        await view.liked(first=1, last=1)
    with pytest.raises(InvalidInput, match="first: must not be negative"):
        await view.plays(first=-1)
    with pytest.raises(InvalidInput, match="before:"):
        await view.liked(last=1, before="not-a-cursor!")
    with pytest.raises(InvalidInput, match="after:"):
        await view.playlist_entries("playlist:user:alice:0", after="bm9wZQ")
    # A cursor of one list is refused by another, rather than misread.
    playlists = await view.playlists(first=1)
    assert playlists.end_cursor is not None
    with pytest.raises(InvalidInput, match="after:"):
        await view.liked(after=playlists.end_cursor)
    # Whatever the user: cursors are checked before anything is read.
    nobody = await store.view("user:nobody")
    with pytest.raises(InvalidInput, match="before:"):
        await nobody.plays(before="%%%")


async def test_playlists_are_a_page_of_headers(store: LibraryStore) -> None:
    library = make_library(playlists=5, entries=3)
    library["playlists"][2]["description"] = "the third"
    library["playlists"][3]["entries"] = []
    await store.ingest(snapshot(library))
    view = await store.view("user:alice")

    page = await view.playlists()
    assert page.total == 5
    assert [p.name for p in page.items] == [f"Playlist {i}" for i in range(5)]
    assert page.items[2] == PlaylistHeader(
        playlist_id="playlist:user:alice:2",
        name="Playlist 2",
        description="the third",
        snapshot_id="s1",
        entry_count=3,
    )
    assert page.items[3].entry_count == 0
    ids = [p.playlist_id for p in page.items]
    for size in (1, 2, 5):
        assert await walk_forward(view.playlists, size) == ids
        assert await walk_backward(view.playlists, size) == ids
    assert await view.playlist("playlist:user:alice:2") == page.items[2]
    assert await view.playlist("playlist:none") is None


async def test_playlist_entries_page_by_position(store: LibraryStore) -> None:
    library = make_library(likes=7, playlists=1, entries=7)
    entries = library["playlists"][0]["entries"]
    entries.append(dict(entries[0]))  # a duplicate entry keeps its own position
    await store.ingest(snapshot(library))
    view = await store.view("user:alice")
    playlist = "playlist:user:alice:0"

    whole = await view.playlist_entries(playlist)
    assert whole.total == 8
    assert [e.position for e in whole.items] == list(range(8))
    assert [e.track_id for e in whole.items] == [f"track:{i}" for i in range(7)] + ["track:0"]
    assert whole.items[0].added_at == BASE
    for size in (1, 3, 8, 20):
        assert await walk_forward(lambda **k: view.playlist_entries(playlist, **k), size) == list(
            range(8)
        )
        assert await walk_backward(lambda **k: view.playlist_entries(playlist, **k), size) == list(
            range(8)
        )
    last = await view.playlist_entries(playlist, last=3)
    assert [e.position for e in last.items] == [5, 6, 7]
    between = await view.playlist_entries(
        playlist, after=whole.cursors[1], before=whole.cursors[6], last=2
    )
    assert [e.position for e in between.items] == [4, 5]
    assert between.has_previous is True
    empty = await view.playlist_entries("playlist:none", first=2)
    assert (empty.items, empty.total) == ([], 0)


async def test_a_view_reads_one_snapshot_however_syncs_go_on(store: LibraryStore) -> None:
    """One request reads one version: a sync committing between two of its reads changes
    nothing it sees; once that version is collected, it is told to retry, never mixed."""
    first = make_library(likes=3, plays=2, playlists=2)
    await store.ingest(snapshot(first))
    view = await store.view("user:alice")
    liked = await view.liked()

    second = make_library(likes=4, plays=3, playlists=1, offset=10)
    await store.sync(snapshot(second))
    # Every list still of the first version, and the totals with them.
    assert await view.liked() == liked
    assert [p.track_id for p in (await view.plays()).items] == ["track:1", "track:0"]
    assert (await view.playlists()).total == 2
    assert [e.track_id for e in (await view.playlist_entries("playlist:user:alice:1")).items] == [
        "track:0",
        "track:1",
        "track:2",
    ]
    report = await view.last_sync()
    assert report is not None
    assert report.version == view.version
    fresh = await store.view("user:alice")
    assert fresh.version != view.version
    assert (await fresh.liked()).total == 4

    # The sync after next collects the first version: the old view must not read a mix.
    await store.sync(snapshot(make_library(likes=2, offset=20)))
    with pytest.raises(SnapshotExpired, match="retry"):
        await view.liked()
    with pytest.raises(SnapshotExpired):
        await view.playlist_entries("playlist:user:alice:1")


async def test_a_user_never_ingested_reads_empty(store: LibraryStore) -> None:
    view = await store.view("user:nobody")
    assert isinstance(view, LibraryView)
    assert view.version is None
    for read in (view.liked, view.liked_track_ids, view.plays, view.played_track_ids):
        page = await read(first=5)
        assert (page.items, page.total, page.has_next, page.end_cursor) == ([], 0, False, None)
    assert (await view.playlists()).items == []
    assert await view.playlist("playlist:x") is None
    assert (await view.playlist_entries("playlist:x")).items == []
    assert await view.last_sync() is None


async def test_dead_versions_are_ignored_while_paging(store: LibraryStore) -> None:
    """A sync that died leaves a dead version the library lists; pages stay exact through
    the snapshot filter's union (two queries on nx, one ``$or`` on MongoDB)."""
    library = tied_library(ties=6, others=2)
    await store.ingest(snapshot(library))
    library["likes"] = library["likes"][1:]
    library["tracks"].append(track("track:new"))
    library["likes"].append({"trackId": "track:new", "addedAt": BASE.isoformat()})
    refused = Fail("update_many", error=lambda: OperationFailure("injected", code=2))
    failing = LibraryStore(FaultyDatabase(store._db, refused), dialect=store.dialect)
    with pytest.raises(Exception, match="injected"):
        await failing.sync(snapshot(library))
    await store.sync(snapshot(library))
    stored = await store._libraries.find_one({"_id": "user:alice"})
    assert stored["dead"]  # the read goes through the dead-version form
    view = await store.view("user:alice")
    whole = [like.track_id for like in (await view.liked()).items]
    assert "track:new" in whole
    assert len(whole) == 10
    for size in (1, 3):
        assert await walk_forward(view.liked, size) == whole
        assert await walk_backward(view.liked, size) == whole
