"""The one boundary between MongoDB's natural query forms and the embedded stand-in's.

``MongoDialect`` is the production path: one snapshot filter per read, keyset paging as
``{$or: [{order: {$lt: at}}, {order: at, trackId: {$lt: id}}]}`` beside it, playlist
entries paged by a ``$slice`` projection (the entries of all the playlists a response
needs in one ``find``), no index beyond those every kind declares.

``Nx27017Dialect`` serves the embedded nx-27017 server (a development and single-machine
feature; ../shared/STANDINS.md and docs/nx-27017-probes.md list what it gets wrong). It
must give the same answers, and the contract suite runs over both to prove it. Which one a
store uses is chosen once, at start-up (``detect``); nothing downstream asks again.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from pymongo.errors import OperationFailure

from persistence._cursors import Key
from persistence._documents import utc
from persistence._kinds import KINDS

Collection = Any  # a Motor or AsyncMongoClient collection (Motor ships no types)
Doc = dict[str, Any]
Order = Sequence[tuple[str, int]]

READ_BATCH: Final = 10_000
"""Documents per reply of a long read. Drivers ask for 101 in the first reply; the wire
server then answers each further request with 101 more, so 10,000 likes took 100 round
trips and 5x the CPU. (MongoDB fills later replies up to 16 MiB; asking for more in the
first reply saves a round trip there too.)"""


class Dialect(Protocol):
    """What differs between servers; everything else in the store is plain MongoDB."""

    name: str

    def snapshot_filters(self, user_id: str, version: int, dead: Sequence[int]) -> list[Doc]:
        """Filters whose union is the user's documents in the snapshot of ``version``."""
        ...

    async def keyset_read(
        self,
        coll: Collection,
        filters: Sequence[Doc],
        order: Order,
        projection: Mapping[str, Any],
        *,
        start: Key | None,
        stop: Key | None,
        limit: int | None,
    ) -> list[Doc]:
        """Up to ``limit`` documents of the union of ``filters``, sorted by ``order``,
        strictly after ``start`` and strictly before ``stop`` in that order (each key holds
        the values of ``order``'s fields). ``order`` must be unique within the filters."""
        ...

    async def playlist_slices(
        self,
        coll: Collection,
        visible: Doc,
        playlist_ids: Sequence[str],
        fields: Sequence[str],
        skip: int,
        limit: int | None,
    ) -> list[Doc]:
        """In one read, the documents matching ``visible`` of the playlists named, each with
        ``fields`` and ``entries[skip:][:limit]`` (a negative ``skip`` counts from the end,
        as ``$slice`` does); unknown ids are left out, the order is any."""
        ...

    def extra_indexes(self) -> list[tuple[str, str, list[tuple[str, int]]]]:
        """(collection, name, keys) of indexes this server needs beyond the kinds' own."""
        ...


def keyset_filter(order: Order, key: Key, *, after: bool) -> Doc:
    """The documents strictly after (or before) ``key`` in ``order``: MongoDB's keyset form.

    For ``((addedAt, -1), (trackId, -1))`` after ``(at, id)``:
    ``{$or: [{addedAt: {$lt: at}}, {addedAt: at, trackId: {$lt: id}}]}``.
    """
    arms: list[Doc] = []
    for i, (name, direction) in enumerate(order):
        op = "$gt" if (direction == 1) == after else "$lt"
        arm: Doc = {f: v for (f, _), v in zip(order[:i], key[:i], strict=True)}
        arm[name] = {op: key[i]}
        arms.append(arm)
    return arms[0] if len(arms) == 1 else {"$or": arms}


def conjunction(parts: Iterable[Doc]) -> Doc:
    """One filter matching all ``parts``: merged into one document where no field repeats
    (MongoDB's implicit AND), an explicit ``$and`` otherwise."""
    parts = [p for p in parts if p]
    merged: Doc = {}
    for part in parts:
        if merged.keys() & part.keys():
            return {"$and": parts}
        merged.update(part)
    return merged


class MongoDialect:
    """MongoDB's documented semantics: the production path."""

    name = "mongodb"

    def snapshot_filters(self, user_id: str, version: int, dead: Sequence[int]) -> list[Doc]:
        # ``dead``: versions whose syncs never committed. Their documents belong to no
        # snapshot, and what they retired (``to`` in ``dead``) is still visible.
        if not dead:
            return [{"userId": user_id, "from": {"$lte": version}, "to": {"$gt": version}}]
        never = list(dead)
        return [
            {
                "userId": user_id,
                "from": {"$lte": version, "$nin": never},
                "$or": [{"to": {"$gt": version}}, {"to": {"$in": never}}],
            }
        ]

    async def keyset_read(
        self,
        coll: Collection,
        filters: Sequence[Doc],
        order: Order,
        projection: Mapping[str, Any],
        *,
        start: Key | None,
        stop: Key | None,
        limit: int | None,
    ) -> list[Doc]:
        (visible,) = filters
        query = conjunction(
            [
                visible,
                keyset_filter(order, start, after=True) if start is not None else {},
                keyset_filter(order, stop, after=False) if stop is not None else {},
            ]
        )
        return await _find(coll, query, projection, order, limit)

    async def playlist_slices(
        self,
        coll: Collection,
        visible: Doc,
        playlist_ids: Sequence[str],
        fields: Sequence[str],
        skip: int,
        limit: int | None,
    ) -> list[Doc]:
        projection: Doc = {"_id": 0, **dict.fromkeys(fields, 1)}
        if limit != 0:
            if skip == 0 and limit is None:
                projection["entries"] = 1
            elif skip < 0 and limit == -skip:
                projection["entries"] = {"$slice": skip}  # the last ``-skip``
            else:
                projection["entries"] = {"$slice": [skip, limit or 2**31 - 1]}
        found = await _find_playlists(coll, visible, playlist_ids, projection)
        for doc in found:
            doc.setdefault("entries", [])
        return found

    def extra_indexes(self) -> list[tuple[str, str, list[tuple[str, int]]]]:
        return []


