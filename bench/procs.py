"""Processes under test: the embedded store, the real server, the bare endpoint.

CPU and memory are read from ``/proc`` (Linux only): ``utime + stime`` of every thread
of a process, and its peak resident set (``VmHWM``), which ``clear_refs`` resets so one
process can report the peak of each phase separately.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

_TICK = os.sysconf("SC_CLK_TCK")
_ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for pid {pid}")


def reset_peak_rss(pid: int) -> None:
    """Start a new peak: ``VmHWM`` drops to the current resident set."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A uvicorn server process on loopback."""

    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(
    kind: str, mongodb_uri: str, workdir: Path, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """Run ``librarycache serve`` (kind ``server``) or the bare endpoint (kind ``bare``).

    Both: uvicorn, one worker, loopback, warnings-only logging (no access log lines).
    """
    port = free_port()
    log = workdir / f"{kind}.log"
    environ = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "LIBRARYCACHE_LOG_LEVEL": "warning",
        "LIBRARYCACHE_STORE_TIMEOUT_MS": "120000",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    if kind == "server":
        command = [sys.executable, "-m", "server.cli", "serve", "--port", str(port)]
        ready = f"http://127.0.0.1:{port}/readyz"
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.bare_app:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        ready = f"http://127.0.0.1:{port}/healthz"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    try:
        _wait_ready(proc, ready, log)
        yield Served(proc, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
