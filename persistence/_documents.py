"""How domain objects map to MongoDB documents, and back.

Per-user documents (likes, plays, playlists) carry a validity range of snapshot
versions, ``from`` (inclusive) to ``to`` (exclusive): a document belongs to the
snapshot of version ``v`` when ``from <= v < to``. Live documents have
``to == LIVE``. Ids are strings: the stand-in servers match ObjectIds loosely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bson.tz_util import utc as bson_utc

from persistence.models import (
    Like,
    Play,
    Playlist,
    PlaylistEntry,
    PlaylistHeader,
    PositionedEntry,
    SyncKind,
    SyncReport,
    Track,
)

LIVE: Final = 2**62
# Control characters are refused in ids, so this separator cannot occur inside one.
_SEP: Final = "\x1f"

TRACK_FIELDS: Final = (
    "title",
    "artists",
    "album",
    "duration_ms",
    "isrc",
    "explicit",
    "available",
    "tempo",
    "energy",
    "valence",
)
_TRACK_KEYS: Final = {
    "duration_ms": "durationMs",
}
TRACK_DOC_KEYS: Final = tuple(_TRACK_KEYS.get(name, name) for name in TRACK_FIELDS)
"""The metadata keys of a track document, as stored (and as clients name them)."""


def doc_id(user_id: str, key: str, version: int) -> str:
    return f"{user_id}{_SEP}{key}{_SEP}{version}"


def track_to_doc(track: Track) -> dict[str, Any]:
    # Spelled out (every name in TRACK_FIELDS): 3x faster than a loop over them, and
    # an ingest builds one per track.
    return {
        "title": track.title,
        "artists": track.artists,
        "album": track.album,
        "durationMs": track.duration_ms,
        "isrc": track.isrc,
        "explicit": track.explicit,
        "available": track.available,
        "tempo": track.tempo,
        "energy": track.energy,
        "valence": track.valence,
    }


def track_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A track document's values by ``Track``'s field names (``track_id`` among them)."""
    # Spelled out, as ``track_to_doc``: a response may read thousands.
    return {
        "track_id": doc["_id"],
        "title": doc.get("title"),
        "artists": doc.get("artists"),
        "album": doc.get("album"),
        "duration_ms": doc.get("durationMs"),
        "isrc": doc.get("isrc"),
        "explicit": doc.get("explicit"),
        "available": doc.get("available"),
        "tempo": doc.get("tempo"),
        "energy": doc.get("energy"),
        "valence": doc.get("valence"),
    }


def like_to_doc(user_id: str, like: Like, version: int) -> dict[str, Any]:
    return {
        "_id": doc_id(user_id, like.track_id, version),
        "userId": user_id,
        "trackId": like.track_id,
        "addedAt": like.added_at,
        "from": version,
        "to": LIVE,
    }


def like_from_doc(doc: Mapping[str, Any]) -> Like:
    return Like.model_construct(track_id=doc["trackId"], added_at=utc(doc["addedAt"]))


def play_to_doc(user_id: str, play: Play, version: int) -> dict[str, Any]:
    return {
        "_id": doc_id(user_id, play.track_id, version),
        "userId": user_id,
        "trackId": play.track_id,
        "lastPlayedAt": play.last_played_at,
        "from": version,
        "to": LIVE,
    }


def play_from_doc(doc: Mapping[str, Any]) -> Play:
    return Play.model_construct(track_id=doc["trackId"], last_played_at=utc(doc["lastPlayedAt"]))


def playlist_to_doc(user_id: str, playlist: Playlist, index: int, version: int) -> dict[str, Any]:
    return {
        "_id": doc_id(user_id, playlist.playlist_id, version),
        "userId": user_id,
        "playlistId": playlist.playlist_id,
        "index": index,
        "name": playlist.name,
        "description": playlist.description,
        "snapshotId": playlist.snapshot_id,
        "entryCount": len(playlist.entries),
        "entries": [{"trackId": e.track_id, "addedAt": e.added_at} for e in playlist.entries],
        "from": version,
        "to": LIVE,
    }


def playlist_from_doc(doc: Mapping[str, Any]) -> Playlist:
    return Playlist.model_construct(
        playlist_id=doc["playlistId"],
        name=doc["name"],
        description=doc.get("description"),
        snapshot_id=doc.get("snapshotId"),
        entries=[
            PlaylistEntry.model_construct(
                track_id=e["trackId"], added_at=_maybe_utc(e.get("addedAt"))
            )
            for e in doc.get("entries", ())
        ],
    )


PLAYLIST_HEADER_FIELDS: Final = (
    "playlistId",
    "index",
    "name",
    "description",
    "snapshotId",
    "entryCount",
)
"""What a playlist read projects when it needs no entries."""


def playlist_header_from_doc(doc: Mapping[str, Any]) -> PlaylistHeader:
    return PlaylistHeader(
        playlist_id=doc["playlistId"],
        name=doc["name"],
        description=doc.get("description"),
        snapshot_id=doc.get("snapshotId"),
        entry_count=doc["entryCount"],
    )


def positioned_entries(start: int, entries: Sequence[Mapping[str, Any]]) -> list[PositionedEntry]:
    """Stored entries whose first is at ``start`` in its playlist."""
    return [
        PositionedEntry(
            position=start + i, track_id=e["trackId"], added_at=_maybe_utc(e.get("addedAt"))
        )
        for i, e in enumerate(entries)
    ]


def utc(value: datetime) -> datetime:
    """The same instant with the standard library's ``UTC`` as its zone.

    Datetimes come back naive from clients not built with ``tz_aware`` (they are UTC),
    and with BSON's own UTC zone from those that are: a Python-level ``tzinfo``, whose
    offset every ``isoformat``, comparison and cursor of a page would ask again.
    """
    zone = value.tzinfo
    if zone is UTC:
        return value
    if zone is None or zone is bson_utc:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalized(value: Any) -> Any:
    """A stored value in the form the domain produces, for change detection."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    return value


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def report_to_doc(report: SyncReport) -> dict[str, Any]:
    doc = dict(report.__dict__)
    doc["kind"] = report.kind.value
    return doc


def report_from_doc(doc: Mapping[str, Any]) -> SyncReport:
    values = dict(doc)
    values["kind"] = SyncKind(values["kind"])
    values["synced_at"] = utc(values["synced_at"])
    return SyncReport(**values)
