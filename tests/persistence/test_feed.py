"""The change feed behind ``Subscription.librarySynced``, on every backend.

The polling path runs everywhere; the change-stream path needs a real replica set
(``LIBRARYCACHE_TEST_MONGODB_URI`` pointing at one), since neither stand-in offers change streams.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from persistence import LibraryStore
from persistence.client import Client
from persistence.feed import LibraryFeed
from persistence.models import SyncReport
from tests.backends import TEST_MONGODB_URI
from tests.factories import make_library, snapshot

WAIT = 10.0


class _CountingDb:
    """The test database, counting the ``find`` queries sent to ``libraries``."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.finds = 0

    def __getitem__(self, name: str) -> Any:
        collection = self.db[name]
        counter = self

        class Counted:
            def __getattr__(self, attribute: str) -> Any:
                return getattr(collection, attribute)

            def find(self, *args: Any, **kwargs: Any) -> Any:
                counter.finds += 1
                return collection.find(*args, **kwargs)

        return Counted()

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.db.command(*args, **kwargs)


@pytest.fixture
async def feed(mongo_client: Client, db_name: str) -> AsyncIterator[LibraryFeed]:
    feed = LibraryFeed(mongo_client[db_name], mode="poll", poll_seconds=0.05)
    yield feed
    await feed.stop()


async def _collect(feed: LibraryFeed, user_id: str, into: list[SyncReport]) -> None:
    async with feed.subscribe(user_id) as reports:
        async for report in reports:
            into.append(report)


