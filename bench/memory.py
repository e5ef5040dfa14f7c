"""Resident memory around large ingests: before, peak and after each, over repeated ingests.

    scripts/bench --memory [--ingests 3] [--likes 100000]

The goal of issue 11: a 100k ingest within 600 MiB peak, and the resident set back within
100 MiB of where it was before the ingest, ingest after ingest (not compounding). "After"
is read once the resident set has settled (no change over a second), so memory the
server still frees in the background is not counted against it. The same measurement
runs inside ``scripts/bench`` for the 100k ingests (``bench.compare``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.library import Shape, make_input
from bench.procs import Served, reset_peak_rss, rss_mib, serve
from bench.run import DB, Client, MiB, ingest_body, log
from server.embedded import EmbeddedMongo

_SETTLE_QUIET = 1.0
"""Seconds without a change of more than 1 MiB for the resident set to count as settled."""
_SETTLE_MAX = 15.0


def settled_rss(pid: int) -> float:
    """The resident set (MiB) once it stops moving, or after ``_SETTLE_MAX`` seconds."""
    deadline = time.monotonic() + _SETTLE_MAX
    last = rss_mib(pid)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss_mib(pid)
        if abs(now - last) > 1:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= _SETTLE_QUIET:
            break
    return rss_mib(pid)


@dataclass(frozen=True)
class IngestMemory:
    before: float
    peak: float
    after: float

    def __str__(self) -> str:
        return f"{self.before:.0f} -> {self.peak:.0f} -> {self.after:.0f} MiB"


def measure_ingest(served: Served, ingest: Callable[[], Any]) -> tuple[IngestMemory, Any]:
    """Run ``ingest`` against ``served``; its resident set before, at peak and after."""
    before = settled_rss(served.pid)
    reset_peak_rss(served.pid)
    result = ingest()
    peak = rss_mib(served.pid, "VmHWM")
    return IngestMemory(before, peak, settled_rss(served.pid)), result


def memory(ingests: int, likes: int, with_apollo: bool) -> list[str]:
    """Fresh store and servers; ``ingests`` ingests of ``likes`` likes into each, in turn."""
    from bench.compare import ApolloClient, ensure_apollo_installed, serve_apollo

    if with_apollo:
        ensure_apollo_installed()
    workdir = Path(tempfile.mkdtemp(prefix="librarycache-memory-"))
    embedded = EmbeddedMongo(workdir / "nx", startup_timeout=60)
    uri = asyncio.run(embedded.start())
    shape = Shape(tracks=likes, likes=likes, plays=min(2_000, likes))
    lines: list[str] = []
    try:
        with ExitStack() as stack:
            env = {"LIBRARYCACHE_MAX_BODY_BYTES": str(64 * MiB), "LIBRARYCACHE_DB": DB}
            clients: dict[str, Client] = {
                "LibraryCache": Client(stack.enter_context(serve("server", uri, workdir, env)))
            }
            if with_apollo:
                clients["Apollo/Node"] = ApolloClient(
                    stack.enter_context(serve_apollo(uri, workdir))
                )
            got: dict[str, list[IngestMemory]] = {name: [] for name in clients}
            for n in range(ingests):
                payload = ingest_body(make_input(f"user:m{n}", shape, prefix=f"m{n}"))
                for name, client in clients.items():
                    mem, _ = measure_ingest(client.served, partial(client.post, payload))
                    got[name].append(mem)
                    log(f"  ingest {n + 1} of {likes:,} likes, {name}: {mem}")
            for name, mems in got.items():
                lines.append(
                    f"RSS before -> peak -> after, {ingests} ingests of {likes:,} likes, {name}: "
                    + "; ".join(str(m) for m in mems)
                )
    finally:
        asyncio.run(embedded.stop())
        shutil.rmtree(workdir, ignore_errors=True)
    return lines
