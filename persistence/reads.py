"""Reads of one pinned snapshot: ``LibraryView``, and the Relay-style paging of its lists.

A view resolves the user's committed version once; every read of it is of that snapshot,
so one request that reads several lists sees one library. Garbage collection keeps the
previous snapshot whole until the sync after next commits (``persistence._snapshot``), so
a view stays readable across one concurrent sync; if it falls further behind, a read
raises ``SnapshotExpired`` (retryable) rather than return a mix of versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from persistence import _cursors
from persistence import _documents as docs
from persistence._dialect import Dialect
from persistence._kinds import LIKES, PLAYLISTS, PLAYS, Kind
from persistence._retry import retrying
from persistence.errors import InvalidInput, SnapshotExpired
from persistence.list_loader import ListLoader
from persistence.models import (
    Like,
    Page,
    Play,
    PlaylistHeader,
    PositionedEntry,
    SyncReport,
)

Collection = Any
R = TypeVar("R")
_ENTRIES: Final = "entries"
LIBRARY_FIELDS: Final = {"version": 1, "counts": 1, "dead": 1, "floor": 1, "lastSync": 1}
"""What a view reads of the library document when it is opened."""


@dataclass(frozen=True)
class Paging:
    """Validated Relay arguments: the items after ``after`` and before ``before``, then the
    first ``first`` of them or the last ``last``."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        if self.first is not None and self.last is not None:
            raise InvalidInput.one("last", "first and last cannot be used together")
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and value < 0:
                raise InvalidInput.one(name, f"must not be negative (got {value})")

    @property
    def backward(self) -> bool:
        return self.last is not None

    @property
    def count(self) -> int | None:
        return self.last if self.backward else self.first

    def keys(self, tag: str, types: Sequence[type]) -> tuple[Any, Any]:
        """The decoded (after, before) positions."""
        after = None if self.after is None else _cursors.decode(tag, self.after, "after", types)
        before = None if self.before is None else _cursors.decode(tag, self.before, "before", types)
        return after, before

    def page(
        self,
        items: list[R],
        total: int,
        more: bool,
        cursors: Sequence[str],
    ) -> Page[R]:
        """``items`` in list order; ``more``: whether items were left beyond the count."""
        return Page(
            items=items,
            total=total,
            has_next=more if self.first is not None else self.before is not None,
            has_previous=more if self.last is not None else self.after is not None,
            end_cursor=cursors[-1] if items else None,
            start_cursor=cursors[0] if items else None,
            cursors=cursors,
        )


def entry_cursor(position: int) -> str:
    """The cursor of the playlist entry at ``position`` (from 0), as ``playlist_entries``
    issues it: for clients of the deprecated ``entries(after:)``, which took positions."""
    return _cursors.encode(_ENTRIES, (position,))


