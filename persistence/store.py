"""LibraryStore: whole-library snapshots per user, replaced atomically without transactions.

How a sync stays all-or-nothing (see docs/design.md for the long form):

* Each user has one document in ``libraries`` holding the committed snapshot
  ``version``, a sync ``lease`` and a ``floor``: snapshots from ``floor`` up are
  intact in the store.
* A sync takes the lease (one conditional single-document update; a second
  concurrent sync is refused with ``SyncConflict``), writes only what changed
  under a new version number (new documents get ``from = new``, retired ones
  get ``to = new``), then flips ``version`` with one conditional update that
  also drops the lease. Readers resolve ``version`` first and read only that
  snapshot, so they see the old library or the new one, never a mix.
* A sync that dies leaves documents only visible to a version that was never
  committed; the next sync removes them before writing.
* The flip also records the versions handed out since the last commit as ``dead``:
  their syncs can never commit, and readers ignore what they wrote, even a write sent
  late by a sync that stalled past its lease.
* After the flip, documents no longer visible to the previous snapshot are
  deleted and ``floor`` moves up; a reader that raced that far behind notices
  ``floor`` above its version and reads again.

Only operations that Motor and PyMongo's AsyncMongoClient share are used, so the
driver is a one-line choice (``persistence.client``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import heapq
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, overload

import orjson
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from persistence import _documents as docs
from persistence._documents import LIVE, snapshot_filters
from persistence.errors import AlreadyIngested, InvalidInput, Problem, SyncConflict
from persistence.models import (
    LibrarySnapshot,
    Like,
    Page,
    Play,
    Playlist,
    SyncKind,
    SyncReport,
    Track,
    to_store_precision,
)

log = logging.getLogger("librarycache.store")

# A Motor or AsyncMongoClient database/collection. Typed loosely on purpose: Motor
# ships no type information, and only the subset both drivers share is used here.
Database = Any
Collection = Any

R = TypeVar("R")
_PER_USER: Final = ("likes", "plays", "playlists")
_POSITION_SLACK: Final = 16
_DEAD_KEPT: Final = 64
"""How many versions back a sync that never committed stays fenced off from readers: one
stalled past its lease across this many later sync attempts could still show a write."""
_DUPLICATE_KEY: Final = 11000
_READ_BATCH: Final = 10_000
"""Documents per reply of a long read. Drivers ask for 101 in the first reply; the wire
server then answers each further request with 101 more, so 10,000 likes took 100 round
trips and 5x the CPU. (MongoDB fills later replies up to 16 MiB; asking for more in the
first reply saves a round trip there too.)"""


@dataclass(frozen=True)
class StoreOptions:
    lease_seconds: float = 120.0
    """How long a sync may go without progress before another sync may take over."""
    write_batch: int = 1000
    """Documents per write command; keeps single commands short on slow servers."""
    read_retries: int = 5
    """How often a read that raced a sync's clean-up is repeated before giving up."""


@dataclass(frozen=True)
class _Lease:
    token: str
    current: int | None  # committed version when the lease was taken
    version: int  # the version this sync writes
    dead: tuple[int, ...] = ()  # versions known never to commit, as the library lists them

    @property
    def writable_marks(self) -> dict[str, Any]:
        """Filter for documents this sync may retire: live ones, or ones only a sync that
        cannot commit retired. Never a mark of a later version: a sync that lost its lease
        must not undo what the one that took over retired."""
        uncommitted = range(max((self.current or 0) + 1, self.version - _DEAD_KEPT), self.version)
        return {"to": {"$in": [LIVE, *self.dead, *uncommitted]}}