class Nx27017Dialect:
    """The embedded nx-27017 server: the same answers, through forms it gets right.

    * A top-level ``$or`` beside other fields is not ANDed with them when it compares a
      datetime, and datetimes compare at whole seconds (probes 7 and 8). So a keyset read
      after ``(at, id)`` is three plain conjunctions: the run of ``at``'s second past
      ``id`` (exactly filtered here), the rest of that second only when it holds
      timestamps on the far side of ``at`` (sub-second ones: rare), and the seconds
      beyond. Each is limited, so a page deep in a run of equal timestamps reads about
      ``limit`` documents, as on MongoDB.
    * ``$nin`` beside a range is planned five times slower: documents of dead versions
      are few (the next sync removes them), so they are dropped here instead.
    * ``$slice`` projections fail (probe 9): entries are sliced here.
    * A sorted find scans the collection unless a filter field has a single-field index
      of its own (probe 6): ``{userId: 1}`` is added for every kind.
    """

    name = "nx-27017"

    def snapshot_filters(self, user_id: str, version: int, dead: Sequence[int]) -> list[Doc]:
        # Plain conjunctions, no ``$or``: nx does not AND a top-level ``$or`` with its
        # siblings, and plans ``$and`` forms far slower. Usually there is one.
        if not dead:
            return [{"userId": user_id, "from": {"$lte": version}, "to": {"$gt": version}}]
        never = list(dead)
        written = {"$lte": version, "$nin": never}
        return [
            {"userId": user_id, "from": written, "to": {"$gt": version}},
            {"userId": user_id, "from": written, "to": {"$in": never}},
        ]

    async def keyset_read(
        self,
        coll: Collection,
        filters: Sequence[Doc],
        order: Order,
        projection: Mapping[str, Any],
        *,
        start: Key | None,
        stop: Key | None,
        limit: int | None,
    ) -> list[Doc]:
        direction = _uniform(order)
        fields = [f for f, _ in order]

        def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(_comparable(doc[f]) for f in fields)

        def ahead(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
            """Whether ``a`` comes after ``b`` in ``order``."""
            return a > b if direction == 1 else a < b

        start_key = None if start is None else tuple(_comparable(v) for v in start)
        stop_key = None if stop is None else tuple(_comparable(v) for v in stop)
        parts = []
        for visible in filters:
            found = await self._read_after(
                coll, visible, order, projection, start_key, start, limit, key, ahead
            )
            parts.append(found)
        merged: Iterable[Doc] = (
            parts[0] if len(parts) == 1 else heapq.merge(*parts, key=key, reverse=direction == -1)
        )
        if stop_key is not None:
            # Read in order, so everything from the first item not before ``stop`` is past it.
            merged = itertools.takewhile(lambda d: ahead(stop_key, key(d)), merged)
        return list(itertools.islice(merged, limit))

    async def _read_after(
        self,
        coll: Collection,
        visible: Doc,
        order: Order,
        projection: Mapping[str, Any],
        start_key: tuple[Any, ...] | None,
        start: Key | None,
        limit: int | None,
        key: Callable[[Mapping[str, Any]], tuple[Any, ...]],
        ahead: Callable[[tuple[Any, ...], tuple[Any, ...]], bool],
    ) -> list[Doc]:
        query = dict(visible)
        never: frozenset[int] = frozenset()
        if "$nin" in query["from"]:
            written = dict(query["from"])
            never = frozenset(written.pop("$nin"))
            query["from"] = written
            projection = {**projection, "from": 1}

        def alive(doc: Mapping[str, Any]) -> bool:
            return doc.get("from") not in never

        if start is None or start_key is None:
            return await _find_kept(coll, query, projection, order, limit, alive)
        first, direction = order[0]
        if len(order) == 1 or not isinstance(start[0], datetime):
            # Plain values compare exactly on nx, and one field needs no ``$or``.
            if len(order) != 1:
                raise NotImplementedError("keyset over several plain fields")
            bound = {first: {"$gt" if direction == 1 else "$lt": start[0]}}
            return await _find_kept(coll, {**query, **bound}, projection, order, limit, alive)

        at, rest = start[0], start[1:]
        (tie, _), tie_direction = order[1], order[1][1]

        def past(doc: Mapping[str, Any]) -> bool:
            return alive(doc) and ahead(key(doc), start_key)

        # Whole-second bounds compare the same on nx as on an exact server.
        second = at.replace(microsecond=0)
        next_second = second + timedelta(seconds=1)
        same_second = {**query, first: {"$gte": second, "$lt": next_second}}
        # 1. ``at``'s second, past the cursor's id (exactly filtered here).
        beyond_id = {"$gt" if tie_direction == 1 else "$lt": rest[0]}
        found = await _find_kept(
            coll, {**same_second, tie: beyond_id}, projection, order, limit, past
        )
        # 2. The same second's far side of ``at`` with the other ids: only if that second
        # holds a timestamp beyond ``at`` (one document tells).
        # Nothing is older than a whole second within it (the usual, Spotify's stamps).
        far = [(first, -direction)]
        whole = direction == -1 and at.microsecond == 0
        edge = [] if whole else await _find(coll, same_second, {"_id": 0, first: 1}, far, 1)
        if edge and _comparable(edge[0][first]) != start_key[0]:
            other = {"$lte" if tie_direction == 1 else "$gte": rest[0]}
            found += await _find_kept(
                coll, {**same_second, tie: other}, projection, order, None, past
            )
        # 3. The seconds beyond ``at``'s.
        beyond = {"$lt": second} if direction == -1 else {"$gte": next_second}
        if limit is None or len(found) < limit:
            left = None if limit is None else limit - len(found)
            found += await _find_kept(
                coll, {**query, first: beyond}, projection, order, left, alive
            )
        found.sort(key=key, reverse=direction == -1)
        return found if limit is None else found[:limit]

    async def playlist_slices(
        self,
        coll: Collection,
        visible: Doc,
        playlist_ids: Sequence[str],
        fields: Sequence[str],
        skip: int,
        limit: int | None,
    ) -> list[Doc]:
        projection: Doc = {"_id": 0, **dict.fromkeys(fields, 1)}
        if limit != 0:
            projection["entries"] = 1
        found = await _find_playlists(coll, visible, playlist_ids, projection)
        for doc in found:
            entries = doc.get("entries", [])[skip:] if limit != 0 else []
            doc["entries"] = entries if limit is None else entries[:limit]
        return found

    def extra_indexes(self) -> list[tuple[str, str, list[tuple[str, int]]]]:
        # Without it nx plans a sorted find as a scan of the whole collection (probe 6):
        # one user's reads slowed with every user added (69x from 1 to 200 users). On
        # MongoDB it would only duplicate the compound indexes' ``userId`` prefix.
        return [(kind.name, "user_standin", [("userId", 1)]) for kind in KINDS]


async def detect(db: Any) -> Dialect:
    """The dialect for the server behind ``db``: asked once, at start-up."""
    try:
        reply = await db.command("buildInfo")
    except OperationFailure:  # e.g. a strict Stable API client: not the stand-in
        return MongoDialect()
    return Nx27017Dialect() if reply.get("process") == "nx_27017" else MongoDialect()


async def _find_playlists(
    coll: Collection, visible: Doc, playlist_ids: Sequence[str], projection: Doc
) -> list[Doc]:
    # One id: the equality form, as a single playlist was always read.
    named = playlist_ids[0] if len(playlist_ids) == 1 else {"$in": list(playlist_ids)}
    query = {**visible, "playlistId": named}
    cursor = coll.find(query, projection, batch_size=max(len(playlist_ids), 1))
    found: list[Doc] = await cursor.to_list(None)
    return found


async def _find(
    coll: Collection, query: Doc, projection: Mapping[str, Any], order: Order, limit: int | None
) -> list[Doc]:
    batch = READ_BATCH if limit is None else max(limit, 1)
    cursor = coll.find(query, dict(projection), batch_size=batch).sort(list(order))
    if limit is not None:
        cursor = cursor.limit(limit)
    found: list[Doc] = await cursor.to_list(None)
    return found


async def _find_kept(
    coll: Collection,
    query: Doc,
    projection: Mapping[str, Any],
    order: Order,
    limit: int | None,
    keep: Callable[[Mapping[str, Any]], bool],
) -> list[Doc]:
    """Up to ``limit`` documents that pass ``keep``, in order; reads more while some fail."""
    if limit == 0:
        return []
    n = limit
    while True:
        found = await _find(coll, query, projection, order, n)
        kept = [d for d in found if keep(d)]
        if n is None or limit is None or len(found) < n or len(kept) >= limit:
            return kept if limit is None else kept[:limit]
        n *= 2


def _uniform(order: Order) -> int:
    directions = {d for _, d in order}
    if len(directions) != 1:
        raise NotImplementedError("an order mixing directions")
    return directions.pop()


def _comparable(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value
