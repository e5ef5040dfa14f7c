"""Sustained overload: is the server's resident memory flat while it is driven past capacity?

    scripts/bench --overload [--minutes 10] [--over 1.5]

A fresh embedded store and ``librarycache serve`` (the default production configuration);
``USERS`` users with a library each. First the capacity: the requests per second the
server answers with ``CONCURRENCY`` clients each waiting for its answer (closed loop),
with the mix below (it reads low: open-loop, the worker answers more, so the default
``over`` of 1.5 is what overloads it slightly). Then an open loop at ``over`` times that
rate for ``minutes``: requests
arrive on a schedule whatever the server does, as from many independent clients, each of
which gives up after ``CLIENT_TIMEOUT`` seconds. Every minute it prints the server's
resident set, the requests in flight, and what the requests of that minute got; at the
end the slope of the resident set (least squares over the minutes after the first).

The mix, as an app's traffic looks: mostly reads of the liked page, some id lists and
playlists, and a sync now and then (each user's library changed by 1% and back).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench.library import Shape, change_one_percent, make_input
from bench.procs import Served, rss_mib, serve
from bench.queries import LIKED_IDS, LIKED_PAGE, PLAYLISTS, SYNC
from bench.run import DB, Client, MiB, ingest_body, log
from server.embedded import EmbeddedMongo

USERS = 20
SHAPE = Shape(tracks=2_000, likes=2_000, plays=200, playlists=10, entries=50)
CONCURRENCY = 16
CLIENT_TIMEOUT = 30.0
CAPACITY_SECONDS = 20.0
_MIX = (("page", 0.80), ("ids", 0.10), ("playlists", 0.08), ("sync", 0.02))


@dataclass(frozen=True)
class Minute:
    minute: int
    rss_mib: float
    in_flight: int | None
    sockets: int
    outcomes: Counter[str]


class Traffic:
    """The request bodies of the mix, prepared before any is sent."""

    def __init__(self, users: list[str], libraries: dict[str, dict[str, object]]) -> None:
        self.rng = random.Random(11)  # noqa: S311 -- a reproducible mix, not a secret
        self.users = users
        self.reads = {
            user: {
                "page": orjson.dumps(
                    {"query": LIKED_PAGE, "variables": {"userId": user, "first": 50}}
                ),
                "ids": orjson.dumps({"query": LIKED_IDS, "variables": {"userId": user}}),
                "playlists": orjson.dumps({"query": PLAYLISTS, "variables": {"userId": user}}),
            }
            for user in users
        }
        # Each user's syncs alternate between the changed library and the original.
        self.syncs = {
            user: itertools.cycle(
                [
                    ingest_body(change_one_percent(libraries[user]), SYNC),
                    ingest_body(libraries[user], SYNC),
                ]
            )
            for user in users
        }
        self.kinds = [kind for kind, _ in _MIX]
        self.weights = [weight for _, weight in _MIX]

    def next(self) -> tuple[str, bytes]:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        user = self.rng.choice(self.users)
        if kind == "sync":
            return kind, next(self.syncs[user])
        return kind, self.reads[user][kind]


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 200 and b'"errors"' not in response.content:
        return "ok"
    try:
        errors = response.json().get("errors") or [{}]
        code = (errors[0].get("extensions") or {}).get("code", "")
    except ValueError:
        code = "not JSON"
    return f"{response.status_code} {code}".strip()


async def _send(client: httpx.AsyncClient, url: str, body: bytes, outcomes: Counter[str]) -> None:
    try:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json"}
        )
    except httpx.TimeoutException:
        outcomes["client gave up"] += 1
        return
    except httpx.TransportError as error:
        outcomes[type(error).__name__] += 1
        return
    outcomes[_outcome(response)] += 1


async def capacity(url: str, traffic: Traffic, seconds: float) -> float:
    """Requests per second answered with ``CONCURRENCY`` closed-loop clients."""
    outcomes: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def worker() -> None:
            while loop.time() < deadline:
                await _send(client, url, traffic.next()[1], outcomes)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    log(f"capacity run: {dict(outcomes)}")
    return outcomes["ok"] / seconds


def _sockets(pid: int) -> int:
    """Open sockets of the server: its clients' connections and its store connections."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


