"""The list loader (persistence/list_loader.py) keeps the DataLoader's promises."""

from __future__ import annotations

import asyncio

import pytest

from persistence.list_loader import ListLoader


class Source:
    """Values ``v:<key>`` for keys not starting with ``-``; records each call's keys."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None
        self.started = asyncio.Event()

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.calls.append(keys)
        self.started.set()
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return {k: f"v:{k}" for k in keys if not k.startswith("-")}


async def test_lists_asked_in_one_tick_are_one_load_of_each_key_once() -> None:
    source = Source()
    loader: ListLoader[str, str] = ListLoader(source)
    first, second, one = await asyncio.gather(
        loader.load_many(["a", "b", "a"]), loader.load_many(["b", "c", "-x"]), loader.load("d")
    )
    assert first == ["v:a", "v:b", "v:a"]
    assert second == ["v:b", "v:c", None]  # not found: None
    assert one == "v:d"
    assert source.calls == [["a", "b", "c", "-x", "d"]]


async def test_values_are_kept_for_the_request_until_cleared() -> None:
    source = Source()
    loader: ListLoader[str, str] = ListLoader(source)
    await loader.load_many(["a", "-x"])
    assert await loader.load_many(["-x", "a"]) == [None, "v:a"]
    assert await loader.load_many(["a", "b"]) == ["v:a", "v:b"]
    assert source.calls == [["a", "-x"], ["b"]]  # only what was not loaded yet
    loader.clear_all()
    assert await loader.load("a") == "v:a"
    assert source.calls[-1] == ["a"]


async def test_a_clear_during_a_load_reads_afresh() -> None:
    source = Source()
    loader: ListLoader[str, str] = ListLoader(source)
    pending = asyncio.ensure_future(loader.load_many(["a"]))
    await source.started.wait()  # the batch is in flight
    loader.clear_all()  # e.g. a sync committed meanwhile: that value may be stale
    assert await pending == ["v:a"]
    assert source.calls == [["a"], ["a"]]


async def test_a_failed_load_fails_every_caller_and_is_not_kept() -> None:
    source = Source()
    source.fail = RuntimeError("store down")
    loader: ListLoader[str, str] = ListLoader(source)
    results = await asyncio.gather(
        loader.load_many(["a"]), loader.load("b"), return_exceptions=True
    )
    assert [str(r) for r in results] == ["store down", "store down"]
    source.fail = None
    assert await loader.load_many(["a", "b"]) == ["v:a", "v:b"]
    assert source.calls == [["a", "b"], ["a", "b"]]


async def test_a_cancelled_caller_leaves_the_others_their_values() -> None:
    source = Source()
    loader: ListLoader[str, str] = ListLoader(source)
    gone = asyncio.ensure_future(loader.load_many(["a"]))
    staying = asyncio.ensure_future(loader.load_many(["a", "b"]))
    await asyncio.sleep(0)
    gone.cancel()
    assert await staying == ["v:a", "v:b"]
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert source.calls == [["a", "b"]]


async def test_without_cache_each_tick_loads_again_and_still_batches() -> None:
    source = Source()
    loader: ListLoader[str, str] = ListLoader(source, cache=False)
    first, second = await asyncio.gather(loader.load_many(["a", "-x"]), loader.load("a"))
    assert first == ["v:a", None]
    assert second == "v:a"
    assert await loader.load("a") == "v:a"
    assert source.calls == [["a", "-x"], ["a"]]
