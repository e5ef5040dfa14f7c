"""The global ``tracks`` collection: one document per track, keyed by ``_id`` = track id.

Tracks are shared by every user and never deleted. Every command here targets ``_id``
(an ``$in`` list or one id), so each is routed by a hashed ``_id`` shard key, and the
stand-in upserts fast (STANDINS.md: upserts filtered on another field are quadratic there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from operator import ne
from typing import Any, Final, TypeVar

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from persistence import _documents as docs
from persistence._retry import retrying
from persistence.errors import InvalidInput, Problem
from persistence.models import LibrarySnapshot, Track

Collection = Any  # a Motor or AsyncMongoClient collection (Motor ships no types)
_DUPLICATE_KEY: Final = 11000
_Pending = tuple[str, dict[str, Any], bool]
"""(track id, its document, new): a new track's document carries its ``_id``, to be inserted."""
T = TypeVar("T")


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Tracks:
    def __init__(self, tracks: Collection, *, batch: int) -> None:
        self._tracks = tracks
        self._batch = batch

    async def check_references(self, snapshot: LibrarySnapshot) -> None:
        """``InvalidInput`` naming the first place of each track id that the snapshot
        names and neither it nor the store holds."""
        missing = snapshot.referenced_track_ids()
        if not missing:
            return
        cached: set[str] = set()
        for batch in batched(list(missing), self._batch):
            cached.update(
                d["_id"] for d in await retrying("a sync", partial(self._find, batch, {"_id": 1}))
            )
        problems = [
            Problem(path, f'"{track_id}" is neither in tracks nor cached')
            for track_id, path in missing.items()
            if track_id not in cached
        ]
        if problems:
            raise InvalidInput(problems)

    async def read(self, ids: Iterable[str], build: Callable[..., T]) -> dict[str, T]:
        """Cached metadata of the ``ids`` that are known, asked in bounded batches, each
        built by ``build`` from ``Track``'s fields as keywords."""
        found: dict[str, T] = {}
        fields = docs.track_fields
        for batch in batched(list(ids), self._batch):
            found.update((d["_id"], build(**fields(d))) for d in await self._find(batch))
        return found

    async def _find(
        self, ids: list[str], projection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        cursor = self._tracks.find({"_id": {"$in": ids}}, projection, batch_size=len(ids))
        found: list[dict[str, Any]] = await cursor.to_list(None)
        return found

    async def upsert(self, tracks: Sequence[Track]) -> int:
        """Write the tracks that are new or changed; returns how many were written.

        Streams: at most one batch of documents is built and unwritten at a time.
        """
        wanted = {t.track_id: t for t in tracks}
        size = self._batch
        written = 0
        pending: list[_Pending] = []
        for batch in batched(list(wanted), size):
            stored = {d["_id"]: d for d in await retrying("a sync", partial(self._find, batch))}
            for track_id in batch:
                doc = docs.track_to_doc(wanted[track_id])
                old = stored.get(track_id)
                # Tracks nobody cached yet are inserted: a third of the CPU of upserts.
                if old is None:
                    doc["_id"] = track_id
                    pending.append((track_id, doc, True))
                # ``old.get(k) != v`` for each key, in C: a sync compares every track.
                elif any(map(ne, map(old.get, doc), doc.values())):
                    pending.append((track_id, doc, False))
            while len(pending) >= size:
                written += await retrying("a sync", partial(self._write, pending[:size]))
                del pending[:size]
        if pending:
            written += await retrying("a sync", partial(self._write, pending))
        return written

    async def _write(self, ops: Sequence[_Pending]) -> int:
        """Idempotent: a retry turns the inserts an earlier attempt applied into upserts."""
        # New tracks by ``insert_many`` (plain documents: no operation object per track),
        # changed ones by upserts.
        new = [doc for _, doc, is_new in ops if is_new]
        changed = [
            UpdateOne({"_id": track_id}, {"$set": doc}, upsert=True)
            for track_id, doc, is_new in ops
            if not is_new
        ]
        if new:
            try:
                await self._tracks.insert_many(new, ordered=False)
            except BulkWriteError as error:
                if any(e.get("code") != _DUPLICATE_KEY for e in error.details["writeErrors"]):
                    raise
                # Another sync cached some of them since we looked: write ours over them
                # (upserts are idempotent, so the inserts that went through don't mind).
                changed += [
                    UpdateOne({"_id": doc["_id"]}, {"$set": _without_id(doc)}, upsert=True)
                    for doc in new
                ]
        if changed:
            await self._tracks.bulk_write(changed, ordered=False)
        return len(ops)


def _without_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}
