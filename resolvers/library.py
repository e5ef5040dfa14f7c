"""``Library``: one user's cached library, the root of everything a user owns.

Every field reads the request's one view of this user's library
(``RequestContext.library_view``), so a response never mixes two versions. Access is
checked where a ``Library`` is handed out (``library``, ``viewer``, ``node``, payloads).
"""

from __future__ import annotations

import strawberry

from persistence import LibraryView
from resolvers import ids
from resolvers.context import Info
from resolvers.ids import Node
from resolvers.paging import page_args
from resolvers.playlists import Playlist, PlaylistConnection
from resolvers.reports import SyncReport
from resolvers.track_lists import LikedTracks, PlayHistory, read_connection


@strawberry.type(description="A user's cached library; an unknown user's reads as empty.")
class Library(Node):
    owner: strawberry.Private[str]
    at_least: strawberry.Private[int | None] = None
    """The version of a report this library was reached from; its view is no older."""

    @classmethod
    def of(cls, user_id: str, at_least: int | None = None) -> Library:
        return cls(id=ids.library_id(user_id), owner=user_id, at_least=at_least)

    async def _view(self, info: Info) -> LibraryView:
        return await info.context.library_view(self.owner, self.at_least)

    @strawberry.field
    def user_id(self) -> strawberry.ID:
        return strawberry.ID(self.owner)

    @strawberry.field(
        description=(
            "Liked tracks, newest `addedAt` first (ties: trackId descending). Without "
            "`first` or `last`: a page of the largest size, but `trackIds` of the whole list."
        )
    )
    async def liked(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> LikedTracks | None:
        args = page_args(info.context.max_page_size, first, after, last, before)
        view = await self._view(info)
        return await read_connection(
            info,
            LikedTracks,
            self.owner,
            args,
            items=view.liked,
            ids=view.liked_track_ids,
            whole_by_default=False,
        )

    @strawberry.field(
        description=(
            "Plays, newest `lastPlayedAt` first (ties: trackId descending). Without "
            "`first` or `last`: a page of the largest size, but `trackIds` of the whole list."
        )
    )
    async def plays(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PlayHistory | None:
        args = page_args(info.context.max_page_size, first, after, last, before)
        view = await self._view(info)
        return await read_connection(
            info,
            PlayHistory,
            self.owner,
            args,
            items=view.plays,
            ids=view.played_track_ids,
            whole_by_default=False,
        )

    @strawberry.field(description="Playlists in the source's order.")
    async def playlists(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PlaylistConnection | None:
        args = page_args(info.context.max_page_size, first, after, last, before)
        view = await self._view(info)
        page = await view.playlists(**args.bounded(info.context.max_page_size).as_kwargs())
        return PlaylistConnection(owner=self.owner, page=page, at_least=self.at_least)

    @strawberry.field(description="One playlist by the source's id; null if the user has none.")
    async def playlist(self, info: Info, playlist_id: strawberry.ID) -> Playlist | None:
        view = await self._view(info)
        header = await view.playlist(playlist_id)
        return None if header is None else Playlist.of(self.owner, header, self.at_least)

    @strawberry.field(description="The report of the last ingest or sync; null if never synced.")
    async def last_sync(self, info: Info) -> SyncReport | None:
        view = await self._view(info)
        report = await view.last_sync()
        return None if report is None else SyncReport.from_domain(report)
