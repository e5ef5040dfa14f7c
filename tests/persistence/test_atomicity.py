"""A sync is all-or-nothing for readers and for other writers, on every backend.

On mongomock every call runs synchronously and never yields to the event loop, so the
stores here go through ``FaultyDatabase(..., yield_every_op=True)`` on that backend: every
store operation is then a point where readers and other writers interleave. On the wire
server the drivers yield on real I/O and the stores are used as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from persistence import Dialect, LibraryStore, Like, Page, Play, Playlist, SyncConflict, SyncReport
from persistence.client import Client
from persistence.store import StoreOptions
from tests.factories import BASE, snapshot, track
from tests.faults import FaultyDatabase, View, expected_view, raw_documents, view

USER = "user:alice"
T = TypeVar("T", Like, Play)


def library(
    *,
    likes: Mapping[str, int],
    plays: Mapping[str, int],
    playlists: Mapping[str, Sequence[str]],
    user_id: str = USER,
) -> dict[str, Any]:
    """A ``LibraryInput``: likes at ``BASE`` + minutes, plays at ``BASE`` + hours.

    Whole minutes, because nx-27017 compares datetimes at whole seconds in filters such as
    the page cursor's (docs/nx-27017-probes.md, probe 8).
    """
    named = [*likes, *plays, *(t for entries in playlists.values() for t in entries)]
    return {
        "userId": user_id,
        "tracks": [track(t) for t in dict.fromkeys(named)],
        "likes": [
            {"trackId": t, "addedAt": (BASE + timedelta(minutes=m)).isoformat()}
            for t, m in likes.items()
        ],
        "plays": [
            {"trackId": t, "lastPlayedAt": (BASE + timedelta(hours=h)).isoformat()}
            for t, h in plays.items()
        ],
        "playlists": [
            {
                "playlistId": p,
                "name": f"Playlist {p}",
                "entries": [{"trackId": t, "addedAt": BASE.isoformat()} for t in entries],
            }
            for p, entries in playlists.items()
        ],
    }


# A and B overlap: some items are the same in both, some changed, some only in one.
A = library(
    likes={"t:0": 0, "t:1": 1, "t:2": 2, "t:3": 3, "t:4": 4, "t:5": 5},
    plays={"t:0": 0, "t:1": 1, "t:2": 2, "t:3": 3},
    playlists={"p:mix": ["t:0", "t:1"], "p:shared": ["t:2"]},
)
B = library(
    likes={"t:3": 3, "t:4": 4, "t:5": 50, "t:6": 6, "t:7": 7, "t:8": 8, "t:9": 8},
    plays={"t:2": 20, "t:3": 3, "t:4": 4, "t:5": 5, "t:6": 6},
    playlists={"p:shared": ["t:2", "t:6"], "p:b": ["t:7"]},
)
C = library(
    likes={"t:0": 0, "t:5": 5, "t:10": 10},
    plays={"t:10": 1},
    playlists={"p:c": ["t:10"]},
)
BOB = library(
    likes={"t:bob:1": 0, "t:bob:2": 3, "t:bob:3": 8, "t:bob:4": 50},
    plays={"t:bob:1": 2, "t:bob:2": 20},
    playlists={"p:shared": ["t:bob:1"]},
    user_id="user:bob",
)
VIEW_A, VIEW_B = expected_view(snapshot(A)), expected_view(snapshot(B))


@pytest.fixture
def interleaving(backend: str) -> bool:
    return backend == "mongomock"


@pytest.fixture
def make_store(
    store: LibraryStore,  # creates the indexes and drops the database afterwards
    mongo_client: Client,
    db_name: str,
    store_options: StoreOptions,
    interleaving: bool,
    dialect: Dialect,
) -> Callable[[], LibraryStore]:
    """Another process's store on the same database (a job runner, a web worker)."""

    def make() -> LibraryStore:
        db = mongo_client[db_name]
        wrapped = FaultyDatabase(db, yield_every_op=True) if interleaving else db
        return LibraryStore(wrapped, store_options, dialect=dialect)

    return make


def test_the_snapshots_differ_in_every_list() -> None:
    assert VIEW_A.liked != VIEW_B.liked
    assert VIEW_A.plays != VIEW_B.plays
    assert VIEW_A.playlists != VIEW_B.playlists
    assert len({len(VIEW_A.liked), len(VIEW_B.liked)}) == 2  # a short read cannot pass


# ------------------------------------------------------------ readers during syncs


@dataclass
class Tally:
    reads: int = 0
    during_sync: int = 0
    seen: dict[str, set[str]] = field(default_factory=dict)

    def saw(self, what: str, which: str) -> None:
        self.seen.setdefault(what, set()).add(which)


