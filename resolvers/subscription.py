"""Live updates: the report of every committed ingest or sync of a library, as it lands."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from persistence.errors import InvalidInput
from resolvers.types import Info, SyncReport


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Each committed ingest or sync of a library after subscribing, oldest first. "
            "No `userId`: the token's own library. Over graphql-transport-ws at /graphql."
        )
    )
    async def library_synced(
        self, info: Info, user_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SyncReport, None]:
        caller = info.context.caller
        followed = user_id if user_id is not None else caller.subject
        if followed is None:
            raise InvalidInput.one(
                "userId", "is required when the connection carries no token to take it from"
            )
        caller.ensure_may_read(followed)
        feed = info.context.feed
        assert feed is not None, "subscriptions are served only with the app's feed"
        async with feed.subscribe(followed) as reports:
            async for report in reports:
                yield SyncReport.from_domain(report)
