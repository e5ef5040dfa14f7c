"""LibraryStore: whole-library snapshots per user, replaced atomically without transactions.

The store is a facade over one-concept modules:

* ``_snapshot``: the protocol that makes a sync all-or-nothing (lease, version flip,
  clean-up) — read it first;
* ``_kinds``: the per-user kinds (likes, plays, playlists), described once; this module
  derives their indexes from it, ``_delta`` their writes, ``reads`` their pages;
* ``reads``: ``LibraryView``, one pinned snapshot, and its Relay-style paging;
* ``_tracks``: the global tracks collection;
* ``_dialect``: every choice made for the embedded stand-in, apart from MongoDB's forms.

Only operations that Motor and PyMongo's AsyncMongoClient share are used, so the driver
is a one-line choice (``persistence.client``).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar, overload

from pymongo.errors import PyMongoError

from persistence._delta import Delta, Progress, replace_items
from persistence._dialect import Dialect, MongoDialect
from persistence._kinds import KINDS
from persistence._retry import is_transient, retrying, unavailable
from persistence._snapshot import Snapshots
from persistence._tracks import Tracks
from persistence.client import deadline
from persistence.errors import AlreadyIngested, InvalidInput, SnapshotExpired
from persistence.models import (
    MAX_ID_LENGTH,
    LibrarySnapshot,
    Like,
    Page,
    Play,
    Playlist,
    PlaylistEntry,
    PlaylistHeader,
    SyncKind,
    SyncReport,
    Track,
    to_store_precision,
)
from persistence.reads import LIBRARY_FIELDS, LibraryView

log = logging.getLogger("librarycache.store")

# A Motor or AsyncMongoClient database/collection. Typed loosely on purpose: Motor
# ships no type information, and only the subset both drivers share is used here.
Database = Any
Collection = Any

R = TypeVar("R")


@dataclass(frozen=True)
class StoreOptions:
    lease_seconds: float = 120.0
    """How long a sync may go without progress before another sync may take over."""
    write_batch: int = 1000
    """Documents per write command, and ids per track lookup; keeps commands short."""
    read_retries: int = 5
    """How often the one-shot reads (``liked`` ...) start again on a fresh view when a
    sync's clean-up overtook them."""
    first_contact_seconds: float = 5.0
    """How long a request's first command may wait for the store (server selection, the
    client's ``serverSelectionTimeoutMS``). Under a request deadline PyMongo waits for a
    server as long as the deadline allows; capping the first command keeps an outage's
    answer prompt (``StoreUnavailable``) while later commands keep the whole deadline."""


class SyncObserver(Protocol):
    """Told about every ingest and sync (e.g. ``server.metrics``); must not raise."""

    def sync_committed(self, report: SyncReport) -> None: ...

    def sync_failed(self, user_id: str, kind: SyncKind, error: BaseException) -> None: ...


class _Unobserved:
    def sync_committed(self, report: SyncReport) -> None:
        pass

    def sync_failed(self, user_id: str, kind: SyncKind, error: BaseException) -> None:
        pass


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_read_id(name: str, value: str) -> None:
    # An id longer than any stored one cannot match; refusing it keeps a 10 MB argument
    # from travelling to the store.
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput.one(
            name, f"is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
        )