class Writer:
    """Alternates A and B; ``syncing`` is true while a sync is under way."""

    def __init__(self, store: LibraryStore, syncs: int) -> None:
        self.store = store
        self.syncs = syncs
        self.syncing = False
        self.done = False

    async def run(self) -> None:
        try:
            for i in range(self.syncs):
                self.syncing = True
                await self.store.sync(snapshot(B if i % 2 == 0 else A))
                self.syncing = False
                await asyncio.sleep(0)
        finally:
            self.syncing = False
            self.done = True


def _which(value: object, get: Callable[[View], object]) -> str:
    for name, candidate in (("A", VIEW_A), ("B", VIEW_B)):
        if value == get(candidate):
            return name
    raise AssertionError(f"read neither A nor B: {value!r}")


def _ids(items: Sequence[Like] | Sequence[Play]) -> list[str]:
    return [item.track_id for item in items]


def _shared_playlist(v: View) -> Playlist:
    return next(p for p in v.playlists if p.playlist_id == "p:shared")


async def _read_whole_lists(
    store: LibraryStore, writer: Writer, tally: Tally, max_reads: int
) -> None:
    reads: list[tuple[str, Callable[[], Any], Callable[[View], object]]] = [
        ("liked", lambda: store.liked(USER), lambda v: v.liked),
        ("plays", lambda: store.plays(USER), lambda v: v.plays),
        ("playlists", lambda: store.playlists(USER), lambda v: v.playlists),
        ("liked ids", lambda: store.liked_track_ids(USER), lambda v: _ids(v.liked)),
        ("played ids", lambda: store.played_track_ids(USER), lambda v: _ids(v.plays)),
        ("shared playlist", lambda: store.playlist(USER, "p:shared"), _shared_playlist),
    ]
    n = 0
    while not writer.done and n < max_reads:
        what, read, get = reads[n % len(reads)]
        during = writer.syncing
        result = await read()
        if isinstance(result, Page):
            which = _which(result.items, get)
            assert result.total == len(result.items)
            assert not result.has_next
        else:
            which = _which(result, get)
        tally.saw(what, which)
        tally.reads += 1
        tally.during_sync += during
        n += 1


Position = tuple[datetime, str]


def _liked_at(like: Like) -> Position:
    return (like.added_at, like.track_id)


def _played_at(play: Play) -> Position:
    return (play.last_played_at, play.track_id)


async def _walk(
    read: Callable[[str | None], Awaitable[Page[T]]],
    key: Callable[[T], Position],
    lists: Mapping[str, list[T]],
    writer: Writer,
    tally: Tally,
    what: str,
    first: int,
) -> int:
    """Reads one list page by page, as a client would; each page must be exactly the page
    one of the snapshots gives after the last item seen. Returns the number of reads."""
    after: str | None = None
    position: Position | None = None
    reads = 0
    while True:
        during = writer.syncing
        page = await read(after)
        got = (page.items, page.total, page.has_next)
        matching = []
        for name, items in lists.items():
            rest = [item for item in items if position is None or key(item) < position]
            if got == (rest[:first], len(items), len(rest) > first):
                matching.append(name)
        assert matching, f"{what}: the page after {position} is from neither A nor B: {got}"
        assert page.end_cursor == (page.cursors[-1] if page.cursors else None)
        for name in matching:
            tally.saw(what, name)
        tally.reads += 1
        tally.during_sync += during
        reads += 1
        if not page.has_next:
            return reads
        position = key(page.items[-1])
        after = page.end_cursor


async def _read_in_pages(
    store: LibraryStore, writer: Writer, tally: Tally, max_reads: int, first: int = 2
) -> None:
    """Walks liked and plays, in turn, page by page while the writer runs."""
    liked = {name: v.liked for name, v in _AB.items()}
    plays = {name: v.plays for name, v in _AB.items()}
    n = 0
    while not writer.done and n < max_reads:

        async def read_liked(after: str | None) -> Page[Like]:
            return await store.liked(USER, first=first, after=after)

        async def read_plays(after: str | None) -> Page[Play]:
            return await store.plays(USER, first=first, after=after)

        n += await _walk(read_liked, _liked_at, liked, writer, tally, "liked pages", first)
        n += await _walk(read_plays, _played_at, plays, writer, tally, "plays pages", first)


_AB = {"A": VIEW_A, "B": VIEW_B}


