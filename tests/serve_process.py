"""Runs a real ``librarycache serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("librarycache"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[str]:
    """Start the CLI on a free port with the embedded store; yield its base URL.

    The process runs in its own session, so the whole group (uvicorn workers and the
    embedded store) is stopped however the test ends.
    """
    port = free_port()
    log = (data_dir.parent / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--data-dir", str(data_dir), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**server_environment(), **(env or {})},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, startup_timeout, Path(log.name))
        yield base
    finally:
        _stop(process)
        log.close()


def server_environment() -> dict[str, str]:
    """This process's environment without the developer's server settings: an end-to-end
    server uses its own embedded store under its data directory, never the database
    ``MONGODB_URI`` names (nor ``LIBRARYCACHE_TEST_MONGODB_URI``'s), and only the
    ``LIBRARYCACHE_*`` settings its test passes."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "MONGODB_URI" and not name.startswith("LIBRARYCACHE_")
    }


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"librarycache serve exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"librarycache serve was not ready in {timeout} s:\n{log.read_text()[-3000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
