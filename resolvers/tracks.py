"""``Track``, the one object every list points at, and how lists load it in one go."""

from __future__ import annotations

from collections.abc import Awaitable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from resolvers import ids
from resolvers.ids import Node

if TYPE_CHECKING:  # the context's loader builds this module's ``Track``s
    from resolvers.context import Info


@strawberry.type(description="Global metadata of one track, shared by every user.")
class Track(Node):
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
    def build(
        cls,
        *,
        track_id: str,
        title: str,
        artists: list[str],
        album: str | None,
        duration_ms: int | None,
        isrc: str | None,
        explicit: bool | None,
        available: bool | None,
        tempo: float | None,
        energy: float | None,
        valence: float | None,
    ) -> Track:
        """From the store's fields (``LibraryStore.tracks(build=...)``), with no model
        in between. ``id`` is a plain attribute, set here: a page of 500 tracks costs no
        resolver calls."""
        return cls(
            id=ids.track_id(track_id),
            track_id=strawberry.ID(track_id),
            title=title,
            artists=artists,
            album=album,
            duration_ms=duration_ms,
            isrc=isrc,
            explicit=explicit,
            available=available,
            tempo=tempo,
            energy=energy,
            valence=valence,
        )


async def load_track(info: Info, track_id: str) -> Track | None:
    return await info.context.tracks.load(track_id)


async def load_tracks(info: Info, track_ids: Sequence[str]) -> list[Track | None]:
    """The tracks, each object shared by every place of the response that names it."""
    return await info.context.tracks.load_many(track_ids)


TRACK_FIELDS = frozenset({"track", "node"})
"""Fields of an edge that hold its ``Track``."""

TrackValue = Track | None | Awaitable[Track | None]
"""What an edge holds for its ``track``/``node``: the track, or one to load."""


async def edge_tracks(info: Info, track_ids: list[str], names: set[str]) -> Sequence[TrackValue]:
    """The ``track``/``node`` of each edge of a list whose selection is ``names``.

    Loaded at once when selected: one awaited load for the list instead of an async
    resolver per edge (the query to the store is the same, the loader batches either
    way, but 50 coroutines less per page of 50 cost more CPU than the rest of the page's
    fields together). So an edge holds its ``Track`` as a plain attribute
    (which ``resolvers._plain_objects`` completes without a resolver call per edge);
    otherwise each holds a ``LazyTrack``, which loads only if graphql-core awaits it.
    """
    if TRACK_FIELDS & names:
        return await load_tracks(info, track_ids)
    return [LazyTrack(info, track_id) for track_id in track_ids]


class LazyTrack:
    """A track not loaded yet: awaiting it loads it (through the request's loader)."""

    __slots__ = ("_info", "_track_id")

    def __init__(self, info: Info, track_id: str) -> None:
        self._info = info
        self._track_id = track_id

    def __await__(self) -> Generator[Any, None, Track | None]:
        return load_track(self._info, self._track_id).__await__()


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
