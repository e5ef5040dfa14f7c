"""GraphQL output types. Leaf fields are plain attributes or sync resolvers: cheap per item."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterable
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


async def prefetch_tracks(info: Info, track_ids: list[str]) -> list[Track | None] | None:
    """Metadata of a whole list's tracks at once, if the query asks for ``track`` of them.

    One awaited load for the list instead of an async ``track`` resolver per item: the
    query to the store is the same (the loader batches either way), but 50 coroutines
    less per page of 50 cost more CPU than the rest of the page's fields together.
    """
    if "track" not in selected_names(info):
        return None
    found = await info.context.tracks.load_many(track_ids)
    return [None if track is None else Track.from_domain(track) for track in found]


class _Prefetchable:
    """An item whose ``track`` its list resolver may have loaded already (``prefetched``)."""

    track_id: strawberry.ID
    loaded: Track | None
    prefetched: bool

    def _track(self, info: Info) -> Track | Awaitable[Track | None] | None:
        # A plain value when prefetched; otherwise an awaitable that graphql-core awaits.
        return self.loaded if self.prefetched else load_track(info, self.track_id)


def selected_names(info: Info) -> set[str]:
    """Names of the fields the query selects of this field's value, through fragments."""
    names: set[str] = set()
    pending: list[Selection] = [s for field in info.selected_fields for s in field.selections]
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        else:  # a fragment spread or an inline fragment
            pending += selection.selections
    return names


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A liked track; `track` is its cached metadata.")
class LikedTrack(_Prefetchable):
    track_id: strawberry.ID
    added_at: datetime
    cursor: str
    loaded: strawberry.Private[Track | None] = None
    prefetched: strawberry.Private[bool] = False

    @strawberry.field(graphql_type=Track | None)
    def track(self, info: Info) -> Track | Awaitable[Track | None] | None:
        return self._track(info)


IDS_ONLY = frozenset({"trackIds", "totalCount", "pageInfo", "userId", "__typename"})
"""Fields of ``LikedTracks``/``PlayHistory`` that a page of bare track ids can answer."""

T = TypeVar("T", models.Like, models.Play)


def selects_only(info: Info, names: Iterable[str]) -> bool:
    """Whether the query asks nothing of this field's value beyond the fields ``names``.

    Directives are ignored: a field under ``@skip`` still counts as asked for, which only
    costs the dearer path.
    """
    return selected_names(info) <= frozenset(names)


def _track_ids(page: models.Page[T] | models.Page[str]) -> list[strawberry.ID]:
    items: list[Any] = page.items
    if items and not isinstance(items[0], str):
        items = [item.track_id for item in items]
    return cast("list[strawberry.ID]", items)


def _whole(page: models.Page[T] | models.Page[str]) -> models.Page[T]:
    if page.items and isinstance(page.items[0], str):
        raise RuntimeError("a page of bare track ids was read for a query that needs items")
    return cast("models.Page[T]", page)


@strawberry.type
class _TrackPage:
    """What ``LikedTracks`` and ``PlayHistory`` share: a page of items that name tracks."""

    user_id: strawberry.ID
    page: strawberry.Private[models.Page[Any]]
    """Items, or only their track ids when the query asks for nothing else (``IDS_ONLY``)."""

    @strawberry.field(description="Ids of the tracks in this page, in the list's order.")
    def track_ids(self) -> list[strawberry.ID]:
        return _track_ids(self.page)

    @strawberry.field(description="Items in the whole list, not just this page.")
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next, end_cursor=self.page.end_cursor)


@strawberry.type(description="A user's liked tracks, newest `addedAt` first.")
class LikedTracks(_TrackPage):
    @strawberry.field
    async def items(self, info: Info) -> list[LikedTrack]:
        page: models.Page[models.Like] = _whole(self.page)
        tracks = await prefetch_tracks(info, [like.track_id for like in page.items])
        return [
            LikedTrack(
                track_id=strawberry.ID(like.track_id),
                added_at=like.added_at,
                cursor=c,
                loaded=None if tracks is None else tracks[i],
                prefetched=tracks is not None,
            )
            for i, (like, c) in enumerate(zip(page.items, page.cursors, strict=True))
        ]


@strawberry.type(description="The last time a user played a track.")
class Play(_Prefetchable):
    track_id: strawberry.ID
    last_played_at: datetime
    cursor: str
    loaded: strawberry.Private[Track | None] = None
    prefetched: strawberry.Private[bool] = False

    @strawberry.field(graphql_type=Track | None)
    def track(self, info: Info) -> Track | Awaitable[Track | None] | None:
        return self._track(info)


@strawberry.type(description="A user's plays, newest `lastPlayedAt` first.")
class PlayHistory(_TrackPage):
    @strawberry.field
    async def items(self, info: Info) -> list[Play]:
        page: models.Page[models.Play] = _whole(self.page)
        tracks = await prefetch_tracks(info, [play.track_id for play in page.items])
        return [
            Play(
                track_id=strawberry.ID(p.track_id),
                last_played_at=p.last_played_at,
                cursor=c,
                loaded=None if tracks is None else tracks[i],
                prefetched=tracks is not None,
            )
            for i, (p, c) in enumerate(zip(page.items, page.cursors, strict=True))
        ]


@strawberry.type(description="One entry of a playlist; the same track may appear twice.")
class PlaylistEntry(_Prefetchable):
    track_id: strawberry.ID
    added_at: datetime | None
    position: int = strawberry.field(description="Index in the playlist, from 0.")
    loaded: strawberry.Private[Track | None] = None
    prefetched: strawberry.Private[bool] = False

    @strawberry.field(description="Pass as `after` to read the entries that follow this one.")
    def cursor(self) -> str:
        return str(self.position)

    @strawberry.field(graphql_type=Track | None)
    def track(self, info: Info) -> Track | Awaitable[Track | None] | None:
        return self._track(info)


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
    async def entries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> list[PlaylistEntry]:
        check_first(info, first)
        start = 0
        if after is not None:
            if not after.isdigit():
                raise InvalidInput.one("after", f'"{after[:64]}" is not an entry cursor')
            start = int(after) + 1
        stop = None if first is None else start + first
        entries = self.playlist.entries[start:stop]
        tracks = await prefetch_tracks(info, [entry.track_id for entry in entries])
        return [
            PlaylistEntry(
                track_id=strawberry.ID(entry.track_id),
                added_at=entry.added_at,
                position=i,
                loaded=None if tracks is None else tracks[i - start],
                prefetched=tracks is not None,
            )
            for i, entry in enumerate(entries, start)
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
