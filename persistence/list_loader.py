"""A per-request batch loader whose unit is a list of keys, not a key.

Used by the request's track loader (``resolvers.context``) and by a snapshot's batched
playlist-entry reads (``persistence.reads``); it knows nothing of GraphQL.

Strawberry's ``DataLoader`` makes a future, a cache entry, a batch task and a done
callback per key, and ``load_many`` gathers them: for a response with 5,000 playlist
entries that is ~10,000 event-loop callbacks to hand back objects already in memory.
Lists load whole here: a ``load_many`` call costs one future, however long its list.

The semantics are the DataLoader's: the keys asked for within one tick of the event
loop are loaded by one call of ``load_fn`` (each key once); results are kept for the
request (a key ``load_fn`` did not return is ``None``), until ``clear_all``, or with
``cache=False`` only handed to the callers of their batch; a failed load fails every
caller of that batch, and is not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ListLoader(Generic[K, V]):
    def __init__(
        self, load_fn: Callable[[list[K]], Awaitable[Mapping[K, V]]], *, cache: bool = True
    ) -> None:
        self._load_fn = load_fn
        self._caching = cache
        self._cache: dict[K, V | None] = {}
        self._wanted: dict[K, None] | None = None
        """Keys of the batch not dispatched yet (a dict: ordered, each once)."""
        self._batch: asyncio.Future[Mapping[K, V]] | None = None
        self._dispatching: set[asyncio.Task[None]] = set()

    async def load(self, key: K) -> V | None:
        return (await self.load_many((key,)))[0]

    async def load_many(self, keys: Iterable[K]) -> list[V | None]:
        """The values of ``keys``, in their order (``None`` for those not found)."""
        keys = keys if isinstance(keys, Sequence) else list(keys)
        if not self._caching:
            found = await asyncio.shield(self._join(list(keys)))
            return [found.get(k) for k in keys]
        cache = self._cache
        missing = [k for k in keys if k not in cache]
        while missing:
            await asyncio.shield(self._join(missing))
            # Keys cleared (``clear_all``) while their batch was in flight: again.
            missing = [k for k in missing if k not in self._cache]
            cache = self._cache
        return [cache[k] for k in keys]

    def clear_all(self) -> None:
        """Forget every value: later loads read afresh."""
        self._cache = {}

    def _join(self, keys: list[K]) -> asyncio.Future[Mapping[K, V]]:
        if self._wanted is None or self._batch is None:
            loop = asyncio.get_running_loop()
            self._wanted = {}
            self._batch = loop.create_future()
            # As a DataLoader does: whatever else this tick asks for joins first.
            loop.call_soon(self._dispatch_soon, self._wanted, self._batch)
        self._wanted.update(dict.fromkeys(keys))
        return self._batch

    def _dispatch_soon(self, wanted: dict[K, None], done: asyncio.Future[Mapping[K, V]]) -> None:
        task = asyncio.ensure_future(self._dispatch(wanted, done))
        self._dispatching.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._dispatching.discard)

    async def _dispatch(self, wanted: dict[K, None], done: asyncio.Future[Mapping[K, V]]) -> None:
        if self._wanted is wanted:
            self._wanted = self._batch = None  # the next key starts a new batch
        keys = list(wanted)
        cache = self._cache
        try:
            found = await self._load_fn(keys)
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError):
                done.cancel()
                raise
            done.set_exception(error)
            done.add_done_callback(_retrieved)
            return
        if self._caching:
            for key in keys:
                cache[key] = found.get(key)
        done.set_result(found)


def _retrieved(done: asyncio.Future[Any]) -> None:
    """Marks the error as seen: callers cancelled meanwhile would not have read it."""
    if not done.cancelled():
        done.exception()
