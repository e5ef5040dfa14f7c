"""The snapshot protocol: how a sync replaces a library atomically, without transactions.

* Each user has one document in ``libraries`` holding the committed snapshot ``version``,
  a sync ``lease`` and a ``floor``: snapshots from ``floor`` up are intact in the store.
* A sync takes the lease (one conditional single-document update; a second concurrent
  sync is refused with ``SyncConflict``), writes only what changed under a new version
  number (new documents get ``from = new``, retired ones get ``to = new``), then flips
  ``version`` with one conditional update that also drops the lease. Readers resolve
  ``version`` first and read only that snapshot, so they see the old library or the new
  one, never a mix.
* A sync that dies leaves documents only visible to a version that was never committed;
  the next sync removes them before writing.
* The flip also records the versions handed out since the last commit as ``dead``: their
  syncs can never commit, and readers ignore what they wrote, even a write sent late by a
  sync that stalled past its lease.
* After the flip, documents no longer visible to the previous snapshot are deleted and
  ``floor`` moves up to it; a view still reading an older version notices ``floor`` above
  its version and raises ``SnapshotExpired`` (retryable) instead of returning a mix.

Every command on a per-user collection here carries ``userId`` equality, so each is
routed to one shard when per-user collections are sharded on ``{userId: 1, ...}``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from persistence._documents import LIVE, report_to_doc
from persistence._kinds import KINDS
from persistence._retry import retrying
from persistence.errors import StoreUnavailable, SyncConflict
from persistence.models import SyncReport

log = logging.getLogger("librarycache.store")

Collection = Any  # a Motor or AsyncMongoClient collection (Motor ships no types)

DEAD_KEPT: Final = 64
"""How many versions back a sync that never committed stays fenced off from readers: one
stalled past its lease across this many later sync attempts could still show a write."""


@dataclass(frozen=True)
class Lease:
    token: str
    current: int | None  # committed version when the lease was taken
    version: int  # the version this sync writes
    dead: tuple[int, ...] = ()  # versions known never to commit, as the library lists them

    def writable_marks(self) -> dict[str, Any]:
        """Filter for documents this sync may retire: live ones, or ones only a sync that
        cannot commit retired. Never a mark of a later version: a sync that lost its lease
        must not undo what the one that took over retired."""
        uncommitted = range(max((self.current or 0) + 1, self.version - DEAD_KEPT), self.version)
        return {"to": {"$in": [LIVE, *self.dead, *uncommitted]}}


class Snapshots:
    """The lease, the version flip and the clean-up of one store's libraries."""

    def __init__(
        self,
        libraries: Collection,
        collections: Mapping[str, Collection],
        *,
        lease_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._libraries = libraries
        self._collections = collections
        self._lease_seconds = lease_seconds
        self._clock = clock

    async def committed_version(self, user: str) -> int | None:
        doc = await self._libraries.find_one({"_id": user}, {"version": 1})
        return None if doc is None else doc.get("version")

    async def acquire(self, user: str) -> Lease:
        """Take the user's sync lease, or raise ``SyncConflict`` while another sync holds it."""
        now = self._clock()
        await self._libraries.update_one(
            {"_id": user}, {"$setOnInsert": {"nextVersion": 0, "floor": 0}}, upsert=True
        )
        token = secrets.token_hex(16)
        free = {"$or": [{"lease": None}, {"lease.expiresAt": {"$lt": now}}]}
        doc = await self._libraries.find_one_and_update(
            # An explicit $and: for the implicit form nx-27017 would match another user's
            # document whose lease expired, and hand this sync that lease. It is plain
            # MongoDB too, so this stays out of the dialect.
            {"$and": [{"_id": user}, free]},
            {
                "$set": {"lease": {"token": token, "expiresAt": self._expiry(now)}},
                "$inc": {"nextVersion": 1},
            },
            projection={"version": 1, "nextVersion": 1, "dead": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise SyncConflict(user)
        return Lease(
            token=token,
            current=doc.get("version"),
            version=doc["nextVersion"],
            dead=tuple(doc.get("dead", ())),
        )

    def _expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._lease_seconds)

    async def renew(self, user: str, lease: Lease) -> None:
        """Extend the lease; ``SyncConflict`` if another sync took it over."""
        result = await retrying(
            "a sync",
            lambda: self._libraries.update_one(
                {"_id": user, "lease.token": lease.token},
                {"$set": {"lease.expiresAt": self._expiry(self._clock())}},
            ),
        )
        if result.matched_count != 1:
            raise SyncConflict(user, "this sync stalled past its lease and another sync took over")

    async def release(self, user: str, lease: Lease) -> None:
        # Best effort: if the store is down the lease simply expires.
        with contextlib.suppress(PyMongoError):
            await self._libraries.update_one(
                {"_id": user, "lease.token": lease.token}, {"$unset": {"lease": ""}}
            )

    async def commit(
        self, user: str, lease: Lease, report: SyncReport, counts: Mapping[str, int]
    ) -> tuple[int, ...]:
        """Flip the committed version; returns the versions now known never to commit."""
        # Every version handed out since the committed one belonged to a sync that lost or
        # gave up the lease: none can commit any more. Kept for DEAD_KEPT versions, so that
        # a sync stalled past its lease cannot make a late write visible.
        dead = tuple(
            v
            for v in sorted({*lease.dead, *range((lease.current or 0) + 1, lease.version)})
            if v > lease.version - DEAD_KEPT
        )
        flip = {
            "$set": {
                "version": lease.version,
                "floor": lease.current or 0,
                "dead": list(dead),
                "counts": dict(counts),
                "lastSync": report_to_doc(report),
            },
            "$unset": {"lease": ""},
        }

        async def commit() -> bool:
            result = await self._libraries.update_one(
                {"_id": user, "lease.token": lease.token}, flip
            )
            if result.matched_count == 1:
                return True
            # A retry whose first attempt was applied (its reply lost) finds the lease
            # gone: the flip is ours if the committed version is.
            doc = await self._libraries.find_one({"_id": user}, {"version": 1})
            return doc is not None and doc.get("version") == lease.version

        if not await retrying("a sync", commit):
            raise SyncConflict(user, "this sync stalled past its lease and another sync took over")
        return dead

    async def discard_uncommitted(self, user: str, current: int | None, own: int) -> None:
        """Undo what syncs that never committed wrote: versions between ``current`` and ``own``.

        Those syncs took the lease before this one, so none of them can commit any more.
        Versions above ``own`` belong to a sync that took the lease from this one, which may
        have committed already: this sync, stalled past its lease, must leave them alone.
        """
        dead = {"$gt": current or 0, "$lt": own}
        for kind in KINDS:
            coll = self._collections[kind.name]
            # Both idempotent: retried on a transient failure.
            await retrying("a sync", partial(coll.delete_many, {"userId": user, "from": dead}))
            revive = partial(coll.update_many, {"userId": user, "to": dead}, {"$set": {"to": LIVE}})
            await retrying("a sync", revive)

    async def collect_garbage(self, user: str, previous: int | None, dead: Sequence[int]) -> None:
        """Delete documents that neither the new nor the previous snapshot uses.

        Also clears what syncs that never committed wrote: harmless to readers, who ignore
        ``dead`` versions, but taking up room.
        """
        never = list(dead)
        try:
            for kind in KINDS:
                coll = self._collections[kind.name]
                if previous is not None:
                    retired = {"$lte": previous, "$nin": never}
                    await coll.delete_many({"userId": user, "to": retired})
                if never:
                    await coll.delete_many({"userId": user, "from": {"$in": never}})
                    await coll.update_many(
                        {"userId": user, "to": {"$in": never}}, {"$set": {"to": LIVE}}
                    )
        except (PyMongoError, StoreUnavailable):
            # The sync is committed; the next one collects what is left.
            log.warning("garbage collection failed", extra={"userId": user}, exc_info=True)