@dataclass
class _Delta:
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    updated: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LibraryStore:
    """Reads and writes user libraries; see the module docstring for the guarantees."""

    def __init__(
        self,
        db: Database,
        options: StoreOptions | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._options = options or StoreOptions()
        self._clock = clock
        self._libraries: Collection = db["libraries"]
        self._tracks: Collection = db["tracks"]
        self._likes: Collection = db["likes"]
        self._plays: Collection = db["plays"]
        self._playlists: Collection = db["playlists"]

    # ----------------------------------------------------------------- setup

    async def ensure_indexes(self) -> None:
        """Create the indexes every query uses; safe to call on every start."""
        for coll, order_key in ((self._likes, "addedAt"), (self._plays, "lastPlayedAt")):
            await coll.create_index(
                [("userId", 1), (order_key, -1), ("trackId", -1)], name=f"user_{order_key}"
            )
        await self._playlists.create_index([("userId", 1), ("playlistId", 1)], name="user_playlist")
        for name in _PER_USER:
            coll = self._db[name]
            await coll.create_index([("userId", 1), ("from", 1)], name="user_from")
            await coll.create_index([("userId", 1), ("to", 1)], name="user_to")
        if await self._is_nx_27017():
            # A stand-in workaround, never the production path on MongoDB. nx-27017 plans
            # a sorted find as a scan of the whole collection unless a field of the filter
            # has a single-field index of its own (docs/nx-27017-probes.md, item 6), so one
            # user's reads slowed down with every user added (69x from 1 to 200 users);
            # with this index it plans the compound ones above. On MongoDB it would only
            # duplicate their ``userId`` prefix, so it is not created there.
            for name in _PER_USER:
                await self._db[name].create_index([("userId", 1)], name="user_standin")

    async def _is_nx_27017(self) -> bool:
        """Whether the store is the nx-27017 stand-in (its ``buildInfo`` names it)."""
        try:
            reply = await self._db.command("buildInfo")
        except OperationFailure:  # e.g. a strict Stable API client: not the stand-in
            return False
        return bool(reply.get("process") == "nx_27017")

    async def ping(self) -> None:
        """Raise if the store does not answer."""
        await self._db.command("ping")

    # ---------------------------------------------------------------- writes

    async def ingest(self, snapshot: LibrarySnapshot) -> SyncReport:
        """Store a user's first snapshot; refused with ``AlreadyIngested`` if one exists."""
        return await self._replace(snapshot, SyncKind.INGEST)

    async def sync(self, snapshot: LibrarySnapshot) -> SyncReport:
        """Replace a user's likes, plays and playlists with ``snapshot`` as one atomic step.

        Upserts the snapshot's tracks (tracks are global and never deleted). Readers see
        the previous snapshot until the new one is whole. Writes are proportional to
        what changed. Raises ``SyncConflict`` while another sync of the user runs,
        ``InvalidInput`` (before writing anything) for unknown track references.
        """
        return await self._replace(snapshot, SyncKind.SYNC)

    async def _replace(self, snapshot: LibrarySnapshot, kind: SyncKind) -> SyncReport:
        started = time.perf_counter()
        user = snapshot.user_id
        await self._check_references(snapshot)
        if kind is SyncKind.INGEST and await self._committed_version(user) is not None:
            raise AlreadyIngested(user)

        lease = await self._acquire(user)
        committed = False
        try:
            if kind is SyncKind.INGEST and lease.current is not None:
                raise AlreadyIngested(user)
            await self._discard_uncommitted(user, lease.current, lease.version)
            progress = _Progress(user, lease.version, kind)

            tracks_upserted = await self._upsert_tracks(snapshot.tracks)
            progress("tracks", upserted=tracks_upserted)
            await self._renew(user, lease)

            likes = await self._replace_items(
                self._likes,
                user,
                lease,
                {
                    like.track_id: docs.like_to_doc(user, like, lease.version)
                    for like in snapshot.likes
                },
                key="trackId",
                content=("addedAt",),
            )
            progress("likes", added=likes.added, removed=likes.removed)
            await self._renew(user, lease)

            plays = await self._replace_items(
                self._plays,
                user,
                lease,
                {
                    play.track_id: docs.play_to_doc(user, play, lease.version)
                    for play in snapshot.plays
                },
                key="trackId",
                content=("lastPlayedAt",),
            )
            progress("plays", added=plays.added, removed=plays.removed)
            await self._renew(user, lease)

            playlists = await self._replace_items(
                self._playlists,
                user,
                lease,
                {
                    p.playlist_id: docs.playlist_to_doc(user, p, i, lease.version)
                    for i, p in enumerate(snapshot.playlists)
                },
                key="playlistId",
                content=("index", "name", "description", "snapshotId", "entries"),
            )
            progress("playlists", added=playlists.added, removed=playlists.removed)

            # A sync whose lease expired may still be writing under its own version;
            # clear anything it left so that it can never appear in our snapshot.
            await self._discard_uncommitted(user, lease.current, lease.version)
            written = tracks_upserted + sum(d.added + d.removed for d in (likes, plays, playlists))
            report = SyncReport(
                user_id=user,
                kind=kind,
                version=lease.version,
                synced_at=to_store_precision(self._clock()),
                duration_ms=round((time.perf_counter() - started) * 1000),
                tracks_upserted=tracks_upserted,
                likes_added=likes.added,
                likes_removed=likes.removed,
                plays_added=plays.added,
                plays_removed=plays.removed,
                playlists_added=playlists.added - playlists.updated,
                playlists_removed=playlists.removed - playlists.updated,
                playlists_updated=playlists.updated,
                playlists_unchanged=playlists.unchanged,
                documents_written=written,
                total_likes=len(snapshot.likes),
                total_plays=len(snapshot.plays),
                total_playlists=len(snapshot.playlists),
            )
            dead = await self._commit(user, lease, report)
            committed = True
            progress("committed", documents_written=written)
        finally:
            if not committed:
                await self._release(user, lease)
        await self._collect_garbage(user, lease.current, dead)
        return report

    async def _check_references(self, snapshot: LibrarySnapshot) -> None:
        missing = snapshot.referenced_track_ids()
        if not missing:
            return
        cached: set[str] = set()
        for batch in _batched(list(missing), self._options.write_batch):
            cursor = self._tracks.find({"_id": {"$in": batch}}, {"_id": 1}, batch_size=len(batch))
            found = await cursor.to_list(None)
            cached.update(d["_id"] for d in found)
        problems = [
            Problem(path, f'"{track_id}" is neither in tracks nor cached')
            for track_id, path in missing.items()
            if track_id not in cached
        ]
        if problems:
            raise InvalidInput(problems)

    async def _committed_version(self, user: str) -> int | None:
        doc = await self._libraries.find_one({"_id": user}, {"version": 1})
        return None if doc is None else doc.get("version")

    async def _acquire(self, user: str) -> _Lease:
        now = self._clock()
        await self._libraries.update_one(
            {"_id": user}, {"$setOnInsert": {"nextVersion": 0, "floor": 0}}, upsert=True
        )
        token = secrets.token_hex(16)
        # An explicit $and, as in _ordered_page: for the implicit form nx-27017 would match
        # another user's document whose lease expired, and hand this sync that lease.
        free = {"$or": [{"lease": None}, {"lease.expiresAt": {"$lt": now}}]}
        doc = await self._libraries.find_one_and_update(
            {"$and": [{"_id": user}, free]},
            {
                "$set": {"lease": {"token": token, "expiresAt": self._lease_expiry(now)}},
                "$inc": {"nextVersion": 1},
            },
            projection={"version": 1, "nextVersion": 1, "dead": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise SyncConflict(user)
        return _Lease(
            token=token,
            current=doc.get("version"),
            version=doc["nextVersion"],
            dead=tuple(doc.get("dead", ())),
        )

    def _lease_expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._options.lease_seconds)

    async def _renew(self, user: str, lease: _Lease) -> None:
        result = await self._libraries.update_one(
            {"_id": user, "lease.token": lease.token},
            {"$set": {"lease.expiresAt": self._lease_expiry(self._clock())}},
        )
        if result.matched_count != 1:
            raise SyncConflict(user, "this sync stalled past its lease and another sync took over")

    async def _release(self, user: str, lease: _Lease) -> None:
        # Best effort: if the store is down the lease simply expires.
        with contextlib.suppress(PyMongoError):
            await self._libraries.update_one(
                {"_id": user, "lease.token": lease.token}, {"$unset": {"lease": ""}}
            )

    async def _commit(self, user: str, lease: _Lease, report: SyncReport) -> tuple[int, ...]:
        """Flip the committed version; returns the versions now known never to commit."""
        # Every version handed out since the committed one belonged to a sync that lost or
        # gave up the lease: none can commit any more. Kept for _DEAD_KEPT versions, so that
        # a sync stalled past its lease cannot make a late write visible.
        dead = tuple(
            v
            for v in sorted({*lease.dead, *range((lease.current or 0) + 1, lease.version)})
            if v > lease.version - _DEAD_KEPT
        )
        result = await self._libraries.update_one(
            {"_id": user, "lease.token": lease.token},
            {
                "$set": {
                    "version": lease.version,
                    "floor": lease.current or 0,
                    "dead": list(dead),
                    "counts": {
                        "likes": report.total_likes,
                        "plays": report.total_plays,
                        "playlists": report.total_playlists,
                    },
                    "lastSync": _report_to_doc(report),
                },
                "$unset": {"lease": ""},
            },
        )
        if result.matched_count != 1:
            raise SyncConflict(user, "this sync stalled past its lease and another sync took over")
        return dead

    async def _discard_uncommitted(self, user: str, current: int | None, own: int) -> None:
        """Undo what syncs that never committed wrote: versions between ``current`` and ``own``.

        Those syncs took the lease before this one, so none of them can commit any more.
        Versions above ``own`` belong to a sync that took the lease from this one, which may
        have committed already: this sync, stalled past its lease, must leave them alone.
        """
        dead = {"$gt": current or 0, "$lt": own}
        for name in _PER_USER:
            coll = self._db[name]
            await coll.delete_many({"userId": user, "from": dead})
            await coll.update_many({"userId": user, "to": dead}, {"$set": {"to": LIVE}})

    async def _collect_garbage(self, user: str, previous: int | None, dead: Sequence[int]) -> None:
        """Delete documents that neither the new nor the previous snapshot uses.

        Also clears what syncs that never committed wrote: harmless to readers, who ignore
        ``dead`` versions, but taking up room.
        """
        never = list(dead)
        try:
            for name in _PER_USER:
                coll = self._db[name]
                if previous is not None:
                    retired = {"$lte": previous, "$nin": never}
                    await coll.delete_many({"userId": user, "to": retired})
                if never:
                    await coll.delete_many({"userId": user, "from": {"$in": never}})
                    await coll.update_many(
                        {"userId": user, "to": {"$in": never}}, {"$set": {"to": LIVE}}
                    )
        except PyMongoError:
            # The sync is committed; the next one collects what is left.
            log.warning("garbage collection failed", extra={"userId": user}, exc_info=True)

    async def _upsert_tracks(self, tracks: Sequence[Track]) -> int:
        """Write the tracks that are new or changed; returns how many were written.

        Streams: at most one batch of documents is built and unwritten at a time.
        """
        wanted = {t.track_id: t for t in tracks}
        size = self._options.write_batch
        written = 0
        pending: list[tuple[str, dict[str, Any], InsertOne[dict[str, Any]] | UpdateOne]] = []
        for batch in _batched(list(wanted), size):
            cursor = self._tracks.find({"_id": {"$in": batch}}, batch_size=len(batch))
            stored = {d["_id"]: d for d in await cursor.to_list(None)}
            for track_id in batch:
                doc = docs.track_to_doc(wanted[track_id])
                old = stored.get(track_id)
                # Tracks nobody cached yet are inserted: a third of the CPU of upserts.
                if old is None:
                    pending.append((track_id, doc, InsertOne({"_id": track_id, **doc})))
                elif any(old.get(k) != v for k, v in doc.items()):
                    op = UpdateOne({"_id": track_id}, {"$set": doc}, upsert=True)
                    pending.append((track_id, doc, op))
            while len(pending) >= size:
                written += await self._write_tracks(pending[:size])
                del pending[:size]
        if pending:
            written += await self._write_tracks(pending)
        return written

    async def _write_tracks(
        self, ops: Sequence[tuple[str, dict[str, Any], InsertOne[dict[str, Any]] | UpdateOne]]
    ) -> int:
        try:
            await self._tracks.bulk_write([op for _, _, op in ops], ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != _DUPLICATE_KEY for e in error.details["writeErrors"]):
                raise
            # Another sync cached some of them since we looked: write ours over them
            # (upserts are idempotent, so the inserts that went through don't mind).
            retry = [
                UpdateOne({"_id": track_id}, {"$set": doc}, upsert=True)
                for track_id, doc, op in ops
                if isinstance(op, InsertOne)
            ]
            await self._tracks.bulk_write(retry, ordered=False)
        return len(ops)

    async def _replace_items(
        self,
        coll: Collection,
        user: str,
        lease: _Lease,
        new: Mapping[str, dict[str, Any]],
        *,
        key: str,
        content: tuple[str, ...],
    ) -> _Delta:
        old: dict[str, dict[str, Any]] = {}
        if lease.current is not None:
            projection = {"_id": 1, key: 1, **dict.fromkeys(content, 1)}
            for visible in snapshot_filters(user, lease.current, lease.dead):
                cursor = coll.find(visible, projection, batch_size=_READ_BATCH)
                old.update((d[key], d) for d in await cursor.to_list(None))

        delta = _Delta()
        inserts: list[dict[str, Any]] = []
        retire: list[str] = []
        for k, doc in new.items():
            before = old.get(k)
            if before is None:
                inserts.append(doc)
                delta.added += 1
            elif _same_content(before, doc, content):
                delta.unchanged += 1
            else:
                inserts.append(doc)
                retire.append(before["_id"])
                delta.added += 1
                delta.removed += 1
                delta.updated += 1
        retire += [d["_id"] for k, d in old.items() if k not in new]
        delta.removed += len(old) - delta.unchanged - delta.updated

        for batch in _batched(inserts, self._options.write_batch):
            await coll.insert_many(batch, ordered=False)
            await self._renew(user, lease)
        for ids in _batched(retire, self._options.write_batch):
            await coll.update_many(
                {"_id": {"$in": ids}, **lease.writable_marks},
                {"$set": {"to": lease.version}},
            )
            await self._renew(user, lease)
        return delta

    # ----------------------------------------------------------------- reads

    async def liked(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[Like]:
        """The user's likes, newest ``addedAt`` first (ties by ``trackId``), from one snapshot.

        ``first=None`` returns all of them. Unknown users get an empty page.
        """
        return await self._ordered_page(
            self._likes, user_id, "likes", "addedAt", docs.like_from_doc, first, after
        )

    async def liked_track_ids(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[str]:
        """The same page as ``liked``, of track ids alone: several times cheaper for a whole
        library, as no ``Like`` is built. Of a whole list (``first=None``) only the end
        cursor is known; asking for another item's cursor raises ``LookupError``."""
        return await self._ordered_page(
            self._likes, user_id, "likes", "addedAt", _track_id, first, after
        )

    async def plays(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[Play]:
        """The user's plays, newest ``lastPlayedAt`` first, from one snapshot (see ``liked``)."""
        return await self._ordered_page(
            self._plays, user_id, "plays", "lastPlayedAt", docs.play_from_doc, first, after
        )

    async def played_track_ids(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[str]:
        """The same page as ``plays``, of track ids alone (see ``liked_track_ids``)."""
        return await self._ordered_page(
            self._plays, user_id, "plays", "lastPlayedAt", _track_id, first, after
        )

    async def playlists(self, user_id: str) -> list[Playlist]:
        """The user's playlists in the order the source gave them, from one snapshot."""

        async def read(version: int, library: Mapping[str, Any]) -> list[Playlist]:
            found = []
            for visible in snapshot_filters(user_id, version, library.get("dead", ())):
                cursor = self._playlists.find(visible, batch_size=_READ_BATCH)
                found += await cursor.to_list(None)
            found.sort(key=lambda d: d["index"])
            return [docs.playlist_from_doc(d) for d in found]

        return await self._read_snapshot(user_id, read, [])

    async def playlist(self, user_id: str, playlist_id: str) -> Playlist | None:
        """One playlist of the user's current snapshot, or ``None``."""

        async def read(version: int, library: Mapping[str, Any]) -> Playlist | None:
            for visible in snapshot_filters(user_id, version, library.get("dead", ())):
                doc = await self._playlists.find_one({**visible, "playlistId": playlist_id})
                if doc is not None:
                    return docs.playlist_from_doc(doc)
            return None

        return await self._read_snapshot(user_id, read, None)

    async def tracks(self, track_ids: Iterable[str]) -> dict[str, Track]:
        """Cached metadata for the ids that are known; unknown ids are left out."""
        ids = list(track_ids)
        found = await self._tracks.find({"_id": {"$in": ids}}, batch_size=len(ids)).to_list(None)
        return {d["_id"]: docs.track_from_doc(d) for d in found}

    async def last_sync(self, user_id: str) -> SyncReport | None:
        """The report of the user's last committed ingest or sync."""
        doc = await self._libraries.find_one({"_id": user_id}, {"lastSync": 1})
        if doc is None or "lastSync" not in doc:
            return None
        return _report_from_doc(doc["lastSync"])

    async def _ordered_page(
        self,
        coll: Collection,
        user_id: str,
        count_key: str,
        order_key: str,
        decode: Callable[[Mapping[str, Any]], R],
        first: int | None,
        after: str | None,
    ) -> Page[R]:
        position = _decode_cursor(after) if after else None

        async def read(version: int, library: Mapping[str, Any]) -> Page[R]:
            filters = snapshot_filters(user_id, version, library.get("dead", ()))
            # A whole list of bare ids needs the order key of its last item alone (for
            # ``end_cursor``), read apart: decoding 10,000 tz-aware datetimes that nothing
            # else reads cost a third of such a read's CPU.
            keys_only = first is None and position is None and len(filters) == 1
            keys_only = keys_only and decode is _track_id
            projection = {"_id": 0, "trackId": 1, **({} if keys_only else {order_key: 1})}
            wanted = None if first is None else first + 1
            pages = [
                await self._read_after(coll, filters[0], projection, order_key, position, wanted)
            ]
            # The documents only a dead version retired: few, so read whole and cut here.
            pages += [
                _after(await coll.find(f, projection).to_list(None), order_key, position, wanted)
                for f in filters[1:]
            ]
            found = pages[0]
            if len(pages) > 1:  # only for users with dead versions: merge the sorted parts
                merged = heapq.merge(*pages, key=lambda d: _sort_key(d, order_key), reverse=True)
                found = list(itertools.islice(merged, wanted))
            has_next = first is not None and len(found) > first
            found = found[:first] if first is not None else found
            last = None
            if keys_only and found:
                # The same filter in reverse order: its first document is the last item.
                reverse = coll.find(
                    filters[0], {"_id": 0, "trackId": 1, order_key: 1}, batch_size=1
                )
                reverse = reverse.sort([(order_key, 1), ("trackId", 1)]).limit(1)
                ends = await reverse.to_list(None)
                if not ends:  # cannot happen within one snapshot
                    raise SyncConflict(user_id, "the library changed while it was being read")
                last = ends[0]
            cursors = _Cursors(found, order_key, last)
            return Page(
                items=[decode(d) for d in found],
                total=library.get("counts", {}).get(count_key, 0),
                has_next=has_next,
                end_cursor=cursors[-1] if cursors else None,
                cursors=cursors,
            )

        return await self._read_snapshot(user_id, read, Page(items=[], total=0))

    @staticmethod
    async def _read_after(
        coll: Collection,
        query: dict[str, Any],
        projection: dict[str, Any],
        order_key: str,
        position: tuple[datetime, str] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` documents matching ``query``, newest first, after ``position``.

        The position is applied as ``order_key <= at`` in the query and exactly here: an
        ``$or`` of (older) and (as old, lower id) would be the one-query form, but
        nx-27017 mis-ANDs it, and it compares datetimes only to the second. Items at the
        cursor's own second are few, so the read widens until enough of them pass.
        """
        never: frozenset[int] = frozenset()
        if position is not None:
            query = {**query, order_key: {"$lte": position[0]}}
            # nx-27017 plans ``$nin`` beside a range five times slower; documents of dead
            # versions are few (the next sync removes them), so they are dropped here.
            if "$nin" in query["from"]:
                written = dict(query["from"])
                never = frozenset(written.pop("$nin"))
                query["from"] = written
                projection = {**projection, "from": 1}
        # The cursor's own item matches ``<=`` too, and on nx-27017 so does the rest of its
        # second: read a little more than asked up front rather than twice.
        n = None if limit is None else limit + (_POSITION_SLACK if position is not None else 0)
        batch = _READ_BATCH if n is None else n
        while True:
            cursor = coll.find(query, projection, batch_size=batch)
            cursor = cursor.sort([(order_key, -1), ("trackId", -1)])
            if n is not None:
                cursor = cursor.limit(n)
            found: list[dict[str, Any]] = await cursor.to_list(None)
            if position is None:
                return found
            kept = [
                d
                for d in found
                if _sort_key(d, order_key) < position and d.get("from") not in never
            ]
            if n is None or limit is None or len(found) < n or len(kept) >= limit:
                return kept if limit is None else kept[:limit]
            n *= 2

    async def _read_snapshot(
        self,
        user_id: str,
        read: Callable[[int, Mapping[str, Any]], Awaitable[R]],
        empty: R,
    ) -> R:
        """Run ``read`` against the user's committed snapshot, as one consistent view."""
        for _ in range(self._options.read_retries):
            library = await self._libraries.find_one(
                {"_id": user_id}, {"version": 1, "counts": 1, "dead": 1}
            )
            if library is None or library.get("version") is None:
                return empty
            version = library["version"]
            result = await read(version, library)
            # Garbage collection raises ``floor`` before it deletes anything, so if the
            # floor is still at or below our version, nothing we read was collected.
            check = await self._libraries.find_one({"_id": user_id}, {"floor": 1})
            if check is not None and check.get("floor", 0) <= version:
                return result
        raise SyncConflict(user_id, "the library changed repeatedly while it was being read")


class _Progress:
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


def _sort_key(doc: Mapping[str, Any], order_key: str) -> tuple[datetime, str]:
    return docs.utc(doc[order_key]), doc["trackId"]


def _after(
    found: list[dict[str, Any]],
    order_key: str,
    position: tuple[datetime, str] | None,
    limit: int | None,
) -> list[dict[str, Any]]:
    """``found`` newest first, after ``position``, at most ``limit``: in Python."""
    found.sort(key=lambda d: _sort_key(d, order_key), reverse=True)
    if position is not None:
        found = [d for d in found if _sort_key(d, order_key) < position]
    return found if limit is None else found[:limit]


def _same_content(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Sequence[str]
) -> bool:
    return all(docs.normalized(before.get(f)) == after.get(f) for f in fields)


T = TypeVar("T")


def _batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _track_id(doc: Mapping[str, Any]) -> str:
    track_id: str = doc["trackId"]
    return track_id


class _Cursors(Sequence[str]):
    """The cursors of a page's items, each encoded when it is read.

    Encoding costs more than decoding an item, and most reads of a whole library never
    ask for a cursor; a page of 50 is encoded as cheaply either way.
    """

    def __init__(
        self,
        found: Sequence[Mapping[str, Any]],
        order_key: str,
        last: Mapping[str, Any] | None = None,
    ) -> None:
        """``last``: the last item with its order key, when ``found`` was read without it
        (a whole list of bare ids); then only the last cursor (the end cursor) is known."""
        self._found = found
        self._order_key = order_key
        self._last = last

    def __len__(self) -> int:
        return len(self._found)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._found))[index]]
        if self._last is not None and index in (-1, len(self._found) - 1):
            return self._encode(self._last)
        return self._encode(self._found[index])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def _encode(self, doc: Mapping[str, Any]) -> str:
        if self._order_key not in doc:
            raise LookupError("a whole list of bare ids knows only its end cursor")
        return _encode_cursor(docs.utc(doc[self._order_key]), doc["trackId"])


def _encode_cursor(at: datetime, track_id: str) -> str:
    raw = orjson.dumps([at.isoformat(), track_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, track_id = orjson.loads(raw)
        return datetime.fromisoformat(at), str(track_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidInput.one(
            "after", f'"{cursor[:64]}" is not a cursor this server issued'
        ) from None


def _report_to_doc(report: SyncReport) -> dict[str, Any]:
    doc = dict(report.__dict__)
    doc["kind"] = report.kind.value
    return doc


def _report_from_doc(doc: Mapping[str, Any]) -> SyncReport:
    values = dict(doc)
    values["kind"] = SyncKind(values["kind"])
    values["synced_at"] = docs.utc(values["synced_at"])
    return SyncReport(**values)
