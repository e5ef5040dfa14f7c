"""Write resolvers: validate the payload at the edge, then hand a snapshot to the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import strawberry

from persistence import LibrarySnapshot
from persistence import models as domain
from resolvers.context import Info
from resolvers.inputs import LibraryInput
from resolvers.reports import SyncReport

# The snapshot the variable was validated into (``resolvers.variables``), or else the
# value as graphql-core coerced it (``resolvers.inputs``), which pydantic validates here.
Library = Annotated[
    LibrarySnapshot | Mapping[str, Any], strawberry.argument(graphql_type=LibraryInput)
]


def _snapshot(info: Info, library: LibrarySnapshot | Mapping[str, Any]) -> LibrarySnapshot:
    info.context.caller.ensure_may_sync()
    if isinstance(library, LibrarySnapshot):
        return library  # validated with these limits while its variable was coerced
    return LibrarySnapshot.parse(library, info.context.limits)


def _payload(info: Info, report: domain.SyncReport) -> SyncReport:
    # The payload's ``library`` must show what was just committed, not a view this
    # request resolved before (an earlier mutation of the same document, say).
    info.context.forget(report.user_id)
    return SyncReport.from_domain(report)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        name="ingest",
        description="First load of a user's library; refused with ALREADY_INGESTED after that.",
    )
    async def ingest(self, info: Info, input: Library) -> SyncReport | None:
        return _payload(info, await info.context.store.ingest(_snapshot(info, input)))

    @strawberry.mutation(
        description="Replace a user's likes, plays and playlists atomically; creates if new."
    )
    async def sync(self, info: Info, input: Library) -> SyncReport | None:
        return _payload(info, await info.context.store.sync(_snapshot(info, input)))
