"""GraphQL output types. Leaf fields are plain attributes or sync resolvers: cheap per item."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from persistence import models
from persistence.errors import InvalidInput
from resolvers.context import RequestContext

Info = strawberry.Info[RequestContext, None]


@strawberry.enum(description="Whether a report is of an ingest or a sync.")
class SyncKind(enum.Enum):
    INGEST = "INGEST"
    SYNC = "SYNC"


@strawberry.type(description="Global metadata of one track, shared by every user.")
class Track:
    track_id: strawberry.ID
    title: str
    artists: list[str]
    album: str | None
    duration_ms: int | None
    isrc: str | None
    explicit: bool | None
    available: bool | None
    tempo: float | None
    energy: float | None
    valence: float | None

    @classmethod
    def from_domain(cls, track: models.Track) -> Track:
        return cls(
            track_id=strawberry.ID(track.track_id),
            title=track.title,
            artists=track.artists,
            album=track.album,
            duration_ms=track.duration_ms,
            isrc=track.isrc,
            explicit=track.explicit,
            available=track.available,
            tempo=track.tempo,
            energy=track.energy,
            valence=track.valence,
        )


async def load_track(info: Info, track_id: str) -> Track | None:
    track = await info.context.tracks.load(track_id)
    return None if track is None else Track.from_domain(track)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A liked track; `track` is its cached metadata.")
class LikedTrack:
    track_id: strawberry.ID
    added_at: datetime
    cursor: str

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        return await load_track(info, self.track_id)


IDS_ONLY = frozenset({"trackIds", "totalCount", "pageInfo", "userId", "__typename"})
"""Fields of ``LikedTracks``/``PlayHistory`` that a page of bare track ids can answer."""

T = TypeVar("T", models.Like, models.Play)


def selects_only(info: Info, names: Iterable[str]) -> bool:
    """Whether the query asks nothing of this field's value beyond the fields ``names``.

    Looks through fragments and inline fragments; directives are ignored (a field under
    ``@skip`` still counts as asked for, which only costs the cheaper path).
    """
    allowed = frozenset(names)
    pending: list[Selection] = [s for field in info.selected_fields for s in field.selections]
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            if selection.name not in allowed:
                return False
        else:  # a fragment spread or an inline fragment
            pending += selection.selections
    return True


def _track_ids(page: models.Page[T] | models.Page[str]) -> list[strawberry.ID]:
    items: list[Any] = page.items
    if items and not isinstance(items[0], str):
        items = [item.track_id for item in items]
    return cast("list[strawberry.ID]", items)


def _whole(page: models.Page[T] | models.Page[str]) -> models.Page[T]:
    if page.items and isinstance(page.items[0], str):
        raise RuntimeError("a page of bare track ids was read for a query that needs items")
    return cast("models.Page[T]", page)


@strawberry.type(description="A user's liked tracks, newest `addedAt` first.")
class LikedTracks:
    user_id: strawberry.ID
    page: strawberry.Private[models.Page[models.Like] | models.Page[str]]
    """Likes, or only their track ids when the query asks for nothing else (``IDS_ONLY``)."""

    @strawberry.field(description="Ids of the liked tracks in this page, newest first.")
    def track_ids(self) -> list[strawberry.ID]:
        return _track_ids(self.page)

    @strawberry.field
    def items(self) -> list[LikedTrack]:
        page = _whole(self.page)
        return [
            LikedTrack(track_id=strawberry.ID(like.track_id), added_at=like.added_at, cursor=c)
            for like, c in zip(page.items, page.cursors, strict=True)
        ]

    @strawberry.field(description="Likes in the whole library, not just this page.")
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next, end_cursor=self.page.end_cursor)


@strawberry.type(description="The last time a user played a track.")
class Play:
    track_id: strawberry.ID
    last_played_at: datetime
    cursor: str

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        return await load_track(info, self.track_id)


@strawberry.type(description="A user's plays, newest `lastPlayedAt` first.")
class PlayHistory:
    user_id: strawberry.ID
    page: strawberry.Private[models.Page[models.Play] | models.Page[str]]
    """Plays, or only their track ids when the query asks for nothing else (``IDS_ONLY``)."""

    @strawberry.field
    def track_ids(self) -> list[strawberry.ID]:
        return _track_ids(self.page)

    @strawberry.field
    def items(self) -> list[Play]:
        page = _whole(self.page)
        return [
            Play(track_id=strawberry.ID(p.track_id), last_played_at=p.last_played_at, cursor=c)
            for p, c in zip(page.items, page.cursors, strict=True)
        ]

    @strawberry.field
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next, end_cursor=self.page.end_cursor)


@strawberry.type(description="One entry of a playlist; the same track may appear twice.")
class PlaylistEntry:
    track_id: strawberry.ID
    added_at: datetime | None
    position: int = strawberry.field(description="Index in the playlist, from 0.")

    @strawberry.field(description="Pass as `after` to read the entries that follow this one.")
    def cursor(self) -> str:
        return str(self.position)

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        return await load_track(info, self.track_id)


@strawberry.type
class Playlist:
    playlist: strawberry.Private[models.Playlist]

    @strawberry.field
    def playlist_id(self) -> strawberry.ID:
        return strawberry.ID(self.playlist.playlist_id)

    @strawberry.field
    def name(self) -> str:
        return self.playlist.name

    @strawberry.field
    def description(self) -> str | None:
        return self.playlist.description

    @strawberry.field
    def snapshot_id(self) -> str | None:
        return self.playlist.snapshot_id

    @strawberry.field
    def entry_count(self) -> int:
        return len(self.playlist.entries)

    @strawberry.field(description="Entries in playlist order; page with `first` and `after`.")
    def entries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> list[PlaylistEntry]:
        check_first(info, first)
        start = 0
        if after is not None:
            if not after.isdigit():
                raise InvalidInput.one("after", f'"{after[:64]}" is not an entry cursor')
            start = int(after) + 1
        stop = None if first is None else start + first
        return [
            PlaylistEntry(
                track_id=strawberry.ID(entry.track_id), added_at=entry.added_at, position=i
            )
            for i, entry in enumerate(self.playlist.entries[start:stop], start)
        ]


@strawberry.type(description="What one ingest or sync wrote, against the previous snapshot.")
class SyncReport:
    user_id: strawberry.ID
    kind: SyncKind
    version: int
    synced_at: datetime
    duration_ms: int
    tracks_upserted: int
    likes_added: int
    likes_removed: int
    plays_added: int
    plays_removed: int
    playlists_added: int
    playlists_removed: int
    playlists_updated: int
    playlists_unchanged: int
    documents_written: int = strawberry.field(
        description="Documents inserted, upserted or retired; proportional to the change."
    )
    total_likes: int
    total_plays: int
    total_playlists: int

    @classmethod
    def from_domain(cls, report: models.SyncReport) -> SyncReport:
        values = dict(report.__dict__)
        values["user_id"] = strawberry.ID(report.user_id)
        values["kind"] = SyncKind(report.kind.value)
        return cls(**values)


def check_first(info: Info, first: int | None) -> None:
    limit = info.context.max_page_size
    if first is not None and not 0 <= first <= limit:
        raise InvalidInput.one("first", f"must be between 0 and {limit} (got {first})")
