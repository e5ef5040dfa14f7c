"""A request's deadline stops the store work it started, on both drivers.

Cancelling the awaiting task is not enough: Motor runs each command in a thread, which
went on reading for 110 s after a timed-out request had been answered. Under
``persistence.client.deadline`` the driver itself ends the command. The store here is
frozen (SIGSTOP), so a command can only end by the deadline; command monitoring shows
when the driver gave it up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import monitoring

from persistence import LibraryStore, StoreUnavailable, detect_dialect
from persistence.client import Client, Driver, close, connect, deadline
from tests.factories import make_library, snapshot
from tests.wire_server import wire_server

DEADLINE = 0.6
CANCEL_AFTER = 0.2


class Ended(monitoring.CommandListener):
    """When each command's driver reported it done (succeeded or failed)."""

    def __init__(self) -> None:
        self.open: dict[int, str] = {}
        self.ended_at: dict[str, float] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.open[event.request_id] = event.command_name

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._end(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._end(event.request_id)

    def _end(self, request_id: int) -> None:
        name = self.open.pop(request_id, None)
        if name is not None:
            self.ended_at[name] = time.monotonic()


@pytest.fixture(params=["motor", "pymongo"])
async def frozen(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[LibraryStore, Ended]]:
    """A store on a server that holds one library and then stops answering."""
    driver: Driver = request.param
    ended = Ended()
    async with wire_server(tmp_path) as server:
        client: Client = connect(server.uri, driver, listeners=[ended])
        db = client["deadline"]
        store = LibraryStore(db, dialect=await detect_dialect(db))
        await store.ensure_indexes()
        await store.ingest(snapshot(make_library(likes=5)))
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            yield store, ended
        finally:
            os.kill(server.pid, signal.SIGCONT)
            await close(client)


async def test_a_cancelled_read_ends_its_command_by_the_deadline(
    frozen: tuple[LibraryStore, Ended],
) -> None:
    store, ended = frozen
    started = time.monotonic()
    with deadline(DEADLINE), pytest.raises(TimeoutError):
        async with asyncio.timeout(CANCEL_AFTER):  # the request's own timeout answers first
            await store.liked("user:alice")
    # The command the read had sent is ended by the driver, not left running.
    await asyncio.sleep(DEADLINE + 1.0)
    assert ended.open == {}, f"still running: {ended.open}"
    assert ended.ended_at["find"] - started < DEADLINE + 1.0


async def test_a_read_past_the_deadline_is_unavailable_promptly(
    frozen: tuple[LibraryStore, Ended],
) -> None:
    store, ended = frozen
    started = time.monotonic()
    with deadline(DEADLINE), pytest.raises(StoreUnavailable):
        await store.liked("user:alice")
    assert time.monotonic() - started < DEADLINE + 1.0
    await asyncio.sleep(0.2)
    assert ended.open == {}
