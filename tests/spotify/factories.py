"""Spotify objects in their documented shapes, for the fake API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def track(n: int, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": "track",
        "id": f"t{n:06d}",
        "uri": f"spotify:track:t{n:06d}",
        "name": f"Song {n}",
        "artists": [{"id": f"a{n % 97}", "name": f"Artist {n % 97}", "type": "artist"}],
        "album": {"id": f"al{n % 500}", "name": f"Album {n % 500}", "album_type": "album"},
        "duration_ms": 180_000 + n,
        "explicit": n % 2 == 0,
        "external_ids": {"isrc": f"USRC1{n:07d}"},
        "is_local": False,
        "href": f"https://example.invalid/tracks/t{n:06d}",
    }
    value.update(overrides)
    return value


def local_track(title: str, uri: str | None = None) -> dict[str, Any]:
    return {
        "type": "track",
        "id": None,
        "uri": uri or f"spotify:local:Local+Artist:Local+Album:{title}:215",
        "name": title,
        "artists": [{"id": None, "name": "Local Artist", "type": "artist"}],
        "album": {"id": None, "name": "Local Album", "album_type": None},
        "duration_ms": 215_000,
        "explicit": False,
        "external_ids": {},
        "is_local": True,
    }


def episode(n: int) -> dict[str, Any]:
    return {
        "type": "episode",
        "id": f"e{n}",
        "uri": f"spotify:episode:e{n}",
        "name": f"Episode {n}",
        "duration_ms": 1_800_000,
        "explicit": False,
        "show": {"id": "show1", "name": "A Podcast", "publisher": "A Publisher"},
    }


def saved(n: int, obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """Saved track n, newer for smaller n (the API lists newest first)."""
    return {"added_at": iso(EPOCH - timedelta(minutes=n)), "track": obj or track(n)}


def entry(obj: dict[str, Any] | None, key: str = "item", minute: int = 0) -> dict[str, Any]:
    return {
        "added_at": iso(EPOCH + timedelta(minutes=minute)),
        "added_by": {"id": "someone"},
        "is_local": bool(obj and obj.get("is_local")),
        key: obj,
    }


def playlist(pid: str, snapshot: str, name: str | None = None, owner: str = "me") -> dict[str, Any]:
    return {
        "id": pid,
        "uri": f"spotify:playlist:{pid}",
        "name": name or f"Playlist {pid}",
        "description": "",
        "snapshot_id": snapshot,
        "owner": {"id": owner, "display_name": owner},
        "public": False,
        "collaborative": False,
    }


def played(obj: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"track": obj, "played_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "context": None}
