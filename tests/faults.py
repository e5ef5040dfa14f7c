"""A database proxy that injects store failures, pauses and yields into what the store does.

``LibraryStore(FaultyDatabase(real_db, Fail("insert_many", nth=2)))`` behaves like a store on
``real_db`` except that its second ``insert_many`` raises ``AutoReconnect``. Only the operations
the store uses are proxied (see ``persistence.store``); anything else is refused loudly, so a
new operation in the store cannot silently bypass the faults.

* ``Fail``: raise before the operation reaches the server (it did not happen) or, with
  ``applied=True``, after it (it happened but the reply was lost). With ``down=True`` every
  later operation fails too: the process lost the store for good, as if it had been killed,
  so it cannot even release its lease.
* ``Pause``: stop before the operation until the test sets ``resume``; ``reached`` tells the
  test that the store got there. This is how a stalled sync (a "zombie") is staged.
* ``yield_every_op=True``: ``await asyncio.sleep(0)`` before every operation. mongomock-motor
  runs each call synchronously and never yields to the event loop, so without this a sync on
  mongomock would run start to end between two reads and concurrency tests would prove nothing.
* ``Fail("write", nth=k)`` and ``Pause("write", nth=k)`` select the k-th write of any kind;
  ``FaultyDatabase.calls`` records every operation, so a test can learn the order of a sync's
  writes from one run and then stop a sync at each of them in turn.

Also here, for the tests that check the aftermath: ``Clock`` (leases expire on it), ``view``
and ``expected_view`` (everything a reader sees of a library, and what it must be), and
``assert_only_committed_documents`` (no document of a sync that never committed is left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pymongo.errors import AutoReconnect, PyMongoError

from persistence import LibrarySnapshot, LibraryStore, Like, Play, Playlist
from persistence._documents import LIVE

Op = Literal[
    "find",
    "find_one",
    "find_one_and_update",
    "insert_many",
    "update_one",
    "update_many",
    "delete_many",
    "bulk_write",
    "create_index",
    "command",
]
Selector = Op | Literal["write"]
"""An operation, or ``"write"``: any of ``WRITES``."""
WRITES: frozenset[Op] = frozenset(
    {"find_one_and_update", "insert_many", "update_one", "update_many", "delete_many", "bulk_write"}
)


def _auto_reconnect() -> PyMongoError:
    return AutoReconnect("injected: connection closed part-way through the sync")


@dataclass
class Fail:
    """Raise ``error()`` at the ``nth`` call of ``op`` (on ``collection``, if given)."""

    op: Selector
    nth: int = 1
    collection: str | None = None
    applied: bool = False
    down: bool = False
    error: Callable[[], PyMongoError] = _auto_reconnect
    fired: bool = False


@dataclass
class Pause:
    """Hold the ``nth`` call of ``op`` until ``resume`` is set."""

    op: Selector
    nth: int = 1
    collection: str | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)


Fault = Fail | Pause


@dataclass
class Call:
    collection: str
    op: Op
    filter: Any = None
    """The filter of a find, update or delete; None for inserts and bulk writes."""

    @property
    def is_write(self) -> bool:
        return self.op in WRITES


class _Plan:
    """Shared by a database proxy and its collections: counts calls and applies faults."""

    def __init__(self, faults: tuple[Fault, ...], yield_every_op: bool) -> None:
        self.faults = faults
        self.yield_every_op = yield_every_op
        self.calls: list[Call] = []
        self.down = False

    @staticmethod
    def _selects(fault: Fault, call: Call) -> bool:
        op = fault.op == call.op or (fault.op == "write" and call.is_write)
        return op and fault.collection in (None, call.collection)

    def _matches(self, fault: Fault, call: Call) -> bool:
        if not self._selects(fault, call):
            return False
        return sum(1 for c in self.calls if self._selects(fault, c)) == fault.nth

    async def run(
        self, collection: str, op: Op, action: Callable[[], Any], filter: Any = None
    ) -> Any:
        if self.yield_every_op:
            await asyncio.sleep(0)
        if self.down:
            raise _auto_reconnect()
        call = Call(collection, op, filter)
        self.calls.append(call)
        fail: Fail | None = None
        for fault in self.faults:
            if not self._matches(fault, call):
                continue
            if isinstance(fault, Pause):
                fault.reached.set()
                await fault.resume.wait()
            else:
                fail = fault
        if fail is not None and not fail.applied:
            self._fire(fail)
        result = action()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        if fail is not None:
            self._fire(fail)
        return result

    def _fire(self, fail: Fail) -> None:
        fail.fired = True
        if fail.down:
            self.down = True
        raise fail.error()


class FaultyDatabase:
    """Wraps a Motor/AsyncMongoClient database; see the module docstring."""

    def __init__(self, db: Any, *faults: Fault, yield_every_op: bool = False) -> None:
        self._db = db
        self.plan = _Plan(faults, yield_every_op)

    @property
    def calls(self) -> list[Call]:
        return self.plan.calls

    def __getitem__(self, name: str) -> FaultyCollection:
        return FaultyCollection(self._db[name], name, self.plan)

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.plan.run("$cmd", "command", lambda: self._db.command(*args, **kwargs))


class FaultyCollection:
    def __init__(self, coll: Any, name: str, plan: _Plan) -> None:
        self._coll = coll
        self._name = name
        self._plan = plan

    def find(self, *args: Any, **kwargs: Any) -> FaultyCursor:
        cursor = self._coll.find(*args, **kwargs)
        return FaultyCursor(cursor, self._name, self._plan, args[0] if args else None)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("find_one", args, kwargs)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("find_one_and_update", args, kwargs)

    async def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("insert_many", args, kwargs)

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("update_one", args, kwargs)

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("update_many", args, kwargs)

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("delete_many", args, kwargs)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("bulk_write", args, kwargs)

    async def create_index(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("create_index", args, kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"FaultyCollection does not proxy {name!r}; add it to tests/faults.py")

    async def _run(self, op: Op, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        method = getattr(self._coll, op)
        filter = args[0] if args and op not in ("insert_many", "bulk_write") else None
        return await self._plan.run(self._name, op, lambda: method(*args, **kwargs), filter)


class FaultyCursor:
    """``find(...)`` is lazy: the fault applies when the cursor is read (``to_list``)."""

    def __init__(self, cursor: Any, collection: str, plan: _Plan, filter: Any) -> None:
        self._cursor = cursor
        self._collection = collection
        self._plan = plan
        self._filter = filter

    def sort(self, *args: Any, **kwargs: Any) -> FaultyCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, count: int) -> FaultyCursor:
        self._cursor = self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        result: list[Any] = await self._plan.run(
            self._collection, "find", lambda: self._cursor.to_list(length), self._filter
        )
        return result

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"FaultyCursor does not proxy {name!r}; add it to tests/faults.py")


class Clock:
    """A clock a test moves by hand, for ``LibraryStore(..., clock=)``: leases expire on it.

    Starts at the real time, since stored leases are compared with it.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def later(self, seconds: float) -> Clock:
        """Another clock, ``seconds`` ahead of this one (another process's view of time)."""
        return Clock(self.now + timedelta(seconds=seconds))


