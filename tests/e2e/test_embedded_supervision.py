"""The embedded store is supervised: killed, it comes back; if it cannot, the server exits.

Before, a killed embedded store never came back until the server was restarted by hand
(10 of 10 trials), while ``/healthz`` stayed 200.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.factories import make_library
from tests.serve_process import CLI, free_port, serve, server_environment

pytestmark = pytest.mark.e2e
UVICORN = (sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app_from_env")
LIKED = '{ liked(userId: "user:alice") { trackIds } }'
INGEST = "mutation($input: LibraryInput!) { ingest(input: $input) { version } }"


def _store_pid(data_dir: Path) -> int:
    """The running store's pid; -1 while it has none (between a death and a restart)."""
    try:
        return int((data_dir / "nx-27017.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return -1


def _store_port(pid: int) -> int:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[args.index(b"-p") + 1])


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_a_killed_store_is_restarted_with_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir) as base, httpx.Client(base_url=base, timeout=10) as client:
        library = make_library(likes=2)
        client.post("/graphql", json={"query": INGEST, "variables": {"input": library}})
        before = client.post("/graphql", json={"query": LIKED}).json()
        killed = _store_pid(data_dir)
        os.kill(killed, signal.SIGKILL)

        def answers() -> bool:
            return client.post("/graphql", json={"query": LIKED}).json() == before

        _wait(answers, timeout=30)
        assert _store_pid(data_dir) != killed
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_a_store_that_cannot_restart_ends_the_server(tmp_path: Path) -> None:
    """Its port taken by another program: the server gives up and exits non-zero (3), for
    its process manager to start it afresh."""
    data_dir = tmp_path / "data"
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=server_environment(),
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        _wait(ready, timeout=60)
        pid = _store_pid(data_dir)
        store_port = _store_port(pid)
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
        squatter.bind(("127.0.0.1", store_port))
        squatter.listen()
        try:
            assert process.wait(timeout=90) == 3
        finally:
            squatter.close()
        output = (tmp_path / "serve.log").read_text()
        assert "the embedded store died and could not be restarted" in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def test_healthz_says_when_the_apps_own_store_cannot_recover(tmp_path: Path) -> None:
    """An app started without MONGODB_URI (``uvicorn --factory``) supervises its own store.
    Here the store's data directory is replaced by a file, so it cannot restart."""
    data_dir = tmp_path / "data"
    port = free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [*UVICORN, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**server_environment(), "LIBRARYCACHE_DATA_DIR": str(data_dir)},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def health() -> int:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code
        except httpx.TransportError:
            return 0

    try:
        _wait(lambda: health() == 200 and _store_pid(data_dir) > 0, timeout=60)
        os.kill(_store_pid(data_dir), signal.SIGKILL)
        shutil.rmtree(data_dir / "db")
        (data_dir / "db").write_text("not a directory")
        _wait(lambda: health() == 503, timeout=60)
        body = httpx.get(f"{base}/healthz", timeout=2).json()
        assert body["status"] == "failing"
        assert "could not be restarted" in body["reason"]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        log.close()
