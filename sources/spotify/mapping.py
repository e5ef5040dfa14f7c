"""Spotify objects to LibraryCache's ``LibraryInput`` (camelCase JSON, as the API takes it).

``trackId`` is the object's URI: ``spotify:track:…``, ``spotify:local:…`` for local
files (whose ``id`` is null), ``spotify:episode:…`` for podcast episodes. Ids are
never shortened: an id the server will not take is refused by it, by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sources.spotify.models import Episode, Track


def track_input(playable: Track | Episode) -> dict[str, Any]:
    if isinstance(playable, Episode):
        show = playable.show
        return _drop_none(
            {
                "trackId": playable.uri,
                "title": playable.name,
                "artists": [show.publisher] if show is not None and show.publisher else [],
                "album": show.name if show is not None else None,
                "durationMs": playable.duration_ms,
                "explicit": playable.explicit,
            }
        )
    isrc = playable.external_ids.isrc if playable.external_ids is not None else None
    return _drop_none(
        {
            "trackId": playable.uri,
            "title": playable.name,
            "artists": [artist.name for artist in playable.artists],
            "album": playable.album.name if playable.album is not None else None,
            "durationMs": playable.duration_ms,
            "explicit": playable.explicit,
            "isrc": isrc or None,
        }
    )


def timestamp(value: datetime) -> str:
    return value.isoformat()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class TrackTable:
    """Track metadata by id, first seen wins: the server refuses one id with two
    different metadata in one payload, and Spotify can differ between endpoints."""

    def __init__(self) -> None:
        self._tracks: dict[str, dict[str, Any]] = {}

    def add(self, playable: Track | Episode) -> str:
        if playable.uri not in self._tracks:
            self._tracks[playable.uri] = track_input(playable)
        return playable.uri

    def add_input(self, track: dict[str, Any]) -> None:
        self._tracks.setdefault(track["trackId"], track)

    def __len__(self) -> int:
        return len(self._tracks)

    def inputs(self) -> list[dict[str, Any]]:
        return list(self._tracks.values())


def merge_plays(*sources: dict[str, datetime]) -> dict[str, datetime]:
    """The latest ``lastPlayedAt`` per track across every source: nothing older is lost."""
    merged: dict[str, datetime] = {}
    for plays in sources:
        for track_id, played_at in plays.items():
            seen = merged.get(track_id)
            if seen is None or played_at > seen:
                merged[track_id] = played_at
    return merged


def plays_input(plays: dict[str, datetime]) -> list[dict[str, str]]:
    ordered = sorted(plays.items(), key=lambda item: item[1], reverse=True)
    return [{"trackId": track_id, "lastPlayedAt": timestamp(at)} for track_id, at in ordered]
