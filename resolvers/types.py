"""GraphQL output types. Leaf fields are plain attributes or sync resolvers: cheap per item."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import cast

import strawberry

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


@strawberry.type(description="A user's liked tracks, newest `addedAt` first.")
class LikedTracks:
    user_id: strawberry.ID
    page: strawberry.Private[models.Page[models.Like]]

    @strawberry.field(description="Ids of the liked tracks in this page, newest first.")
    def track_ids(self) -> list[strawberry.ID]:
        return cast("list[strawberry.ID]", [like.track_id for like in self.page.items])

    @strawberry.field
    def items(self) -> list[LikedTrack]:
        return [
            LikedTrack(track_id=strawberry.ID(like.track_id), added_at=like.added_at, cursor=c)
            for like, c in zip(self.page.items, self.page.cursors, strict=True)
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
    page: strawberry.Private[models.Page[models.Play]]

    @strawberry.field
    def track_ids(self) -> list[strawberry.ID]:
        return cast("list[strawberry.ID]", [play.track_id for play in self.page.items])

    @strawberry.field
    def items(self) -> list[Play]:
        return [
            Play(track_id=strawberry.ID(p.track_id), last_played_at=p.last_played_at, cursor=c)
            for p, c in zip(self.page.items, self.page.cursors, strict=True)
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
