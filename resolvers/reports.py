"""What an ingest or sync reports, with the library it changed."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from persistence import models

if TYPE_CHECKING:
    from resolvers.library import Library


@strawberry.enum(description="Whether a report is of an ingest or a sync.")
class SyncKind(enum.Enum):
    INGEST = "INGEST"
    SYNC = "SYNC"


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

    @strawberry.field(
        description=(
            "The library as it is now: select the lists a client shows, and its "
            "normalized cache updates them without a refetch."
        )
    )
    def library(self) -> Annotated[Library, strawberry.lazy("resolvers.library")]:
        from resolvers.library import Library  # the two types refer to each other

        return Library.of(self.user_id, at_least=self.version)

    @classmethod
    def from_domain(cls, report: models.SyncReport) -> SyncReport:
        values = dict(report.__dict__)
        values["user_id"] = strawberry.ID(report.user_id)
        values["kind"] = SyncKind(report.kind.value)
        return cls(**values)
