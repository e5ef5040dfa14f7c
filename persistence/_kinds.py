"""The per-user kinds, described once: the store derives indexes, delta writes and reads.

Every per-user document carries ``userId`` (the shard key prefix), a ``_id`` made of the
user, the item's key and the version that wrote it, and its validity range ``from``/``to``
(``persistence._documents``). Adding a per-user collection means one ``Kind`` here and its
document mapping in ``_documents``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from typing import Any, Final

from persistence import _documents as docs
from persistence.models import LibrarySnapshot, PlaylistHeader


@dataclass(frozen=True)
class Kind:
    name: str
    """The collection, the key of its count in the library document, the cursor tag."""
    key: str
    """What identifies an item within one snapshot of a user (unique there)."""
    order: tuple[tuple[str, int], ...]
    """The list order, as a MongoDB sort; its last field is unique within a snapshot."""
    order_types: tuple[type, ...]
    """The type of each order field's value (for cursors)."""
    content: tuple[str, ...]
    """The fields besides ``key`` whose change makes a sync rewrite the item."""
    to_docs: Callable[[LibrarySnapshot, int], dict[str, dict[str, Any]]]
    """The snapshot's items as documents of ``version``, by ``key``."""
    from_doc: Callable[[Mapping[str, Any]], Any]
    """One read document (projected with ``read_fields``) as a domain object."""
    read_fields: tuple[str, ...]
    """What a page read projects."""
    lookup: bool = False
    """Whether one item is read by its key (adds a ``{userId, key}`` index)."""

    @cached_property
    def sort_key(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """``doc``'s order key, with datetimes in UTC (as cursors hold them).

        Built once per kind: a page encodes one key per item, and the generic loop over
        ``order`` cost a fifth of a 50-item page's cursors."""
        get = itemgetter(*(f for f, _ in self.order))
        dates = [i for i, t in enumerate(self.order_types) if t is datetime]
        if len(self.order) == 1:
            if dates:
                return lambda doc: (docs.utc(get(doc)),)
            return lambda doc: (get(doc),)

        def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
            values: tuple[Any, ...] = get(doc)
            for i in dates:
                if values[i].tzinfo is not UTC:  # naive, or BSON's zone: as ``docs.utc``
                    values = (*values[:i], docs.utc(values[i]), *values[i + 1 :])
            return values

        return key

    def indexes(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """(name, keys) of every index the kind's commands use; all prefixed by ``userId``."""
        found = [(f"user_{self.order[0][0]}", [("userId", 1), *self.order])]
        if self.lookup:
            found.append((f"user_{self.key.removesuffix('Id')}", [("userId", 1), (self.key, 1)]))
        found += [
            ("user_from", [("userId", 1), ("from", 1)]),
            ("user_to", [("userId", 1), ("to", 1)]),
        ]
        return found


def _likes(snapshot: LibrarySnapshot, version: int) -> dict[str, dict[str, Any]]:
    user = snapshot.user_id
    return {like.track_id: docs.like_to_doc(user, like, version) for like in snapshot.likes}


def _plays(snapshot: LibrarySnapshot, version: int) -> dict[str, dict[str, Any]]:
    user = snapshot.user_id
    return {play.track_id: docs.play_to_doc(user, play, version) for play in snapshot.plays}


def _playlists(snapshot: LibrarySnapshot, version: int) -> dict[str, dict[str, Any]]:
    user = snapshot.user_id
    return {
        p.playlist_id: docs.playlist_to_doc(user, p, i, version)
        for i, p in enumerate(snapshot.playlists)
    }


def _header(doc: Mapping[str, Any]) -> PlaylistHeader:
    return docs.playlist_header_from_doc(doc)


LIKES: Final = Kind(
    name="likes",
    key="trackId",
    order=(("addedAt", -1), ("trackId", -1)),
    order_types=(datetime, str),
    content=("addedAt",),
    to_docs=_likes,
    from_doc=docs.like_from_doc,
    read_fields=("trackId", "addedAt"),
)
PLAYS: Final = Kind(
    name="plays",
    key="trackId",
    order=(("lastPlayedAt", -1), ("trackId", -1)),
    order_types=(datetime, str),
    content=("lastPlayedAt",),
    to_docs=_plays,
    from_doc=docs.play_from_doc,
    read_fields=("trackId", "lastPlayedAt"),
)
PLAYLISTS: Final = Kind(
    name="playlists",
    key="playlistId",
    order=(("index", 1),),
    order_types=(int,),
    content=("index", "name", "description", "snapshotId", "entries"),
    to_docs=_playlists,
    from_doc=_header,
    read_fields=docs.PLAYLIST_HEADER_FIELDS,
    lookup=True,
)
KINDS: Final[Sequence[Kind]] = (LIKES, PLAYS, PLAYLISTS)