async def _following(feed: LibraryFeed, user_id: str, count: int = 1) -> None:
    await _until(lambda: feed.followers(user_id) >= count)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for what other tasks (the subscribers, the feed's poll) bring about."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - the state is the feed's, it has no event
            await asyncio.sleep(0.01)


async def test_a_subscriber_gets_each_later_commit_once_in_order(
    store: LibraryStore, feed: LibraryFeed
) -> None:
    await store.ingest(snapshot(make_library("user:alice", likes=1)))
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:alice", seen))
    await _following(feed, "user:alice")

    for likes in (2, 3):
        await store.sync(snapshot(make_library("user:alice", likes=likes)))
        await _until(lambda likes=likes: len(seen) == likes - 1)
    await store.sync(snapshot(make_library("user:bob", likes=5)))
    await asyncio.sleep(feed.poll_seconds * 4)  # several polls: nothing more arrives

    await feed.stop()
    await asyncio.wait_for(task, WAIT)  # the subscription ends with the feed
    # The ingest committed before subscribing is not replayed; bob's sync is not alice's.
    assert [(r.user_id, r.version, r.kind.value, r.total_likes) for r in seen] == [
        ("user:alice", 2, "SYNC", 2),
        ("user:alice", 3, "SYNC", 3),
    ]


async def test_the_first_commit_of_a_new_library_is_delivered(
    store: LibraryStore, feed: LibraryFeed
) -> None:
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:new", seen))
    await _following(feed, "user:new")

    report = await store.ingest(snapshot(make_library("user:new", likes=2)))

    await _until(lambda: len(seen) == 1)
    assert seen == [report]
    task.cancel()


async def test_polls_are_one_query_per_sweep_whatever_the_subscribers(
    store: LibraryStore, mongo_client: Client, db_name: str
) -> None:
    db = _CountingDb(mongo_client[db_name])
    feed = LibraryFeed(db, mode="poll", poll_seconds=3600)  # sweeps driven by the test
    users = [f"user:{i}" for i in range(5)]
    seen: dict[str, list[SyncReport]] = {}
    tasks = [
        asyncio.create_task(_collect(feed, user, seen.setdefault(f"{user}/{n}", [])))
        for user in users
        for n in range(4)
    ]
    for user in users:
        await _following(feed, user, 4)
    await _until(lambda: db.finds >= 1)  # the feed's own first sweep is done
    for user in users:
        await store.ingest(snapshot(make_library(user, likes=1)))
    finds = db.finds

    await feed.poll_once()
    await feed.poll_once()  # the same versions again: delivered once

    assert db.finds - finds == 2
    await _until(lambda: all(len(reports) == 1 for reports in seen.values()))
    assert sorted({r.user_id for reports in seen.values() for r in reports}) == users
    await feed.stop()
    await asyncio.gather(*tasks)
    assert all(len(reports) == 1 for reports in seen.values())


async def test_a_report_handed_over_twice_or_late_is_delivered_once(
    store: LibraryStore, mongo_client: Client, db_name: str
) -> None:
    # Reports of a library that is not in the store, so no poll interferes: the test
    # hands them over as a change stream and a catch-up poll might, twice and out of order.
    feed = LibraryFeed(mongo_client[db_name], mode="poll", poll_seconds=3600)
    report = await store.ingest(snapshot(make_library("user:model", likes=1)))
    one, two, three = (replace(report, user_id="user:alice", version=v) for v in (1, 2, 3))
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:alice", seen))
    await _following(feed, "user:alice")

    for handed in (one, one, two, one, three, two, three):
        feed.publish(handed)

    await _until(lambda: len(seen) == 3)
    await feed.stop()
    await task
    assert seen == [one, two, three]


async def test_nothing_is_read_while_nobody_follows(
    store: LibraryStore, mongo_client: Client, db_name: str
) -> None:
    db = _CountingDb(mongo_client[db_name])
    feed = LibraryFeed(db, mode="poll", poll_seconds=0.01)
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:alice", seen))
    await _following(feed, "user:alice")
    await _until(lambda: db.finds >= 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert feed.followers("user:alice") == 0
    finds = db.finds

    await asyncio.sleep(0.2)  # twenty intervals

    assert db.finds - finds <= 1  # at most the sweep that was under way
    await feed.stop()


async def test_a_subscription_after_stop_ends_at_once(feed: LibraryFeed) -> None:
    await feed.stop()
    seen: list[SyncReport] = []
    await asyncio.wait_for(_collect(feed, "user:alice", seen), WAIT)
    assert seen == []


@pytest.mark.skipif(
    not os.environ.get(TEST_MONGODB_URI),
    reason=f"change streams need a real MongoDB replica set at {TEST_MONGODB_URI} (none here)",
)
@pytest.mark.parametrize("backend", ["mongodb"], indirect=True)
async def test_change_streams_deliver_every_commit(
    store: LibraryStore, mongo_client: Client, db_name: str
) -> None:
    hello = await mongo_client[db_name].command("hello")
    if "setName" not in hello and hello.get("msg") != "isdbgrid":
        pytest.skip(f"{TEST_MONGODB_URI} is a standalone server: change streams need a replica set")
    feed = LibraryFeed(mongo_client[db_name])  # auto: picks the change stream
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:alice", seen))
    await _following(feed, "user:alice")
    await _until(lambda: feed.mode == "change-stream")
    await asyncio.sleep(0.5)  # the stream is opened by the feed's task

    # Three commits in quick succession: a poll might merge them, the stream does not.
    for likes in (1, 2, 3):
        sync = store.ingest if likes == 1 else store.sync
        await sync(snapshot(make_library("user:alice", likes=likes)))

    await _until(lambda: len(seen) == 3)
    assert [r.version for r in seen] == [1, 2, 3]
    await feed.stop()
    await task


class _BrokenDb(_CountingDb):
    """Answers the subscription's own read, then fails every sweep with a bug's error."""

    def __getitem__(self, name: str) -> Any:
        collection = super().__getitem__(name)

        class Broken:
            def __getattr__(self, attribute: str) -> Any:
                return getattr(collection, attribute)

            def find(self, *args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("a bug in the feed")

        return Broken()


async def test_a_feed_that_fails_ends_its_subscriptions_and_says_so(
    mongo_client: Client, db_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    feed = LibraryFeed(_BrokenDb(mongo_client[db_name]), mode="poll", poll_seconds=0.01)
    seen: list[SyncReport] = []

    await asyncio.wait_for(_collect(feed, "user:alice", seen), WAIT)  # ends, not hangs
    await asyncio.wait_for(_collect(feed, "user:bob", seen), WAIT)  # so does a new one

    assert seen == []
    assert "library feed stopped; subscriptions end" in caplog.text
    await feed.stop()


class _FlakyDb(_CountingDb):
    """The first sweeps find the store unreachable, as during a failover."""

    def __init__(self, db: Any, failures: int) -> None:
        super().__init__(db)
        self.failures = failures

    def __getitem__(self, name: str) -> Any:
        collection = super().__getitem__(name)
        flaky = self

        class Flaky:
            def __getattr__(self, attribute: str) -> Any:
                return getattr(collection, attribute)

            def find(self, *args: Any, **kwargs: Any) -> Any:
                if flaky.failures:
                    flaky.failures -= 1
                    raise AutoReconnect("the primary stepped down")
                return collection.find(*args, **kwargs)

        return Flaky()


async def test_the_feed_rides_out_a_store_outage(
    store: LibraryStore, mongo_client: Client, db_name: str
) -> None:
    db = _FlakyDb(mongo_client[db_name], failures=2)
    feed = LibraryFeed(db, mode="poll", poll_seconds=0.01)
    seen: list[SyncReport] = []
    task = asyncio.create_task(_collect(feed, "user:alice", seen))
    await _following(feed, "user:alice")

    report = await store.ingest(snapshot(make_library("user:alice", likes=1)))

    await _until(lambda: len(seen) == 1)
    assert db.failures == 0
    assert seen == [report]
    await feed.stop()
    await task
