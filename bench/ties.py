"""``python -m bench.ties``: what a page deep in a run of equal timestamps costs.

Bulk-imported libraries hold thousands of likes at one ``addedAt``. This seeds two users
of ``--likes`` likes each into an embedded nx-27017 store, one with every like at the same
second and one with every like at its own second, then reads the page of ``--first`` after
position ``--depth`` of each, ``--repeat`` times. It prints the median time per page, the
ratio (the budget of issue 10: at most 2x), and the documents each page read (counted in
the replies through PyMongo's command monitoring). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from bench.library import BASE
from persistence import LibrarySnapshot, LibraryStore
from server.embedded import EmbeddedMongo


class Returned(monitoring.CommandListener):
    """Counts the documents each reply carries, per collection."""

    def __init__(self) -> None:
        self.documents: Counter[str] = Counter()
        self._collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "getMore"):
            name = event.command.get("collection") or event.command.get("find")
            self._collections[event.request_id] = str(name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._collections.pop(event.request_id, None)
        cursor = event.reply.get("cursor") if name else None
        if name and cursor:
            batch = cursor.get("firstBatch", cursor.get("nextBatch", []))
            self.documents[name] += len(batch)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._collections.pop(event.request_id, None)


def _library(user: str, likes: int, tied: bool) -> LibrarySnapshot:
    ids = [f"t:{i:06d}" for i in range(likes)]
    return LibrarySnapshot.parse(
        {
            "user_id": user,
            "tracks": [{"track_id": t, "title": t, "artists": ["a"]} for t in ids],
            "likes": [
                {"track_id": t, "added_at": BASE if tied else BASE + timedelta(seconds=i)}
                for i, t in enumerate(ids)
            ],
            "plays": [],
            "playlists": [],
        }
    )


async def _store(db: Any) -> LibraryStore:
    try:
        from persistence import detect_dialect
    except ImportError:  # a store from before the dialect boundary (for a before figure)
        return LibraryStore(db)
    return LibraryStore(db, dialect=await detect_dialect(db))


async def measure(likes: int, depth: int, first: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "nx")
        uri = await server.start()
        returned = Returned()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, tz_aware=True, event_listeners=[returned], socketTimeoutMS=120_000
        )
        try:
            store = await _store(client["ties"])
            await store.ensure_indexes()
            results = {}
            for user, tied in (("user:tied", True), ("user:spread", False)):
                await store.ingest(_library(user, likes, tied))
                cursor = (await store.liked(user, first=depth)).end_cursor
                times = []
                for _ in range(repeat):
                    returned.documents.clear()
                    started = time.perf_counter()
                    page = await store.liked(user, first=first, after=cursor)
                    times.append(time.perf_counter() - started)
                    assert len(page.items) == min(first, likes - depth)
                results[user] = (statistics.median(times), returned.documents["likes"])
            (tied_s, tied_docs), (spread_s, spread_docs) = results.values()
            print(f"{likes} likes, page of {first} after position {depth}, {repeat} reads each")
            print(f"  all at one second : {tied_s * 1000:8.1f} ms/page, {tied_docs} likes read")
            print(
                f"  each its own second: {spread_s * 1000:7.1f} ms/page, {spread_docs} likes read"
            )
            print(f"  ratio tied/spread  : {tied_s / spread_s:8.2f}x (budget: at most 2x)")
        finally:
            await client.close()
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ties", description=__doc__)
    parser.add_argument("--likes", type=int, default=4000)
    parser.add_argument("--depth", type=int, default=3900)
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(measure(args.likes, args.depth, args.first, args.repeat))


if __name__ == "__main__":
    main()
