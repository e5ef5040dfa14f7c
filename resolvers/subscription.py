"""Live updates: the report of every committed ingest or sync of a library, as it lands."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from persistence.errors import InvalidInput
from persistence.feed import LibraryFeed
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
    ) -> AsyncIterator[SyncReport]:
        # Checked here, not in the stream: a refusal is then an error at this field's path.
        caller = info.context.caller
        followed = user_id if user_id is not None else caller.subject
        if followed is None:
            raise InvalidInput.one(
                "userId", "is required when the connection carries no token to take it from"
            )
        caller.ensure_may_read(followed)
        feed = info.context.feed
        assert feed is not None, "subscriptions are served only with the app's feed"
        return _reports(feed, followed)


async def _reports(feed: LibraryFeed, user_id: str) -> AsyncIterator[SyncReport]:
    async with feed.subscribe(user_id) as reports:
        async for report in reports:
            yield SyncReport.from_domain(report)
