"""Live updates: the report of every committed ingest or sync of a library, as it lands."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from persistence.errors import InvalidInput
from resolvers.context import Info
from resolvers.reports import SyncReport


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
        return _reports(info, followed)


async def _reports(info: Info, user_id: str) -> AsyncIterator[SyncReport]:
    feed = info.context.feed
    assert feed is not None, "subscriptions are served only with the app's feed"
    async with feed.subscribe(user_id) as reports:
        async for report in reports:
            # The connection's context outlives many events: each one's ``library`` is
            # read from the store as it is now, not from a view an earlier event pinned.
            info.context.forget(user_id)
            yield SyncReport.from_domain(report)
