"""The per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from persistence import LibraryStore, Limits, Track
from persistence.feed import LibraryFeed
from resolvers.access import OPEN, Caller


@dataclass
class RequestContext:
    store: LibraryStore
    limits: Limits = field(default_factory=Limits)
    max_page_size: int = 500
    request_id: str = "-"
    caller: Caller = OPEN
    feed: LibraryFeed | None = None
    """The change feed that subscriptions follow; None where nothing serves them."""
    tracks: DataLoader[str, Track | None] = field(init=False)

    def __post_init__(self) -> None:
        # One loader per request: track metadata for a whole page is one query, and
        # nothing is cached across requests (a sync may change it in between).
        self.tracks = DataLoader(load_fn=self._load_tracks)

    async def _load_tracks(self, track_ids: list[str]) -> list[Track | None]:
        found = await self.store.tracks(set(track_ids))
        return [found.get(track_id) for track_id in track_ids]
