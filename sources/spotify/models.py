"""Spotify Web API response shapes, as documented, validated at the edge.

Only the fields the mirror reads are declared; the rest are ignored, so a field Spotify
adds or retires (many did in the February 2026 changes) breaks nothing. Fields that
development-mode apps no longer get (``external_ids``, ``popularity``) are optional.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SimplifiedArtist(_Shape):
    id: str | None = None  # null for a local file's artist
    name: str


class SimplifiedAlbum(_Shape):
    id: str | None = None
    name: str


class ExternalIds(_Shape):
    isrc: str | None = None


class Track(_Shape):
    type: Literal["track"]
    id: str | None = None  # null for local files; ``uri`` is always there
    uri: str
    name: str
    artists: list[SimplifiedArtist] = []
    album: SimplifiedAlbum | None = None
    duration_ms: int | None = None
    explicit: bool | None = None
    external_ids: ExternalIds | None = None
    is_local: bool = False


class SimplifiedShow(_Shape):
    name: str
    publisher: str | None = None


class Episode(_Shape):
    type: Literal["episode"]
    id: str | None = None
    uri: str
    name: str
    duration_ms: int | None = None
    explicit: bool | None = None
    show: SimplifiedShow | None = None


Playable = Annotated[Track | Episode, Field(discriminator="type")]


class Paging(_Shape, Generic[T]):
    """An offset-paged list; ``next`` is the absolute URL of the following page."""

    items: list[T]
    next: str | None = None
    total: int | None = None


class SavedTrack(_Shape):
    added_at: AwareDatetime
    track: Track | None = None


class PlaylistItem(_Shape):
    """One entry of ``/playlists/{id}/items``: the object is under ``item`` since 2026,
    under ``track`` in the older endpoint's shape; both are accepted."""

    added_at: AwareDatetime | None = None
    is_local: bool = False
    item: Playable | None = None
    track: Playable | None = None

    @property
    def playable(self) -> Track | Episode | None:
        return self.item if self.item is not None else self.track


class ItemsRef(_Shape):
    total: int | None = None


class PlaylistOwner(_Shape):
    id: str


class SimplifiedPlaylist(_Shape):
    id: str
    uri: str
    name: str
    description: str | None = None
    snapshot_id: str | None = None
    owner: PlaylistOwner | None = None
    # ``items`` since 2026, ``tracks`` before: a reference with the entry count.
    items: ItemsRef | None = None
    tracks: ItemsRef | None = None


class PlayHistory(_Shape):
    track: Track | None = None
    played_at: AwareDatetime


class CursorPaging(_Shape, Generic[T]):
    """``/me/player/recently-played``: paged by time cursors, ``next`` still a full URL."""

    items: list[T]
    next: str | None = None


class TokenResponse(_Shape):
    """``POST /api/token`` with the refresh-token grant; ``refresh_token`` only when rotated."""

    access_token: str
    token_type: str | None = None
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


__all__ = [
    "CursorPaging",
    "Episode",
    "Paging",
    "PlayHistory",
    "PlaylistItem",
    "SavedTrack",
    "SimplifiedPlaylist",
    "TokenResponse",
    "Track",
]
