"""Typed builders for libraries, so tests say what differs instead of repeating payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from persistence import LibrarySnapshot

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def track(track_id: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "trackId": track_id,
        "title": f"Title of {track_id}",
        "artists": [f"Artist {track_id}"],
        "album": "Album",
        "durationMs": 180_000,
        "energy": 0.5,
    }
    doc.update(overrides)
    return doc


def make_library(
    user_id: str = "user:alice",
    *,
    likes: int = 3,
    plays: int = 2,
    playlists: int = 1,
    entries: int = 3,
    prefix: str = "track",
    offset: int = 0,
) -> dict[str, Any]:
    """A library as a GraphQL ``LibraryInput`` (camelCase, ISO timestamps).

    Tracks ``{prefix}:{offset}`` .. are liked in order, the later ones newer;
    playlists hold the first ``entries`` tracks.
    """
    count = max(likes, plays, entries, 1)
    ids = [f"{prefix}:{offset + i}" for i in range(count)]
    return {
        "userId": user_id,
        "tracks": [track(t) for t in ids],
        "likes": [
            {"trackId": t, "addedAt": (BASE + timedelta(minutes=i)).isoformat()}
            for i, t in enumerate(ids[:likes])
        ],
        "plays": [
            {"trackId": t, "lastPlayedAt": (BASE + timedelta(hours=i)).isoformat()}
            for i, t in enumerate(ids[:plays])
        ],
        "playlists": [
            {
                "playlistId": f"playlist:{user_id}:{p}",
                "name": f"Playlist {p}",
                "snapshotId": "s1",
                "entries": [{"trackId": t, "addedAt": BASE.isoformat()} for t in ids[:entries]],
            }
            for p in range(playlists)
        ],
    }


def snapshot(library: dict[str, Any]) -> LibrarySnapshot:
    """The domain snapshot the API would build from this GraphQL input."""
    return LibrarySnapshot.parse(_snake(library))


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake_key(k): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _snake_key(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def seed_trace_ingest() -> dict[str, Any]:
    """Step 1 of ../shared/seed/LibraryCache-trace.md."""
    return {
        "userId": "user:alice",
        "tracks": [track("track:1"), track("track:2")],
        "likes": [
            {"trackId": "track:1", "addedAt": "2024-05-01T10:00:00+00:00"},
            {"trackId": "track:2", "addedAt": "2024-05-02T10:00:00+02:00"},
        ],
        "plays": [{"trackId": "track:1", "lastPlayedAt": "2024-05-03T08:00:00Z"}],
        "playlists": [
            {
                "playlistId": "playlist:alice_rock",
                "name": "Alice Rock",
                "entries": [{"trackId": "track:1", "addedAt": "2024-05-01T10:00:00Z"}],
            }
        ],
    }


def seed_trace_sync() -> dict[str, Any]:
    """Step 4: track:1 un-liked, track:3 liked, the playlist changed."""
    return {
        "userId": "user:alice",
        "tracks": [track("track:2"), track("track:3")],
        "likes": [
            {"trackId": "track:2", "addedAt": "2024-05-02T10:00:00+02:00"},
            {"trackId": "track:3", "addedAt": "2024-06-01T09:00:00Z"},
        ],
        "plays": [
            {"trackId": "track:2", "lastPlayedAt": "2024-06-02T08:00:00Z"},
            {"trackId": "track:3", "lastPlayedAt": "2024-06-03T08:00:00Z"},
        ],
        "playlists": [
            {
                "playlistId": "playlist:alice_rock",
                "name": "Alice Rock",
                "entries": [
                    {"trackId": "track:1", "addedAt": "2024-05-01T10:00:00Z"},
                    {"trackId": "track:3", "addedAt": "2024-06-01T09:00:00Z"},
                ],
            }
        ],
    }
