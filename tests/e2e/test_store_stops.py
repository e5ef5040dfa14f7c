"""The embedded store stops cleanly on every SIGTERM of ``librarycache serve``.

Repeated, because the failures were intermittent (2 in 12): the store was SIGKILLed after
its grace while it finished a cancelled sync's last command (nx-27017 exits only once its
running commands are done), and a SIGTERM that came while the store was starting ended
``serve`` before it had a handler, leaving the store running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from server.embedded import pid_alive
from tests.factories import make_library
from tests.graphql_client import INGEST, SYNC, data, post
from tests.serve_process import CLI, free_port, server_environment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPEATS = 4


def _start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**server_environment(), "LIBRARYCACHE_LOG_FORMAT": "json"},
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}", log


def _wait(predicate: object, what: str, timeout: float = 60.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _store_pid(data_dir: Path) -> int | None:
    try:
        text = (data_dir / "nx-27017.pid").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _assert_stopped_cleanly(process: subprocess.Popen[bytes], store: int, log: Path) -> None:
    try:
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = log.read_text()
    assert code in (0, 128 + signal.SIGTERM), text[-3000:]
    assert not pid_alive(store), "the embedded store outlived serve"
    assert "did not stop within" not in text, text[-3000:]


@pytest.mark.parametrize("attempt", range(REPEATS))
async def test_sigterm_during_a_sync_stops_the_store_cleanly(tmp_path: Path, attempt: int) -> None:
    data_dir = tmp_path / "data"
    process, base, log = _start(data_dir)
    try:
        _wait(lambda: _ready(base), "serve to be ready")
        store = _store_pid(data_dir)
        assert store is not None
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await data(client, INGEST, {"input": make_library("user:a", likes=3)})
            big = make_library("user:a", likes=8000, plays=8000, prefix="new")
            syncing = asyncio.create_task(post(client, SYNC, {"input": big}))
            await asyncio.sleep(0.5 + 0.3 * attempt)  # at a different point each time
            process.send_signal(signal.SIGTERM)
            # Cut off by the shutdown or not: what matters is how the store stops.
            with contextlib.suppress(httpx.TransportError):
                await syncing
        _assert_stopped_cleanly(process, store, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("attempt", range(REPEATS))
def test_sigterm_while_the_store_starts_stops_it(tmp_path: Path, attempt: int) -> None:
    data_dir = tmp_path / "data"
    process, _, log = _start(data_dir)
    try:
        # The store writes its pid file early in its start, before it answers.
        _wait(lambda: _store_pid(data_dir) is not None, "the store to be starting")
        store = _store_pid(data_dir)
        assert store is not None
        time.sleep(0.05 * attempt)
        process.send_signal(signal.SIGTERM)
        _assert_stopped_cleanly(process, store, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
