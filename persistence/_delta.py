"""Delta writes: what a sync writes for one kind, in proportion to what changed.

Items are compared with the committed snapshot's by the kind's key and content fields:
new and changed ones are inserted as documents of the sync's version, removed and changed
ones retired (``to`` = that version). Unchanged items are not touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pymongo.errors import BulkWriteError

from persistence import _documents as docs
from persistence._dialect import READ_BATCH
from persistence._kinds import Kind
from persistence._retry import only_duplicates, retrying
from persistence._snapshot import Lease
from persistence._tracks import batched
from persistence.models import SyncKind

log = logging.getLogger("librarycache.store")
Collection = Any  # a Motor or AsyncMongoClient collection (Motor ships no types)


@dataclass
class Delta:
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    updated: int = 0


async def replace_items(
    coll: Collection,
    kind: Kind,
    lease: Lease,
    new: Mapping[str, dict[str, Any]],
    *,
    filters: Sequence[dict[str, Any]],
    batch: int,
    renew: Callable[[], Awaitable[None]],
    user: str,
) -> Delta:
    """Write the difference between the committed snapshot's items and ``new``:
    new and changed items as documents of the lease's version, removed and changed
    ones retired (``to`` = that version)."""
    old: dict[str, dict[str, Any]] = {}
    projection = {"_id": 1, kind.key: 1, **dict.fromkeys(kind.content, 1)}
    for visible in filters:  # the committed snapshot's (none for a first sync)

        async def read(visible: dict[str, Any] = visible) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = await coll.find(
                visible, projection, batch_size=READ_BATCH
            ).to_list(None)
            return found

        old.update((d[kind.key], d) for d in await retrying("a sync", read))

    delta = Delta()
    inserts: list[dict[str, Any]] = []
    retire: list[str] = []
    for k, doc in new.items():
        before = old.get(k)
        if before is None:
            inserts.append(doc)
            delta.added += 1
        elif _same_content(before, doc, kind.content):
            delta.unchanged += 1
        else:
            inserts.append(doc)
            retire.append(before["_id"])
            delta.added += 1
            delta.removed += 1
            delta.updated += 1
    retire += [d["_id"] for k, d in old.items() if k not in new]
    delta.removed += len(old) - delta.unchanged - delta.updated

    for chunk in batched(inserts, batch):
        await retrying("a sync", partial(_insert, coll, chunk))
        await renew()
    for ids in batched(retire, batch):
        # ``userId`` too: routed to the user's shard, not broadcast. Idempotent.
        retired = {"userId": user, "_id": {"$in": ids}, **lease.writable_marks()}
        retire_one = partial(coll.update_many, retired, {"$set": {"to": lease.version}})
        await retrying("a sync", retire_one)
        await renew()
    return delta


async def _insert(coll: Collection, docs: list[dict[str, Any]]) -> None:
    """Insert new documents of this sync's version; a retry finds the ones a lost reply
    already wrote (their ``_id`` names the version, so they can only be ours)."""
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        if not only_duplicates(error):
            raise


class Progress:
    """Logs one line per sync phase, so a long sync on a large library shows where it is."""

    def __init__(self, user: str, version: int, kind: SyncKind) -> None:
        self._user = user
        self._version = version
        self._kind = kind
        self._started = time.perf_counter()

    def __call__(self, phase: str, **counts: int) -> None:
        elapsed = round((time.perf_counter() - self._started) * 1000)
        log.info(
            "%s %s: %s done after %d ms %s",
            self._kind.value.lower(),
            self._user,
            phase,
            elapsed,
            counts,
            extra={"userId": self._user, "version": self._version, "phase": phase, **counts},
        )


def _same_content(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Sequence[str]
) -> bool:
    return all(docs.normalized(before.get(f)) == after.get(f) for f in fields)
