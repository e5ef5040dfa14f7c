"""The library's lists of tracks, liked and played, as cursor connections.

``LikedTracks`` and ``PlayHistory`` are what the deprecated root fields ``liked`` and
``plays`` returned; they are now connections, the same types under ``Library``. The
edges carry what belongs to the relation (when a track was liked or last played), the
node is the ``Track``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

import strawberry
from strawberry.relay import PageInfo

from persistence import models
from resolvers.context import Info
from resolvers.paging import PageArgs, page_info
from resolvers.tracks import Track, TrackValue, edge_tracks, load_tracks, selected_names

IDS_ONLY = frozenset({"trackIds", "totalCount", "pageInfo", "userId", "__typename"})
"""Fields of ``LikedTracks``/``PlayHistory`` that a page of bare track ids can answer."""
COUNT_ONLY = frozenset({"totalCount", "userId", "__typename"})
"""Fields that an empty page answers: the count is the snapshot's, stored with it."""

T = TypeVar("T", models.Like, models.Play)
IdsRead = Callable[..., Awaitable[models.Page[str]]]
WholeIds = Callable[[], Awaitable[models.Page[str]]]


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
class _TrackConnection:
    """What ``LikedTracks`` and ``PlayHistory`` share: a page of items that name tracks."""

    owner: strawberry.Private[str]
    page: strawberry.Private[models.Page[Any]]
    """Items, or only their track ids when the query asks for nothing else (``IDS_ONLY``)."""
    whole_ids: strawberry.Private[WholeIds | None] = None
    """Set when ``page`` is a default page but ``trackIds`` is the whole list."""

    @strawberry.field(deprecation_reason="use Library.userId")
    def user_id(self) -> strawberry.ID:
        return strawberry.ID(self.owner)

    @strawberry.field(
        description=(
            "Ids of the tracks, in the list's order: of this page when `first` or `last` "
            "is given, else of the whole list between `after` and `before` (ids are cheap)."
        )
    )
    async def track_ids(self) -> list[strawberry.ID]:
        if self.whole_ids is not None:
            return _track_ids(await self.whole_ids())
        return _track_ids(self.page)

    @strawberry.field(description="Items in the whole list, not just this page.")
    def total_count(self) -> int:
        return self.page.total

    @strawberry.field
    def page_info(self) -> PageInfo:
        return page_info(self.page)

    @strawberry.field(description="The tracks of this page, in the list's order.")
    async def nodes(self, info: Info) -> list[Track]:
        tracks = await load_tracks(info, _track_ids(_whole(self.page)))
        return cast("list[Track]", tracks)  # every item names a cached track


def _cursors(page: models.Page[Any], names: set[str]) -> Iterable[str]:
    """The page's cursors if the edges' ``cursor`` is selected (each costs an encoding)."""
    return page.cursors if "cursor" in names else itertools.repeat("")


C = TypeVar("C", bound=_TrackConnection)


async def read_connection(
    info: Info,
    cls: type[C],
    user_id: str,
    args: PageArgs,
    *,
    items: Callable[..., Awaitable[models.Page[Any]]],
    ids: IdsRead,
    whole_by_default: bool,
) -> C:
    """Read one page for ``cls``: of bare ids when the query asks for nothing more.

    ``whole_by_default``: without ``first``/``last`` the page is the whole list (the
    deprecated root fields, as documented); otherwise it is a default page of the
    configured size, and only ``trackIds`` reads the whole list.
    """
    if selects_only(info, COUNT_ONLY):
        # ``{ totalCount }`` (a badge, a progress bar) reads no list at all.
        empty = PageArgs(first=0, after=args.after, before=args.before)
        return cls(owner=user_id, page=await ids(**empty.as_kwargs()))
    if selects_only(info, IDS_ONLY):
        return cls(owner=user_id, page=await ids(**args.as_kwargs()))
    read = args if whole_by_default else args.bounded(info.context.max_page_size)
    page = await items(**read.as_kwargs())
    if read is args:
        return cls(owner=user_id, page=page)
    # ``trackIds`` with no size asked: every id between the cursors, as the ids-only path.
    return cls(owner=user_id, page=page, whole_ids=partial(ids, **args.as_kwargs()))


@strawberry.type(description="A liked track: when it was liked, and the track (`node`).")
class LikedTrack:
    track_id: strawberry.ID
    added_at: datetime
    cursor: str
    # Plain attributes, not resolvers: see ``edge_tracks``.
    node: TrackValue = strawberry.field(graphql_type=Track)
    track: TrackValue = strawberry.field(graphql_type=Track | None, deprecation_reason="use node")


@strawberry.type(description="A user's liked tracks, newest `addedAt` first.")
class LikedTracks(_TrackConnection):
    @strawberry.field
    async def edges(self, info: Info) -> list[LikedTrack]:
        return await self._edges(info)

    @strawberry.field(deprecation_reason="use edges or nodes")
    async def items(self, info: Info) -> list[LikedTrack]:
        return await self._edges(info)

    async def _edges(self, info: Info) -> list[LikedTrack]:
        page: models.Page[models.Like] = _whole(self.page)
        names = selected_names(info)
        tracks = await edge_tracks(info, [like.track_id for like in page.items], names)
        return [
            LikedTrack(
                track_id=strawberry.ID(like.track_id),
                added_at=like.added_at,
                cursor=c,
                node=track,
                track=track,
            )
            for like, c, track in zip(page.items, _cursors(page, names), tracks, strict=False)
        ]


@strawberry.type(description="The last time a user played a track, and the track (`node`).")
class Play:
    track_id: strawberry.ID
    last_played_at: datetime
    cursor: str
    # Plain attributes, not resolvers: see ``edge_tracks``.
    node: TrackValue = strawberry.field(graphql_type=Track)
    track: TrackValue = strawberry.field(graphql_type=Track | None, deprecation_reason="use node")


@strawberry.type(description="A user's plays, newest `lastPlayedAt` first.")
class PlayHistory(_TrackConnection):
    @strawberry.field
    async def edges(self, info: Info) -> list[Play]:
        return await self._edges(info)

    @strawberry.field(deprecation_reason="use edges or nodes")
    async def items(self, info: Info) -> list[Play]:
        return await self._edges(info)

    async def _edges(self, info: Info) -> list[Play]:
        page: models.Page[models.Play] = _whole(self.page)
        names = selected_names(info)
        tracks = await edge_tracks(info, [play.track_id for play in page.items], names)
        return [
            Play(
                track_id=strawberry.ID(p.track_id),
                last_played_at=p.last_played_at,
                cursor=c,
                node=track,
                track=track,
            )
            for p, c, track in zip(page.items, _cursors(page, names), tracks, strict=False)
        ]
