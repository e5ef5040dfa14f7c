"""Read resolvers: each checks access, then reads the request's view of the library.

Every root field is nullable: a refused or failing field is ``null`` with its error,
and its siblings keep their data. The fields from before the graph (``liked``,
``plays``, ...) answer as they always have, and are deprecated for ``library``.
"""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry

from persistence.errors import InvalidInput
from resolvers.context import Info
from resolvers.ids import Node
from resolvers.library import Library
from resolvers.nodes import resolve_node
from resolvers.paging import page_args
from resolvers.playlists import Playlist
from resolvers.reports import SyncReport
from resolvers.track_lists import LikedTracks, PlayHistory, read_connection
from resolvers.tracks import Track, load_track


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its `id`; null if it no longer exists.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id, "id")

    @strawberry.field(
        description=(
            "Objects by their ids, in the same order; each is resolved as `node` is. "
            "At most the largest page size of ids."
        ),
        graphql_type=list[Node | None],
    )
    def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Awaitable[Node | None]]:
        limit = info.context.max_page_size
        if len(ids) > limit:
            # Each id may cost a read: a variable could otherwise carry any number of them.
            raise InvalidInput.one("ids", f"has {len(ids)} items; the limit is {limit}")
        # One awaitable per item: graphql-core completes each on its own, so a refused or
        # malformed id is null with its error at its index, and the others keep their data.
        return [resolve_node(info, value, f"ids[{i}]") for i, value in enumerate(ids)]

    @strawberry.field(description="A user's library; an unknown user's reads as empty.")
    def library(self, info: Info, user_id: strawberry.ID) -> Library | None:
        info.context.caller.ensure_may_read(user_id)
        return Library.of(user_id)

    @strawberry.field(description="The library of the token's subject; null without a token.")
    def viewer(self, info: Info) -> Library | None:
        subject = info.context.caller.subject
        return None if subject is None else Library.of(subject)

    @strawberry.field(
        description="Liked tracks, newest first; no `first`: the whole list.",
        deprecation_reason="use library(userId:) { liked } or viewer { liked }",
    )
    async def liked(
        self,
        info: Info,
        user_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> LikedTracks | None:
        info.context.caller.ensure_may_read(user_id)
        args = page_args(info.context.max_page_size, first=first, after=after)
        view = await info.context.library_view(user_id)
        return await read_connection(
            info,
            LikedTracks,
            user_id,
            args,
            items=view.liked,
            ids=view.liked_track_ids,
            whole_by_default=True,
        )

    @strawberry.field(
        description="Plays, newest `lastPlayedAt` first; no `first`: all.",
        deprecation_reason="use library(userId:) { plays } or viewer { plays }",
    )
    async def plays(
        self,
        info: Info,
        user_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> PlayHistory | None:
        info.context.caller.ensure_may_read(user_id)
        args = page_args(info.context.max_page_size, first=first, after=after)
        view = await info.context.library_view(user_id)
        return await read_connection(
            info,
            PlayHistory,
            user_id,
            args,
            items=view.plays,
            ids=view.played_track_ids,
            whole_by_default=True,
        )

    @strawberry.field(
        description="The user's playlists in the source's order.",
        deprecation_reason="use library(userId:) { playlists }",
    )
    async def playlists(self, info: Info, user_id: strawberry.ID) -> list[Playlist] | None:
        info.context.caller.ensure_may_read(user_id)
        view = await info.context.library_view(user_id)
        page = await view.playlists()
        return [Playlist.of(user_id, header) for header in page.items]

    @strawberry.field(deprecation_reason="use library(userId:) { playlist(playlistId:) }")
    async def playlist(
        self, info: Info, user_id: strawberry.ID, playlist_id: strawberry.ID
    ) -> Playlist | None:
        info.context.caller.ensure_may_read(user_id)
        view = await info.context.library_view(user_id)
        header = await view.playlist(playlist_id)
        return None if header is None else Playlist.of(user_id, header)

    @strawberry.field(description="Cached metadata of one track; null if never synced.")
    async def track(self, info: Info, track_id: strawberry.ID) -> Track | None:
        return await load_track(info, track_id)

    @strawberry.field(
        description="The report of the user's last ingest or sync.",
        deprecation_reason="use library(userId:) { lastSync }",
    )
    async def last_sync(self, info: Info, user_id: strawberry.ID) -> SyncReport | None:
        info.context.caller.ensure_may_read(user_id)
        view = await info.context.library_view(user_id)
        report = await view.last_sync()
        return None if report is None else SyncReport.from_domain(report)