async def _in_flight(client: httpx.AsyncClient, served: Served) -> int | None:
    """Requests the server is handling (its metrics' gauge); None if it did not say in time."""
    try:
        text = (await client.get(f"{served.url}/metrics", timeout=20)).text
    except httpx.HTTPError:
        return None
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("librarycache_http_requests_in_flight{")
        )
    )


async def drive(served: Served, traffic: Traffic, rate: float, minutes: int) -> list[Minute]:
    """Open loop at ``rate`` requests per second; one sample of the server per minute."""
    url = f"{served.url}/graphql"
    limits = httpx.Limits(max_connections=800, max_keepalive_connections=800)
    timeout = httpx.Timeout(CLIENT_TIMEOUT, connect=CLIENT_TIMEOUT)
    samples: list[Minute] = []
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcomes: Counter[str] = Counter()
        sent = 0
        for minute in range(1, minutes + 1):
            outcomes = Counter()
            end = start + minute * 60
            while (now := loop.time()) < end:
                due = start + sent / rate
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                task = asyncio.create_task(_send(client, url, traffic.next()[1], outcomes))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
                await asyncio.sleep(0)  # behind schedule: still let the requests run
            rss = rss_mib(served.pid)
            sample = Minute(
                minute, rss, await _in_flight(client, served), _sockets(served.pid), outcomes
            )
            samples.append(sample)
            log(
                f"  minute {minute}: RSS {sample.rss_mib:.0f} MiB, {sample.in_flight} in flight, "
                f"{sample.sockets} sockets, "
                f"{sum(outcomes.values())} answered: {dict(outcomes)}"
            )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return samples


def slope(samples: list[Minute]) -> float:
    """MiB per minute, least squares over the minutes after the first (warm-up)."""
    points = [(s.minute, s.rss_mib) for s in samples[1:]] or [
        (s.minute, s.rss_mib) for s in samples
    ]
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var


def overload(minutes: int, over: float) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="librarycache-overload-"))
    embedded = EmbeddedMongo(workdir / "nx", startup_timeout=60)
    uri = asyncio.run(embedded.start())
    try:
        env = {"LIBRARYCACHE_DB": DB, "LIBRARYCACHE_MAX_BODY_BYTES": str(64 * MiB)}
        with serve("server", uri, workdir, env) as served:
            client = Client(served)
            users = [f"user:o{n}" for n in range(USERS)]
            libraries = {u: make_input(u, SHAPE, prefix=f"o{n}") for n, u in enumerate(users)}
            for user in users:
                client.post(ingest_body(libraries[user]))
            traffic = Traffic(users, libraries)
            url = f"{served.url}/graphql"
            served_rate = asyncio.run(capacity(url, traffic, CAPACITY_SECONDS))
            rate = served_rate * over
            before = rss_mib(served.pid)
            log(
                f"capacity {served_rate:.1f} req/s; driving {rate:.1f} req/s for {minutes} min; "
                f"RSS {before:.0f} MiB"
            )
            samples = asyncio.run(drive(served, traffic, rate, minutes))
    finally:
        asyncio.run(embedded.stop())
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        f"overload: {rate:.1f} req/s offered against {served_rate:.1f} answered at capacity "
        f"({over:.2f}x), {minutes} min, mix {', '.join(f'{k} {w:.0%}' for k, w in _MIX)}",
        f"RSS before {before:.0f} MiB; per minute: "
        + ", ".join(f"{s.rss_mib:.0f}" for s in samples)
        + f" MiB; slope {slope(samples):+.1f} MiB/min (after minute 1)",
        "in flight per minute: " + ", ".join(str(s.in_flight) for s in samples),
        "open sockets per minute: " + ", ".join(str(s.sockets) for s in samples),
    ]
    total: Counter[str] = Counter()
    for s in samples:
        total.update(s.outcomes)
    lines.append(f"answers: {dict(total)}")
    return lines
