"""``Track``, the one object every list points at, and how lists load it in one go."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from persistence import models
from resolvers import ids
from resolvers.context import Info
from resolvers.ids import Node


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
    def from_domain(cls, track: models.Track) -> Track:
        # ``id`` is a plain attribute, set here: a page of 500 tracks costs no resolver calls.
        return cls(
            id=ids.track_id(track.track_id),
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


async def load_tracks(info: Info, track_ids: Sequence[str]) -> list[Track | None]:
    found = await info.context.tracks.load_many(track_ids)
    return [None if track is None else Track.from_domain(track) for track in found]


TRACK_FIELDS = frozenset({"track", "node"})
"""Fields of an edge that hold its ``Track``."""


async def prefetch_tracks(info: Info, track_ids: list[str]) -> list[Track | None] | None:
    """Metadata of a whole list's tracks at once, if the query asks for ``track`` of them.

    One awaited load for the list instead of an async ``track`` resolver per item: the
    query to the store is the same (the loader batches either way), but 50 coroutines
    less per page of 50 cost more CPU than the rest of the page's fields together.
    """
    if not TRACK_FIELDS & selected_names(info):
        return None
    return await load_tracks(info, track_ids)


class Prefetchable:
    """An edge whose ``Track`` its list resolver may have loaded already (``prefetched``)."""

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