class LibraryStore:
    """Reads and writes user libraries; see ``persistence._snapshot`` for the guarantees."""

    def __init__(
        self,
        db: Database,
        options: StoreOptions | None = None,
        *,
        dialect: Dialect | None = None,
        observer: SyncObserver | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """``dialect``: chosen once at start-up (``persistence.detect_dialect``); MongoDB's
        own by default."""
        self._db = db
        self._options = options or StoreOptions()
        self.dialect: Dialect = dialect or MongoDialect()
        self._observer: SyncObserver = observer or _Unobserved()
        self._clock = clock
        self._libraries: Collection = db["libraries"]
        self._collections: dict[str, Collection] = {k.name: db[k.name] for k in KINDS}
        self._collections["libraries"] = self._libraries
        self._likes = self._collections["likes"]
        self._snapshots = Snapshots(
            self._libraries,
            self._collections,
            lease_seconds=self._options.lease_seconds,
            clock=clock,
        )
        self._tracks = Tracks(db["tracks"], batch=self._options.write_batch)

    # ----------------------------------------------------------------- setup

    async def ensure_indexes(self) -> None:
        """Create the indexes every query uses; safe to call on every start."""
        for kind in KINDS:
            for name, keys in kind.indexes():
                await self._collections[kind.name].create_index(keys, name=name)
        for collection, name, keys in self.dialect.extra_indexes():
            await self._db[collection].create_index(keys, name=name)

    async def ping(self) -> None:
        """Raise if the store does not answer."""
        await self._db.command("ping")

    # ---------------------------------------------------------------- writes

    async def ingest(self, snapshot: LibrarySnapshot) -> SyncReport:
        """Store a user's first snapshot; refused with ``AlreadyIngested`` if one exists."""
        return await self._observed(snapshot, SyncKind.INGEST)

    async def sync(self, snapshot: LibrarySnapshot) -> SyncReport:
        """Replace a user's likes, plays and playlists with ``snapshot`` as one atomic step.

        Upserts the snapshot's tracks (tracks are global and never deleted). Readers see
        the previous snapshot until the new one is whole. Writes are proportional to
        what changed. Raises ``SyncConflict`` while another sync of the user runs,
        ``InvalidInput`` (before writing anything) for unknown track references.
        """
        return await self._observed(snapshot, SyncKind.SYNC)

    async def _observed(self, snapshot: LibrarySnapshot, kind: SyncKind) -> SyncReport:
        try:
            try:
                report = await self._replace(snapshot, kind)
            except PyMongoError as error:
                # What retries did not cure, or what could not be retried (taking the
                # lease): the sync did not commit, so retrying it later is safe.
                if is_transient(error):
                    raise unavailable(
                        error, f"{kind.value.lower()} of {snapshot.user_id}"
                    ) from error
                raise
        except BaseException as error:
            self._observer.sync_failed(snapshot.user_id, kind, error)
            raise
        self._observer.sync_committed(report)
        return report

    async def _replace(self, snapshot: LibrarySnapshot, kind: SyncKind) -> SyncReport:
        started = time.perf_counter()
        user = snapshot.user_id
        await self._tracks.check_references(snapshot)
        snapshots = self._snapshots
        committed_version = await retrying("a sync", lambda: snapshots.committed_version(user))
        if kind is SyncKind.INGEST and committed_version is not None:
            raise AlreadyIngested(user)

        lease = await snapshots.acquire(user)
        committed = False
        try:
            if kind is SyncKind.INGEST and lease.current is not None:
                raise AlreadyIngested(user)
            await snapshots.discard_uncommitted(user, lease.current, lease.version)
            progress = Progress(user, lease.version, kind)

            tracks_upserted = await self._tracks.upsert(snapshot.tracks)
            progress("tracks", upserted=tracks_upserted)
            await snapshots.renew(user, lease)

            deltas: dict[str, Delta] = {}
            committed_filters = (
                []
                if lease.current is None
                else self.dialect.snapshot_filters(user, lease.current, lease.dead)
            )
            for spec in KINDS:
                delta = await replace_items(
                    self._collections[spec.name],
                    spec,
                    lease,
                    spec.to_docs(snapshot, lease.version),
                    filters=committed_filters,
                    batch=self._options.write_batch,
                    renew=partial(snapshots.renew, user, lease),
                    user=user,
                )
                deltas[spec.name] = delta
                progress(spec.name, added=delta.added, removed=delta.removed)
                await snapshots.renew(user, lease)

            # A sync whose lease expired may still be writing under its own version;
            # clear anything it left so that it can never appear in our snapshot.
            await snapshots.discard_uncommitted(user, lease.current, lease.version)
            likes, plays, playlists = deltas["likes"], deltas["plays"], deltas["playlists"]
            written = tracks_upserted + sum(d.added + d.removed for d in deltas.values())
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
            counts = {
                "likes": report.total_likes,
                "plays": report.total_plays,
                "playlists": report.total_playlists,
            }
            dead = await snapshots.commit(user, lease, report, counts)
            committed = True
            progress("committed", documents_written=written)
        finally:
            if not committed:
                await snapshots.release(user, lease)
        await snapshots.collect_garbage(user, lease.current, dead)
        return report

    # ----------------------------------------------------------------- reads

    async def view(self, user_id: str) -> LibraryView:
        """The user's committed snapshot, resolved once: every read of the returned view
        is of that one version (a request reads one library, never a mix)."""
        _check_read_id("userId", user_id)
        library = await retrying("reading a library", partial(self._first_contact, user_id))
        return LibraryView(user_id, library, self._collections, self.dialect)

    async def _first_contact(self, user_id: str) -> dict[str, Any] | None:
        with deadline(self._options.first_contact_seconds):
            doc: dict[str, Any] | None = await self._libraries.find_one(
                {"_id": user_id}, LIBRARY_FIELDS
            )
            return doc

    async def _read(self, user_id: str, read: Callable[[LibraryView], Awaitable[R]]) -> R:
        """``read`` of a fresh view, again if a sync's clean-up overtook it."""
        for attempt in itertools.count(1):
            try:
                return await read(await self.view(user_id))
            except SnapshotExpired:
                if attempt >= self._options.read_retries:
                    raise
        raise AssertionError("unreachable")

    async def liked(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[Like]:
        """``view(user_id).liked(...)``: one read, retried if a sync overtakes it."""
        return await self._read(user_id, lambda v: v.liked(first=first, after=after))

    async def liked_track_ids(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[str]:
        """``view(user_id).liked_track_ids(...)`` (see ``liked``)."""
        return await self._read(user_id, lambda v: v.liked_track_ids(first=first, after=after))

    async def plays(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[Play]:
        """``view(user_id).plays(...)`` (see ``liked``)."""
        return await self._read(user_id, lambda v: v.plays(first=first, after=after))

    async def played_track_ids(
        self, user_id: str, *, first: int | None = None, after: str | None = None
    ) -> Page[str]:
        """``view(user_id).played_track_ids(...)`` (see ``liked``)."""
        return await self._read(user_id, lambda v: v.played_track_ids(first=first, after=after))

    async def playlists(self, user_id: str) -> list[Playlist]:
        """The user's playlists with all their entries, in source order, from one snapshot."""

        async def read(view: LibraryView) -> list[Playlist]:
            headers = (await view.playlists()).items
            return [await _whole_playlist(view, h) for h in headers]

        return await self._read(user_id, read)

    async def playlist(self, user_id: str, playlist_id: str) -> Playlist | None:
        """One playlist of the user's current snapshot with all its entries, or ``None``."""

        async def read(view: LibraryView) -> Playlist | None:
            header = await view.playlist(playlist_id)
            return None if header is None else await _whole_playlist(view, header)

        return await self._read(user_id, read)

    @overload
    async def tracks(self, track_ids: Iterable[str]) -> dict[str, Track]: ...

    @overload
    async def tracks(
        self, track_ids: Iterable[str], *, build: Callable[..., R]
    ) -> dict[str, R]: ...

    async def tracks(
        self, track_ids: Iterable[str], *, build: Callable[..., Any] = Track.model_construct
    ) -> dict[str, Any]:
        """Cached metadata for the ids that are known; unknown ids are left out.

        Asked in batches of ``write_batch`` ids, however many a request's loader collected.
        ``build``: what to make of each, called with ``Track``'s fields as keywords (a
        ``Track`` without validation by default: the store wrote only valid ones); a
        reader that turns them into objects of its own skips the model in between."""
        ids = list(track_ids)
        for track_id in ids:
            _check_read_id("trackId", track_id)

        async def read() -> dict[str, Any]:
            with deadline(self._options.first_contact_seconds):  # often a request's first
                return await self._tracks.read(ids, build)

        return await retrying("reading tracks", read)

    async def last_sync(self, user_id: str) -> SyncReport | None:
        """The report of the user's last committed ingest or sync."""
        return await (await self.view(user_id)).last_sync()


async def _whole_playlist(view: LibraryView, header: PlaylistHeader) -> Playlist:
    entries = (await view.playlist_entries(header.playlist_id)).items
    return Playlist.model_construct(
        playlist_id=header.playlist_id,
        name=header.name,
        description=header.description,
        snapshot_id=header.snapshot_id,
        entries=[
            PlaylistEntry.model_construct(track_id=e.track_id, added_at=e.added_at) for e in entries
        ],
    )
