"""The change feed: every committed ingest or sync, fanned out to in-process subscribers.

Every commit flips one ``libraries`` document (``_id`` = user id): ``version`` and
``lastSync`` (the commit's report) change in one update. The feed watches those
documents, so it sees commits made by any process or replica on the same store:

* ``change-stream``: one MongoDB change stream per process on ``libraries``, filtered
  server-side to updates that set ``lastSync``. Needs a replica set or a sharded
  cluster; delivers every commit.
* ``poll``: one query per interval per process, whatever the number of subscribers,
  for the documents of the libraries someone follows (``_id $in [...]``, by the
  primary key). A library committed twice within one interval is seen once, at its
  later version: the report's ``version`` then skips, which clients can see.
* ``auto`` (the default): change streams where the deployment's ``hello`` says it
  offers them (``setName`` or a ``mongos``), otherwise polling.

Each subscriber starts after the version committed when it subscribed and receives
each later version once, in increasing order (dedupe by user id and version), whatever
path delivered it and however often the stream was resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo.errors import OperationFailure, PyMongoError

from persistence._documents import report_from_doc
from persistence.models import SyncReport

log = logging.getLogger("librarycache.feed")

FeedMode = Literal["auto", "change-stream", "poll"]
_RETRY_SECONDS = 1.0
"""Pause before a failed poll or a broken change stream is tried again."""
_QUEUE = 64
"""Reports kept per subscriber that reads slower than commits arrive; older ones drop."""
_IN_BATCH = 1000
"""User ids per poll query: one query stays small however many libraries are followed."""


@dataclass(eq=False)
class _Subscriber:
    user_id: str
    after: int
    """The last version this subscriber has seen (or that was committed when it came)."""
    queue: asyncio.Queue[SyncReport | None] = field(default_factory=lambda: asyncio.Queue(_QUEUE))

    def offer(self, report: SyncReport) -> None:
        if report.version <= self.after:
            return  # seen already, through the other path or a resumed stream
        self.after = report.version
        if self.queue.full():
            # A subscriber this far behind wants the newest state more than each step.
            self.queue.get_nowait()
        self.queue.put_nowait(report)

    def end(self) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def reports(self) -> AsyncIterator[SyncReport]:
        while (report := await self.queue.get()) is not None:
            yield report


class LibraryFeed:
    """Watches the ``libraries`` collection of ``db`` while anyone subscribes.

    The app's lifespan owns it and calls :meth:`stop`. It starts watching at the first
    subscription; polling reads nothing while nobody follows.
    """

    def __init__(self, db: Any, *, mode: FeedMode = "auto", poll_seconds: float = 1.0) -> None:
        self._db = db
        self._libraries = db["libraries"]
        self._mode: FeedMode = mode
        self.poll_seconds = poll_seconds
        self._subscribers: dict[str, set[_Subscriber]] = {}
        self._followed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def mode(self) -> FeedMode:
        """The path in use: ``auto`` until the first subscription resolves it."""
        return self._mode

    async def stop(self) -> None:
        """End every subscription (their iterators finish) and stop watching."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # a failure of its own was logged as it ended
        self._end_all()

    def _end_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.end()

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or (error := task.exception()) is None:
            return
        # Say so loudly, and end the subscriptions: a client that sees its subscription
        # complete can resubscribe (elsewhere); one left waiting would hear nothing.
        log.error("library feed stopped; subscriptions end", exc_info=error)
        self._stopped = True
        self._end_all()

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[AsyncIterator[SyncReport]]:
        """Follow ``user_id``: the reports of its commits after now, in version order, once.

        Subscribed when the block is entered; the iterator ends when the feed stops.
        """
        doc = await self._libraries.find_one({"_id": user_id}, {"version": 1})
        subscriber = _Subscriber(user_id, after=int((doc or {}).get("version") or 0))
        if self._stopped:
            subscriber.end()
        else:
            self._subscribers.setdefault(user_id, set()).add(subscriber)
            self._followed.set()
            if self._task is None:
                # Not in the subscribing request's context: the feed outlives it, and must
                # not inherit its deadline (a client-side operation timeout) or request id.
                self._task = asyncio.create_task(
                    self._run(), name="library-feed", context=contextvars.Context()
                )
                self._task.add_done_callback(self._finished)
        try:
            yield subscriber.reports()
        finally:
            followers = self._subscribers.get(user_id, set())
            followers.discard(subscriber)
            if not followers:
                self._subscribers.pop(user_id, None)
            if not self._subscribers:
                self._followed.clear()

    def followers(self, user_id: str) -> int:
        """How many subscriptions in this process follow ``user_id``."""
        return len(self._subscribers.get(user_id, ()))

    def publish(self, report: SyncReport) -> None:
        """Hand one commit's report to the subscribers of its library."""
        for subscriber in tuple(self._subscribers.get(report.user_id, ())):
            subscriber.offer(report)

    async def poll_once(self) -> None:
        """One sweep over the followed libraries: their current reports, published."""
        users = list(self._subscribers)
        for start in range(0, len(users), _IN_BATCH):
            docs = await self._libraries.find(
                {"_id": {"$in": users[start : start + _IN_BATCH]}}, {"lastSync": 1}
            ).to_list(None)
            for doc in docs:
                if report := _report(doc.get("lastSync")):
                    self.publish(report)

    async def _run(self) -> None:
        chosen = self._mode == "auto"
        if chosen:
            self._mode = "change-stream" if await self._offers_change_streams() else "poll"
        log.info("library feed started", extra={"mode": self._mode})
        while True:
            try:
                if self._mode == "change-stream":
                    await self._watch()
                else:
                    await self._poll()
            except PyMongoError as error:
                refused = isinstance(error, OperationFailure) and self._mode == "change-stream"
                if refused and chosen:
                    # The deployment said it had change streams and then refused one.
                    log.warning("change streams refused (%s); polling instead", error)
                    self._mode = "poll"
                    continue
                # Commits made meanwhile are caught up by the next sweep (or the stream's
                # catch-up sweep) once the store answers again.
                log.warning("library feed interrupted; retrying", exc_info=True)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _poll(self) -> None:
        while True:
            await self._followed.wait()
            await self.poll_once()
            await asyncio.sleep(self.poll_seconds)

    async def _watch(self) -> None:
        pipeline = [
            {
                "$match": {
                    "$or": [
                        {"operationType": {"$in": ["insert", "replace"]}},
                        {"updateDescription.updatedFields.lastSync": {"$exists": True}},
                    ]
                }
            }
        ]
        stream = self._libraries.watch(pipeline)
        if inspect.isawaitable(stream):  # PyMongo's async API; Motor's returns the stream
            stream = await stream
        try:
            # Whatever committed while no stream was open (before it, or while it was
            # broken) is caught up once; dedupe drops what the stream delivers again.
            await self.poll_once()
            async for change in stream:
                fields: Mapping[str, Any] = (
                    (change.get("updateDescription") or {}).get("updatedFields")
                    or change.get("fullDocument")
                    or {}
                )
                if report := _report(fields.get("lastSync")):
                    self.publish(report)
        finally:
            await stream.close()

    async def _offers_change_streams(self) -> bool:
        try:
            hello: Mapping[str, Any] = await self._db.command("hello")
        except (PyMongoError, NotImplementedError):
            # mongomock has no ``hello`` (and no change streams).
            return False
        return "setName" in hello or hello.get("msg") == "isdbgrid"


def _report(doc: Mapping[str, Any] | None) -> SyncReport | None:
    """The report ``LibraryStore`` stores as ``lastSync``, or None for a doc without one."""
    return None if not doc else report_from_doc(doc)