async def test_readers_see_one_whole_snapshot_while_a_writer_alternates(
    make_store: Callable[[], LibraryStore],
) -> None:
    writer_store = make_store()
    await writer_store.ingest(snapshot(A))
    # Another user's items at the same instants: a page must never pick them up.
    await writer_store.ingest(snapshot(BOB))
    writer = Writer(writer_store, syncs=15)
    tally = Tally()
    readers = [make_store() for _ in range(5)]

    await asyncio.gather(
        writer.run(),
        _read_whole_lists(readers[0], writer, tally, max_reads=120),
        _read_whole_lists(readers[1], writer, tally, max_reads=120),
        _read_in_pages(readers[2], writer, tally, max_reads=120),
        _read_in_pages(readers[3], writer, tally, max_reads=120),
        _read_whole_lists(readers[4], writer, tally, max_reads=120),
    )

    assert len(tally.seen) == 8, tally.seen  # every kind of read was made
    assert tally.reads >= 100
    # The test proves something only if reads overlapped syncs and both snapshots were seen.
    assert tally.during_sync >= 50
    for what in tally.seen:
        assert tally.seen[what] == {"A", "B"}, tally.seen
    assert await view(writer_store, USER) == VIEW_B  # the 15th sync was B's
    assert await view(writer_store, "user:bob") == expected_view(snapshot(BOB))


# ------------------------------------------------------------------ two writers


async def test_two_writers_at_once_one_wins_and_the_loser_gets_conflict(
    make_store: Callable[[], LibraryStore], mongo_client: Client, db_name: str
) -> None:
    """Two job runners sync the same user at the same time.

    The store's chosen behaviour: the sync that takes the user's lease first runs to the
    end; the other one does not wait, it is refused at once with ``SyncConflict`` (code
    ``CONFLICT``), having written nothing, and may retry later. The result is exactly the
    winner's payload: never a union of the two, never duplicates.
    """
    first_runner, second_runner = make_store(), make_store()
    rounds = [(B, C), (C, A), (A, B), (B, A)]
    for x, y in rounds:
        results = await asyncio.gather(
            first_runner.sync(snapshot(x)), second_runner.sync(snapshot(y)), return_exceptions=True
        )
        reports = [r for r in results if isinstance(r, SyncReport)]
        conflicts = [r for r in results if isinstance(r, SyncConflict)]
        assert len(reports) == 1, results
        assert len(conflicts) == 1, results
        assert conflicts[0].code == "CONFLICT"
        assert str(conflicts[0]) == (
            f'userId "{USER}": another sync of this user is in progress;'
            " nothing was changed, retry later"
        )
        winner = x if isinstance(results[0], SyncReport) else y

        assert await view(first_runner, USER) == expected_view(snapshot(winner))
        assert await first_runner.last_sync(USER) == reports[0]
        current = reports[0].version
        for name, docs in (await raw_documents(mongo_client[db_name], USER)).items():
            live = [d for d in docs if d["from"] <= current < d["to"]]
            key = "playlistId" if name == "playlists" else "trackId"
            assert len({d[key] for d in live}) == len(live), f"duplicates in {name}: {live}"


# ------------------------------------------------------------------ idempotence


async def test_the_same_sync_twice_gives_the_same_state_and_answers(
    make_store: Callable[[], LibraryStore], mongo_client: Client, db_name: str
) -> None:
    store = make_store()
    await store.ingest(snapshot(A))
    first = await store.sync(snapshot(B))
    after_first = await view(store, USER)
    pages_first = await store.liked(USER, first=3)
    docs_first = await raw_documents(mongo_client[db_name], USER)

    second = await store.sync(snapshot(B))

    assert await view(store, USER) == after_first == VIEW_B
    pages_second = await store.liked(USER, first=3)
    assert (pages_second.items, pages_second.total, pages_second.has_next) == (
        pages_first.items,
        pages_first.total,
        pages_first.has_next,
    )
    rest = await store.liked(USER, after=pages_first.end_cursor)  # an old cursor still works
    assert rest.items == VIEW_B.liked[3:]
    assert second.documents_written == 0
    assert second.version == first.version + 1
    assert (second.total_likes, second.total_plays, second.total_playlists) == (
        first.total_likes,
        first.total_plays,
        first.total_playlists,
    )
    # Nothing changed, so the second sync wrote and collected nothing: A's leftovers
    # were collected by the first (documents A and B share stay, A's own ones go).
    docs_second = await raw_documents(mongo_client[db_name], USER)
    assert {n: sorted(d["_id"] for d in docs) for n, docs in docs_second.items()} == {
        n: sorted(d["_id"] for d in docs if d["to"] > first.version)
        for n, docs in docs_first.items()
    }
