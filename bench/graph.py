"""``python -m bench.graph``: what the graph's fields cost next to the root fields they replace.

Part one isolates the resolvers and the executor: the library's view and the track loader
hand back pages built beforehand, so the CPU time per request (``time.process_time``) is
GraphQL's alone -- parsing, validation, resolvers, global ids, serialization. Part two
seeds a user with ``--playlists`` playlists of ``--entries`` entries and ``--likes`` likes
into an embedded nx-27017 store and counts the read commands and the time of a count, of
the whole list of liked ids, and of every playlist's entries through the root
``playlists`` field and through ``Library.playlists``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from persistence import LibrarySnapshot, LibraryStore, LibraryView, models
from resolvers import RequestContext, build_schema
from server.embedded import EmbeddedMongo

PAGE = "totalCount pageInfo { hasNextPage endCursor }"
TRACK = "trackId title artists album durationMs explicit"
CPU_QUERIES = {
    "root liked(first: 50) items+track": (
        f"query($u: ID!) {{ liked(userId: $u, first: 50) {{ {PAGE}"
        f" items {{ trackId addedAt cursor track {{ {TRACK} }} }} }} }}"
    ),
    "library.liked(first: 50) edges+node": (
        f"query($u: ID!) {{ library(userId: $u) {{ id liked(first: 50) {{ {PAGE}"
        f" edges {{ addedAt cursor node {{ id {TRACK} }} }} }} }} }}"
    ),
    "root liked { trackIds } (10,000)": "query($u: ID!) { liked(userId: $u) { trackIds } }",
    "library.liked { trackIds } (10,000)": (
        "query($u: ID!) { library(userId: $u) { liked { trackIds } } }"
    ),
}
COUNT_QUERIES = {
    "library.liked { totalCount }": (
        'query { library(userId: "user:bench") { liked { totalCount } } }'
    ),
    "library.liked { trackIds }": 'query { library(userId: "user:bench") { liked { trackIds } } }',
}
PLAYLIST_QUERIES = {
    "root playlists { entries }": (
        'query { playlists(userId: "user:bench") { playlistId entries { trackId } } }'
    ),
    "library.playlists { nodes { tracks(first: 100) } }": (
        'query { library(userId: "user:bench") { playlists(first: 500) { nodes {'
        " playlistId tracks(first: 100) { edges { position node { trackId } } } } } } }"
    ),
}


def _prepared_store(likes: int) -> LibraryStore:
    """A store whose reads return pages built once: no I/O, no decoding."""
    at = datetime(2024, 1, 1, tzinfo=UTC)
    ids = [f"track:{i}" for i in range(likes)]
    page = models.Page(
        items=[
            models.Like(track_id=t, added_at=at + timedelta(minutes=i))
            for i, t in enumerate(ids[:50])
        ],
        total=likes,
        has_next=True,
        end_cursor="end",
        cursors=[f"c{i}" for i in range(50)],
        start_cursor="c0",
    )
    id_page = models.Page(items=ids, total=likes)
    tracks = {t: models.Track(track_id=t, title="T", artists=["A"], album="B") for t in ids[:50]}

    class View(LibraryView):
        def __init__(self) -> None:
            self.user_id, self.version = "user:bench", 1

        async def liked(self, **_: Any) -> models.Page[models.Like]:
            return page

        async def liked_track_ids(self, **_: Any) -> models.Page[str]:
            return id_page

    class Store(LibraryStore):
        def __init__(self) -> None:
            pass

        async def view(self, user_id: str) -> LibraryView:
            return View()

        async def tracks(
            self, track_ids: Any, *, build: Callable[..., Any] = models.Track.model_construct
        ) -> dict[str, Any]:
            return {t: build(**dict(tracks[t])) for t in track_ids}

    return Store()


async def cpu(repeat: int, likes: int) -> None:
    schema = build_schema()
    store = _prepared_store(likes)
    print(f"CPU per request in process, median of 5 x {repeat} (store reads stubbed):")
    for name, query in CPU_QUERIES.items():
        runs = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(repeat):
                result = await schema.execute(
                    query,
                    variable_values={"u": "user:bench"},
                    context_value=RequestContext(store=store),
                )
                assert not result.errors, result.errors
            runs.append((time.process_time() - started) / repeat * 1000)
        print(f"  {name:40} {statistics.median(runs):6.2f} ms")


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.reads = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "getMore", "aggregate"):
            self.reads += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def store_reads(count: int, entries: int, likes: int, repeat: int) -> None:
    server = EmbeddedMongo(Path(tempfile.mkdtemp(prefix="bench-graph-")) / "nx-27017")
    uri = await server.start()
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, event_listeners=[commands], tz_aware=True
    )
    try:
        store = LibraryStore(client["bench_graph"])
        await store.ensure_indexes()
        ids = [f"track:{i}" for i in range(max(entries, likes))]
        library = {
            "user_id": "user:bench",
            "tracks": [{"track_id": t, "title": t, "artists": ["A"]} for t in ids],
            "likes": [
                {"track_id": t, "added_at": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i)}
                for i, t in enumerate(ids[:likes])
            ],
            "plays": [],
            "playlists": [
                {
                    "playlist_id": f"p{p}",
                    "name": f"P{p}",
                    "entries": [{"track_id": t} for t in ids[:entries]],
                }
                for p in range(count)
            ],
        }
        await store.ingest(LibrarySnapshot.parse(library))
        schema = build_schema()
        print(
            f"{count} playlists of {entries} entries and {likes} likes on nx-27017,"
            f" median of {repeat}:"
        )
        for name, query in {**COUNT_QUERIES, **PLAYLIST_QUERIES}.items():
            times = []
            for _ in range(repeat):
                commands.reads = 0
                started = time.perf_counter()
                result = await schema.execute(query, context_value=RequestContext(store=store))
                times.append((time.perf_counter() - started) * 1000)
                assert not result.errors, result.errors
            print(f"  {name:52} {statistics.median(times):7.1f} ms, {commands.reads} reads")
    finally:
        await client.close()
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--likes", type=int, default=10_000)
    parser.add_argument("--playlists", type=int, default=50)
    parser.add_argument("--entries", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(cpu(args.repeat, args.likes))
    asyncio.run(store_reads(args.playlists, args.entries, args.likes, max(3, args.repeat // 20)))


if __name__ == "__main__":
    main()
