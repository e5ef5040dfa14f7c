"""Playlists: one object per user and playlistId, its entries a cursor connection."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import cast

import strawberry
from strawberry.relay import PageInfo

from persistence import entry_cursor, models
from resolvers import ids
from resolvers.context import Info
from resolvers.ids import Node
from resolvers.paging import PageArgs, page_args, page_info
from resolvers.tracks import Track, TrackValue, edge_tracks, load_tracks, selected_names


@strawberry.type(description="One entry of a playlist; the same track may appear twice.")
class PlaylistEntry:
    track_id: strawberry.ID
    added_at: datetime | None
    position: int = strawberry.field(description="Index in the playlist, from 0.")
    cursor: str = strawberry.field(
        description="Pass as `after` to read the entries that follow this one."
    )
    # Plain attributes, not resolvers: see ``edge_tracks``.
    node: TrackValue = strawberry.field(graphql_type=Track)
    track: TrackValue = strawberry.field(graphql_type=Track | None, deprecation_reason="use node")


async def _entries(info: Info, page: models.Page[models.PositionedEntry]) -> list[PlaylistEntry]:
    names = selected_names(info)
    tracks = await edge_tracks(info, [entry.track_id for entry in page.items], names)
    # Encoded only when asked for: most reads of entries never page on.
    cursors = page.cursors if "cursor" in names else itertools.repeat("")
    return [
        PlaylistEntry(
            track_id=strawberry.ID(entry.track_id),
            added_at=entry.added_at,
            position=entry.position,
            cursor=c,
            node=track,
            track=track,
        )
        for entry, c, track in zip(page.items, cursors, tracks, strict=False)
    ]


@strawberry.type(description="A playlist's entries in playlist order.")
class PlaylistTrackConnection:
    page: strawberry.Private[models.Page[models.PositionedEntry]]

    @strawberry.field
    async def edges(self, info: Info) -> list[PlaylistEntry]:
        return await _entries(info, self.page)

    @strawberry.field(description="The tracks of this page, in playlist order.")
    async def nodes(self, info: Info) -> list[Track]:
        tracks = await load_tracks(info, [entry.track_id for entry in self.page.items])
        return cast("list[Track]", tracks)  # every entry names a cached track

    @strawberry.field(description="Entries in the whole playlist, not just this page.")
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return page_info(self.page)


@strawberry.type(description="A user's copy of a playlist.")
class Playlist(Node):
    owner: strawberry.Private[str]
    header: strawberry.Private[models.PlaylistHeader]
    at_least: strawberry.Private[int | None] = None
    """As ``Library.at_least``: the entries are read from a view no older."""

    @classmethod
    def of(
        cls, user_id: str, header: models.PlaylistHeader, at_least: int | None = None
    ) -> Playlist:
        playlist_id = ids.playlist_id(user_id, header.playlist_id)
        return cls(id=playlist_id, owner=user_id, header=header, at_least=at_least)

    @strawberry.field
    def playlist_id(self) -> strawberry.ID:
        return strawberry.ID(self.header.playlist_id)

    @strawberry.field
    def name(self) -> str:
        return self.header.name

    @strawberry.field
    def description(self) -> str | None:
        return self.header.description

    @strawberry.field
    def snapshot_id(self) -> str | None:
        return self.header.snapshot_id

    @strawberry.field
    def entry_count(self) -> int:
        return self.header.entry_count

    @strawberry.field(description="The entries in playlist order, a page at a time.")
    async def tracks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PlaylistTrackConnection | None:
        args = page_args(info.context.max_page_size, first, after, last, before)
        return PlaylistTrackConnection(
            page=await self._entries(info, args.bounded(info.context.max_page_size))
        )

    @strawberry.field(
        description="Entries in playlist order; page with `first` and `after`; no `first`: all.",
        deprecation_reason="use tracks",
    )
    async def entries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> list[PlaylistEntry] | None:
        if after is not None and after.isascii() and after.isdigit() and len(after) <= 9:
            # This field's cursors were positions once ("41"); clients that kept or
            # computed one go on working.
            after = entry_cursor(int(after))
        args = page_args(info.context.max_page_size, first=first, after=after)
        return await _entries(info, await self._entries(info, args))

    async def _entries(self, info: Info, args: PageArgs) -> models.Page[models.PositionedEntry]:
        view = await info.context.library_view(self.owner, self.at_least)
        return await view.playlist_entries(self.header.playlist_id, **args.as_kwargs())


@strawberry.type
class PlaylistEdge:
    cursor: str
    node: Playlist


@strawberry.type(description="A user's playlists in the source's order.")
class PlaylistConnection:
    owner: strawberry.Private[str]
    page: strawberry.Private[models.Page[models.PlaylistHeader]]
    at_least: strawberry.Private[int | None] = None

    @strawberry.field
    def edges(self) -> list[PlaylistEdge]:
        return [
            PlaylistEdge(cursor=c, node=Playlist.of(self.owner, header, self.at_least))
            for header, c in zip(self.page.items, self.page.cursors, strict=True)
        ]

    @strawberry.field
    def nodes(self) -> list[Playlist]:
        return [Playlist.of(self.owner, header, self.at_least) for header in self.page.items]

    @strawberry.field(description="Playlists in the whole library, not just this page.")
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return page_info(self.page)
