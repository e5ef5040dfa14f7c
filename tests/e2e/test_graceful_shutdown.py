"""SIGTERM during a large sync: the sync finishes, or is cut off cleanly, and never half-lands.

A real ``librarycache serve`` on its embedded store gets SIGTERM on its own pid (as Docker and
Kubernetes send it) while a sync of 10-20k likes and plays is being written. After a restart
on the same data, the library must be exactly the previous snapshot or exactly the new one,
and syncing again must work at once (no lease left behind). Every line the server wrote must
be a JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import make_library
from tests.graphql_client import INGEST, SYNC, data, post
from tests.serve_process import CLI, free_port, serve, server_environment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

USER = "user:big"
STATE = """
query State($userId: ID!) {
  liked(userId: $userId) { trackIds totalCount }
  plays(userId: $userId) { totalCount }
  lastSync(userId: $userId) { version kind }
}"""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The complete lines written so far, each of which must be a JSON object."""
        text = self.log.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


@contextmanager
def started(data_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    """``librarycache serve`` in its own process group, killed whole if the test fails."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**server_environment(), **env},
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"serve exited early:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"serve was not ready in {timeout} s:\n{server.log.read_text()[-3000:]}")


async def _until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = 60.0
) -> None:
    """Poll without blocking the loop, which is also uploading the sync under test."""
    deadline = time.monotonic() + within
    while True:
        met = condition()
        if met if isinstance(met, bool) else await met:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _in_flight(server: Server) -> bool:
    async with httpx.AsyncClient(timeout=5) as probe:
        metrics = (await probe.get(f"{server.base}/metrics")).text
    return 'librarycache_http_requests_in_flight{route="/graphql"} 1.0' in metrics


async def _refused(base: str) -> bool:
    """Whether a new connection is refused (a fresh client: no kept-alive connection)."""
    try:
        async with httpx.AsyncClient(timeout=1) as probe:
            await probe.get(f"{base}/healthz")
    except httpx.TransportError:
        return True
    return False


async def _exit_code(process: subprocess.Popen[bytes], within: float) -> int:
    await _until(lambda: process.poll() is not None, "the server to exit", within)
    code = process.returncode
    assert code is not None
    return code


def _ids(library: dict[str, Any]) -> list[str]:
    """Liked track ids as the API lists them: newest ``addedAt`` first."""
    return [like["trackId"] for like in reversed(library["likes"])]


@pytest.mark.parametrize(
    ("case", "sync_timeout"),
    [
        pytest.param("finishes", None, id="sync-finishes-during-shutdown"),
        pytest.param("aborts", "2", id="sync-outlasts-its-timeout-and-aborts"),
    ],
)
async def test_sigterm_during_a_large_sync(
    tmp_path: Path, case: str, sync_timeout: str | None
) -> None:
    data_dir = tmp_path / "data"
    previous = make_library(USER, likes=3, plays=3, prefix="old")
    size = 10_000 if case == "finishes" else 20_000
    new = make_library(USER, likes=size, plays=size, entries=10, prefix="new")
    env = {"LIBRARYCACHE_LOG_FORMAT": "json"}
    if sync_timeout is not None:
        env["LIBRARYCACHE_SYNC_TIMEOUT_SECONDS"] = sync_timeout

    with started(data_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
            await data(client, INGEST, {"input": previous})
            syncing = asyncio.create_task(post(client, SYNC, {"input": new}))
            if case == "finishes":
                # The store's progress line for the first phase of version 2, in JSON.
                await _until(
                    lambda: any(
                        e.get("phase") == "tracks" and e.get("version") == 2 for e in server.lines()
                    ),
                    "the sync's first progress line",
                )
            else:
                await _until(lambda: _in_flight(server), "the sync to be in flight")
            server.process.send_signal(signal.SIGTERM)

            # New connections are refused at once; the sync in flight is still served.
            await _until(lambda: _refused(server.base), "the listener to close", 10)
            try:
                body: dict[str, Any] | None = await syncing
            except httpx.TransportError:  # cut off by the graceful-shutdown timeout
                body = None
        code = await _exit_code(server.process, within=60)
        assert code in (0, 128 + signal.SIGTERM), server.log.read_text()[-3000:]
        lines = server.lines()  # every line parses as JSON

    finished = body is not None and "errors" not in body
    assert finished == (case == "finishes"), body
    progress = [e for e in lines if e["logger"] == "librarycache.store" and e.get("version") == 2]
    assert all(e["userId"] == USER and e["requestId"] for e in progress)
    phases = [e["phase"] for e in progress]
    assert ("committed" in phases) == finished, phases
    sync_line = next(
        e for e in lines if e["logger"] == "librarycache.access" and e["durationMs"] > 500
    )
    assert sync_line["operations"] == ["mutation Sync"]
    if body is not None and not finished:
        assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"

    with serve(data_dir) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            state = await data(client, STATE, {"userId": USER})
            expected, version = (new, 2) if finished else (previous, 1)
            assert state["liked"]["trackIds"] == _ids(expected)
            assert state["liked"]["totalCount"] == len(expected["likes"])
            assert state["plays"]["totalCount"] == len(expected["plays"])
            assert state["lastSync"]["version"] == version

            # No lease was left behind: the next sync goes through at once.
            again = make_library(USER, likes=2, prefix="again")
            report = (await data(client, SYNC, {"input": again}))["sync"]
            assert report["kind"] == "SYNC"
            liked = await data(client, STATE, {"userId": USER})
            assert liked["liked"]["trackIds"] == _ids(again)