# ------------------------------------------------------------------ what a reader sees


@dataclass(frozen=True)
class View:
    """Everything a reader can see of one user's library, in the store's order."""

    liked: list[Like]
    plays: list[Play]
    playlists: list[Playlist]


async def view(store: LibraryStore, user_id: str) -> View:
    return View(
        liked=(await store.liked(user_id)).items,
        plays=(await store.plays(user_id)).items,
        playlists=await store.playlists(user_id),
    )


def expected_view(snapshot: LibrarySnapshot) -> View:
    """What a reader must see once ``snapshot`` is committed, worked out from the payload."""
    return View(
        liked=sorted(snapshot.likes, key=lambda x: (x.added_at, x.track_id), reverse=True),
        plays=sorted(snapshot.plays, key=lambda x: (x.last_played_at, x.track_id), reverse=True),
        playlists=list(snapshot.playlists),
    )


PER_USER = ("likes", "plays", "playlists")


async def raw_documents(db: Any, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """The user's stored documents per collection, whatever version they belong to."""
    return {name: await db[name].find({"userId": user_id}).to_list(None) for name in PER_USER}


async def assert_only_committed_documents(db: Any, user_id: str, committed: set[int]) -> None:
    """After a sync and its clean-up: every document belongs to the current or the previous
    snapshot, and none carries the version of a sync that never committed.

    ``committed``: every version the user's syncs ever committed.
    """
    library = await db["libraries"].find_one({"_id": user_id})
    assert library is not None
    assert library.get("lease") is None, "a lease was left behind"
    current, previous = library["version"], library["floor"]
    for name, found in (await raw_documents(db, user_id)).items():
        for doc in found:
            assert doc["from"] in committed, (name, doc, committed)
            assert doc["to"] == LIVE or doc["to"] in committed, (name, doc, committed)
            visible = [v for v in (current, previous) if doc["from"] <= v < doc["to"]]
            assert visible, f"{name}: {doc} is in neither snapshot {current} nor {previous}"
