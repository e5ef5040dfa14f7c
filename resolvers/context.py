"""The per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import strawberry

from persistence import LibraryStore, LibraryView, Limits
from persistence.feed import LibraryFeed
from persistence.list_loader import ListLoader
from resolvers.access import OPEN, Caller
from resolvers.tracks import Track


@dataclass
class RequestContext:
    store: LibraryStore
    limits: Limits = field(default_factory=Limits)
    max_page_size: int = 500
    request_id: str = "-"
    caller: Caller = OPEN
    feed: LibraryFeed | None = None
    """The change feed that subscriptions follow; None where nothing serves them."""
    tracks: ListLoader[str, Track] = field(init=False)
    _views: dict[str, asyncio.Future[LibraryView]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # One loader per request: track metadata for a whole page is one query, and
        # nothing is cached across requests (a sync may change it in between). It holds
        # the GraphQL objects themselves: one per track however often a response names it.
        self.tracks = ListLoader(self._load_tracks)

    async def library_view(self, user_id: str, at_least: int | None = None) -> LibraryView:
        """The user's library as of one committed version, resolved once per request.

        Every field of one library in one response reads this view -- through the root
        fields, ``library``, ``viewer`` or ``node`` alike -- so a sync committing while
        the response is built can never show a list from one version beside another.
        Resolvers run concurrently: the first one starts the lookup, the others await it.

        ``at_least``: a version the caller knows is committed (a sync's report). A view
        older than that is resolved afresh, once, and cached track metadata dropped: a
        subscription's context outlives many syncs, and each report's library must show
        that sync, not the first one's.
        """
        pending = self._views.get(user_id)
        if pending is None:
            pending = self._views[user_id] = asyncio.ensure_future(self.store.view(user_id))
        view = await asyncio.shield(pending)
        if at_least is None or (view.version or 0) >= at_least:
            return view
        if self._views.get(user_id) is pending:  # no other resolver has refreshed it yet
            self._views[user_id] = asyncio.ensure_future(self.store.view(user_id))
            self.tracks.clear_all()  # that sync may have changed track metadata too
        return await asyncio.shield(self._views[user_id])

    def forget(self, user_id: str) -> None:
        """The user was just synced: read its view and track metadata afresh from now on."""
        self._views.pop(user_id, None)
        self.tracks.clear_all()

    async def _load_tracks(self, track_ids: list[str]) -> dict[str, Track]:
        return await self.store.tracks(track_ids, build=Track.build)


Info = strawberry.Info[RequestContext, None]
