"""GraphQL input types; names are fixed by the contract clients are generated from."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.input
class TrackInput:
    track_id: strawberry.ID
    title: str
    artists: list[str]
    album: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None
    explicit: bool | None = None
    available: bool | None = None
    tempo: float | None = None
    energy: float | None = None
    valence: float | None = None


@strawberry.input
class LikeInput:
    track_id: strawberry.ID
    added_at: datetime


@strawberry.input
class PlayInput:
    track_id: strawberry.ID
    last_played_at: datetime


@strawberry.input
class PlaylistEntryInput:
    track_id: strawberry.ID
    added_at: datetime | None = None


@strawberry.input
class PlaylistInput:
    playlist_id: strawberry.ID
    name: str
    entries: list[PlaylistEntryInput]
    description: str | None = None
    snapshot_id: str | None = None


@strawberry.input(description="A user's whole library as the source reports it.")
class LibraryInput:
    user_id: strawberry.ID
    tracks: list[TrackInput]
    likes: list[LikeInput]
    plays: list[PlayInput]
    playlists: list[PlaylistInput]