class LibraryView:
    """One user's library at one committed version (``None``: never ingested, all empty)."""

    def __init__(
        self,
        user_id: str,
        library: Mapping[str, Any] | None,
        collections: Mapping[str, Collection],
        dialect: Dialect,
    ) -> None:
        self.user_id = user_id
        self._library = library or {}
        self.version: int | None = self._library.get("version")
        self._collections = collections
        self._dialect = dialect
        self._slices: dict[tuple[int, int | None], ListLoader[str, dict[str, Any]]] = {}
        self._filters = (
            []
            if self.version is None
            else dialect.snapshot_filters(user_id, self.version, self._library.get("dead", ()))
        )

    async def liked(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[Like]:
        """Likes, newest ``addedAt`` first, ties by ``trackId`` descending."""
        return await self._page(LIKES, LIKES.from_doc, Paging(first, after, last, before))

    async def liked_track_ids(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[str]:
        """The same page as ``liked``, of track ids alone: several times cheaper for a whole
        library. Of a whole list only the start and end cursors are known; asking for
        another item's cursor raises ``LookupError``."""
        return await self._page(LIKES, _track_id, Paging(first, after, last, before), True)

    async def plays(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[Play]:
        """Plays, newest ``lastPlayedAt`` first, ties by ``trackId`` descending."""
        return await self._page(PLAYS, PLAYS.from_doc, Paging(first, after, last, before))

    async def played_track_ids(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[str]:
        """The same page as ``plays``, of track ids alone (see ``liked_track_ids``)."""
        return await self._page(PLAYS, _track_id, Paging(first, after, last, before), True)

    async def playlists(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[PlaylistHeader]:
        """Playlists without their entries, in the order the source gave them."""
        return await self._page(PLAYLISTS, PLAYLISTS.from_doc, Paging(first, after, last, before))

    async def playlist(self, playlist_id: str) -> PlaylistHeader | None:
        """One playlist's header, or ``None`` if this snapshot has no such playlist."""
        doc = await self._playlist_doc(playlist_id, 0, 0)
        return None if doc is None else docs.playlist_header_from_doc(doc)

    async def playlist_entries(
        self,
        playlist_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[PositionedEntry]:
        """A playlist's entries in position order (an empty page for an unknown playlist).

        Reads only the page's entries (a ``$slice`` projection on MongoDB)."""
        paging = Paging(first, after, last, before)
        after_key, before_key = paging.keys(_ENTRIES, (int,))
        low = 0 if after_key is None else after_key[0] + 1
        high: int | None = None if before_key is None else before_key[0]
        count = paging.count
        limit: int | None
        if paging.backward:
            assert count is not None
            if high is None:
                skip, limit = -(count + 1), count + 1
            else:
                skip = max(low, high - count - 1)
                limit = max(0, high - skip)
        else:
            skip = low
            limit = None if count is None else count + 1
            if high is not None:
                limit = max(0, high - low) if limit is None else max(0, min(limit, high - low))
        doc = await self._playlist_doc(playlist_id, skip, limit)
        if doc is None:
            return paging.page([], 0, False, [])
        total: int = doc["entryCount"]
        start = skip if skip >= 0 else max(0, total - len(doc["entries"]))
        entries = [
            e
            for e in docs.positioned_entries(start, doc["entries"])
            if e.position >= low and (high is None or e.position < high)
        ]
        more = count is not None and len(entries) > count
        if more:
            entries = entries[1:] if paging.backward else entries[:-1]
        cursors = _cursors.Cursors(_ENTRIES, entries, _position_key)
        return paging.page(entries, total, more, cursors)

    async def last_sync(self) -> SyncReport | None:
        """The report of the sync that committed this view's version."""
        report = self._library.get("lastSync")
        return None if report is None else docs.report_from_doc(report)

    async def _playlist_doc(
        self, playlist_id: str, skip: int, limit: int | None
    ) -> dict[str, Any] | None:
        """The playlist's document with ``entries[skip:][:limit]``, read in one batch with
        the slices of the same bounds that other fields of the response ask for in the
        same tick of the event loop: a page of 50 playlists with their entries is one
        read (and one snapshot check), not 100, and the tracks of all its entries reach
        the request's track loader together."""
        slices = self._slices.get((skip, limit))
        if slices is None:
            # Reads are idempotent: retried whole on a transient failure.
            slices = self._slices[(skip, limit)] = ListLoader(
                lambda ids: retrying(
                    "reading a playlist", lambda: self._playlist_docs(ids, skip, limit)
                ),
                # Not kept: every read checks again that the snapshot is still whole.
                cache=False,
            )
        return await slices.load(playlist_id)

    async def _playlist_docs(
        self, playlist_ids: list[str], skip: int, limit: int | None
    ) -> dict[str, dict[str, Any]]:
        coll = self._collections[PLAYLISTS.name]
        found: dict[str, dict[str, Any]] = {}
        for visible in self._filters:
            wanted = [p for p in playlist_ids if p not in found]
            if not wanted:
                break
            for doc in await self._dialect.playlist_slices(
                coll, visible, wanted, docs.PLAYLIST_HEADER_FIELDS, skip, limit
            ):
                found.setdefault(doc["playlistId"], doc)
        # Also when none was found: it may have been collected with this view's version.
        await self._check_still_whole()
        return found

    async def _page(
        self,
        kind: Kind,
        decode: Callable[[Mapping[str, Any]], R],
        paging: Paging,
        ids_only: bool = False,
    ) -> Page[R]:
        after, before = paging.keys(kind.name, kind.order_types)
        if self.version is None:
            return paging.page([], 0, False, [])
        # Reads are idempotent: retried whole on a transient failure.
        return await retrying(
            f"reading {kind.name}",
            lambda: self._read_page(kind, decode, paging, ids_only, after, before),
        )

    async def _read_page(
        self,
        kind: Kind,
        decode: Callable[[Mapping[str, Any]], R],
        paging: Paging,
        ids_only: bool,
        after: Any,
        before: Any,
    ) -> Page[R]:
        order = list(kind.order)
        start, stop = after, before
        if paging.backward:
            order = [(f, -d) for f, d in order]
            start, stop = before, after
        count = paging.count
        # A whole list of bare ids needs the order keys of its ends alone (for the
        # cursors), read apart: decoding 10,000 tz-aware datetimes that nothing else reads
        # cost a third of such a read's CPU.
        bare = ids_only and count is None and start is stop is None and len(self._filters) == 1
        fields = ("trackId",) if bare else kind.read_fields
        projection = {"_id": 0, **dict.fromkeys(fields, 1)}
        coll = self._collections[kind.name]
        found = await self._dialect.keyset_read(
            coll,
            self._filters,
            order,
            projection,
            start=start,
            stop=stop,
            limit=None if count is None else count + 1,
        )
        more = count is not None and len(found) > count
        found = found[:count] if count is not None else found
        if paging.backward:
            found.reverse()
        ends = None
        if bare and found:
            ends = await self._ends(coll, kind)
        await self._check_still_whole()
        cursors = _cursors.Cursors(kind.name, found, kind.sort_key, ends)
        total: int = self._library.get("counts", {}).get(kind.name, 0)
        return paging.page([decode(d) for d in found], total, more, cursors)

    async def _ends(
        self, coll: Collection, kind: Kind
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        projection = {"_id": 0, **{f: 1 for f, _ in kind.order}}
        ends = []
        for order in (kind.order, [(f, -d) for f, d in kind.order]):
            found = await self._dialect.keyset_read(
                coll, self._filters, order, projection, start=None, stop=None, limit=1
            )
            if not found:  # cannot happen within one snapshot
                raise SnapshotExpired(self.user_id)
            ends.append(found[0])
        return ends[0], ends[1]

    async def _check_still_whole(self) -> None:
        """Garbage collection raises ``floor`` before it deletes anything: if the floor is
        still at or below this view's version, nothing just read was collected."""
        if self.version is None:
            return  # nothing was read
        library = await self._collections["libraries"].find_one({"_id": self.user_id}, {"floor": 1})
        if library is None or library.get("floor", 0) > (self.version or 0):
            raise SnapshotExpired(self.user_id)


def _position_key(entry: PositionedEntry) -> tuple[int]:
    return (entry.position,)


def _track_id(doc: Mapping[str, Any]) -> str:
    track_id: str = doc["trackId"]
    return track_id
