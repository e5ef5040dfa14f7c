"""Read resolvers: each checks access, then asks the store. Unknown users read as empty."""

from __future__ import annotations

import strawberry

from resolvers.types import (
    IDS_ONLY,
    Info,
    LikedTracks,
    PlayHistory,
    Playlist,
    SyncReport,
    Track,
    check_first,
    load_track,
    selects_only,
)


@strawberry.type
class Query:
    @strawberry.field(description="Liked tracks, newest first; no `first`: the whole list.")
    async def liked(
        self,
        info: Info,
        user_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> LikedTracks:
        info.context.caller.ensure_may_read(user_id)
        check_first(info, first)
        store = info.context.store
        read = store.liked_track_ids if selects_only(info, IDS_ONLY) else store.liked
        return LikedTracks(user_id=user_id, page=await read(user_id, first=first, after=after))

    @strawberry.field(description="Plays, newest `lastPlayedAt` first; no `first`: all.")
    async def plays(
        self,
        info: Info,
        user_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> PlayHistory:
        info.context.caller.ensure_may_read(user_id)
        check_first(info, first)
        store = info.context.store
        read = store.played_track_ids if selects_only(info, IDS_ONLY) else store.plays
        return PlayHistory(user_id=user_id, page=await read(user_id, first=first, after=after))

    @strawberry.field(description="The user's playlists in the source's order.")
    async def playlists(self, info: Info, user_id: strawberry.ID) -> list[Playlist]:
        info.context.caller.ensure_may_read(user_id)
        return [Playlist(playlist=p) for p in await info.context.store.playlists(user_id)]

    @strawberry.field
    async def playlist(
        self, info: Info, user_id: strawberry.ID, playlist_id: strawberry.ID
    ) -> Playlist | None:
        info.context.caller.ensure_may_read(user_id)
        found = await info.context.store.playlist(user_id, playlist_id)
        return None if found is None else Playlist(playlist=found)

    @strawberry.field(description="Cached metadata of one track; null if never synced.")
    async def track(self, info: Info, track_id: strawberry.ID) -> Track | None:
        return await load_track(info, track_id)

    @strawberry.field(description="The report of the user's last ingest or sync.")
    async def last_sync(self, info: Info, user_id: strawberry.ID) -> SyncReport | None:
        info.context.caller.ensure_may_read(user_id)
        report = await info.context.store.last_sync(user_id)
        return None if report is None else SyncReport.from_domain(report)
