"""GraphQL input types; names are fixed by the contract clients are generated from."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext
from strawberry.types.base import get_object_definition

from persistence.models import MAX_ID_LENGTH


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


@strawberry.input(
    description=(
        "A user's whole library as the source reports it. Every id (userId, trackId, "
        f"playlistId) is 1 to {MAX_ID_LENGTH:,} characters without control characters, "
        "long enough for Spotify's local-file URIs; ids in reads have the same bound."
    )
)
class LibraryInput:
    user_id: strawberry.ID
    tracks: list[TrackInput]
    likes: list[LikeInput]
    plays: list[PlayInput]
    playlists: list[PlaylistInput]


def _as_coerced(cls: type, value: Mapping[str, Any], context: InputContext) -> Mapping[str, Any]:
    """Hand resolvers the value as coerced, not Strawberry objects: graphql-core's mapping
    (camelCase keys), or the ``LibrarySnapshot`` a ``$input`` variable was validated into
    (``resolvers.variables``).

    graphql-core has already checked every type, null and scalar; the resolvers validate
    the rest with pydantic straight from these mappings. Building the ~27,000 input objects
    of a 10,000-like library first cost more CPU than all the rest of an ingest together.
    """
    return value


get_object_definition(LibraryInput, strict=True).from_input = _as_coerced
