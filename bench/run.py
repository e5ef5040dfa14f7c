"""One benchmark run: every figure of issue 5, measured against one embedded nx-27017 server.

The server under test is ``librarycache serve`` in a subprocess (uvicorn, one worker) with
``MONGODB_URI`` pointing at the embedded store; the bare baselines run in this process
(pymongo) or in a second uvicorn process (``bench.bare_app``). See docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import baseline
from bench.library import L, Shape, change_one_percent, make_input, seed_documents
from bench.load import LoadResult, run_load, sequential_latency
from bench.procs import Served, reset_peak_rss, rss_mib, serve
from bench.queries import INGEST, LIKED_IDS, LIKED_PAGE, PLAYLISTS, SYNC
from persistence import detect_dialect
from persistence._dialect import READ_BATCH
from persistence.client import close, connect
from persistence.store import LibraryStore
from server.embedded import EmbeddedMongo

MiB = 1024 * 1024
BIG = Shape(tracks=100_000, likes=100_000, plays=2_000, playlists=50, entries=100)
WARM_UP = Shape(tracks=50, likes=50, plays=10, playlists=2, entries=10)
BIG_BOUND_MIB = 1024
"""Stated bound for the server's peak RSS while it ingests the 100k-like library."""
DB = "librarycache"


@dataclass(frozen=True)
class Options:
    quick: bool = False
    users: int = 200
    other_likes: int | None = None
    keep: Path | None = None
    json_out: Path | None = None
    skip: frozenset[str] = frozenset()

    @property
    def repeats(self) -> int:
        return 1 if self.quick else 3

    @property
    def load_seconds(self) -> float:
        return 4.0 if self.quick else 10.0

    @property
    def likes_per_other_user(self) -> int:
        if self.other_likes is not None:
            return self.other_likes
        return 1_000 if self.quick else 10_000


@dataclass
class Row:
    figure: str
    measured: str
    budget: str
    verdict: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def check(self, figure: str, value: float, fmt: str, budget: str, ok: bool) -> None:
        self.rows.append(Row(figure, fmt.format(value), budget, "PASS" if ok else "OVER"))
        self.raw[figure] = value

    def info(self, figure: str, measured: str) -> None:
        self.rows.append(Row(figure, measured, "", "info"))

    def print(self) -> None:
        widths = [max(len(getattr(r, f)) for r in [_HEADER, *self.rows]) for f in _FIELDS]
        for row in [_HEADER, *self.rows]:
            print("  ".join(getattr(row, f).ljust(w) for f, w in zip(_FIELDS, widths, strict=True)))
        for note in self.notes:
            print(f"note: {note}")


_FIELDS = ("figure", "measured", "budget", "verdict")
_HEADER = Row("figure", "measured", "budget", "verdict")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    packages = ", ".join(
        f"{p} {version(p)}"
        for p in (
            "strawberry-graphql",
            "graphql-core",
            "starlette",
            "uvicorn",
            "pydantic",
            "motor",
            "pymongo",
            "nx-27017",
        )
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {packages}"
    )


class Client:
    """Single requests to the server under test, with the server's CPU around each."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.http = httpx.Client(base_url=served.url, timeout=600)

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": variables})
        return self.post(body)

    def post(self, body: bytes, path: str = "/graphql") -> dict[str, Any]:
        response = self.http.post(path, content=body, headers={"content-type": "application/json"})
        payload: dict[str, Any] = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise RuntimeError(f"{response.status_code}: {str(payload)[:2000]}")
        data: dict[str, Any] = payload["data"]
        return data

    def measured(self, body: bytes, repeat: int = 1) -> tuple[dict[str, Any], float, float]:
        """Answer, server CPU seconds per request, wall seconds per request."""
        cpu, wall = self.served.cpu(), time.perf_counter()
        data: dict[str, Any] = {}
        for _ in range(repeat):
            data = self.post(body)
        return data, (self.served.cpu() - cpu) / repeat, (time.perf_counter() - wall) / repeat


def ingest_body(library: dict[str, Any], query: str = INGEST) -> bytes:
    return orjson.dumps({"query": query, "variables": {"input": library}})


def _run_async(make: Callable[[], Any]) -> Any:
    return asyncio.run(make())


def ensure_indexes(uri: str, db: str) -> None:
    async def go() -> None:
        client = connect(uri, "pymongo")
        database = client[db]
        dialect = await detect_dialect(database)
        await LibraryStore(database, dialect=dialect).ensure_indexes()
        await close(client)

    asyncio.run(go())


def run(options: Options) -> Report:
    report = Report()
    report.notes.append(f"machine: {machine()}")
    workdir = Path(tempfile.mkdtemp(prefix="librarycache-bench-"))
    embedded = EmbeddedMongo(workdir / "nx", startup_timeout=60)
    started = time.perf_counter()
    uri = asyncio.run(embedded.start())
    log(f"embedded nx-27017 at {uri} in {workdir}")
    try:
        _run(options, uri, workdir, report)
    finally:
        asyncio.run(embedded.stop())
        if options.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.copytree(workdir, options.keep, dirs_exist_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
    report.notes.append(f"one run, {time.perf_counter() - started:.0f} s wall")
    return report


def _run(options: Options, uri: str, workdir: Path, report: Report) -> None:
    mongo = baseline.connect(uri)
    main_db = mongo[DB]

    # ---------------------------------------------------------- bare ingest
    ensure_indexes(uri, "bare")
    bare_cpu, bare_writes = [], []
    for i in range(options.repeats):
        body = ingest_body(make_input(f"bare{i}", L, prefix=f"b{i}"))
        cpu, writes = baseline.ingest_cpu(mongo["bare"], body)
        bare_cpu.append(cpu)
        bare_writes.append(writes)
    log(
        f"bare ingest CPU {statistics.median(bare_cpu) * 1000:.0f} ms "
        f"(writes alone {statistics.median(bare_writes) * 1000:.0f} ms)"
    )

    env = {"LIBRARYCACHE_MAX_BODY_BYTES": str(64 * MiB), "LIBRARYCACHE_DB": DB}
    with serve("server", uri, workdir, env) as served:
        client = Client(served)
        _ingest_and_reads(options, report, client, main_db, bare_cpu, bare_writes, uri, workdir)
    mongo.close()


def _ingest_and_reads(
    options: Options,
    report: Report,
    client: Client,
    main_db: baseline.Db,
    bare_cpu: list[float],
    bare_writes: list[float],
    uri: str,
    workdir: Path,
) -> None:
    served = client.served
    # A first request pays for lazy set-up (imports, the driver's pool): not measured.
    client.post(ingest_body(make_input("user:warm-up", WARM_UP, prefix="warm")))

    # -------------------------------------------------------------- ingest L
    users = [f"user:{i:03d}" for i in range(options.users)]
    libraries: dict[str, dict[str, Any]] = {}
    ingest_cpu, ingest_wall, peaks = [], [], []
    scale_one: tuple[LoadResult, LoadResult] | None = None
    for i in range(options.repeats):
        user = users[i]
        libraries[user] = make_input(user, L, prefix=f"a{i}")
        body = ingest_body(libraries[user])
        rss_before = rss_mib(served.pid)
        reset_peak_rss(served.pid)
        data, cpu, wall = client.measured(body)
        peaks.append(rss_mib(served.pid, "VmHWM"))
        assert data["ingest"]["documentsWritten"] == L.documents, data
        ingest_cpu.append(cpu)
        ingest_wall.append(wall)
        log(
            f"ingest {user}: server CPU {cpu:.2f} s, wall {wall:.2f} s, "
            f"RSS {rss_before:.0f} -> peak {peaks[-1]:.0f} MiB"
        )
        if i == 0:
            scale_one = _latencies(served, users[0], options)
            log(
                f"1 user: liked p50 {scale_one[0].p50_ms:.1f} ms, "
                f"playlists p50 {scale_one[1].p50_ms:.1f} ms"
            )
    bare = statistics.median(bare_cpu)
    ratio = statistics.median(ingest_cpu) / bare
    report.check("ingest L: server CPU / bare pymongo CPU", ratio, "{:.2f}x", "<= 3x", ratio <= 3)
    report.info(
        "  ingest L: CPU server / bare (writes alone), wall",
        f"{statistics.median(ingest_cpu) * 1000:.0f} ms / {bare * 1000:.0f} ms "
        f"({statistics.median(bare_writes) * 1000:.0f} ms = "
        f"{statistics.median(ingest_cpu) / statistics.median(bare_writes):.1f}x), "
        f"{statistics.median(ingest_wall):.2f} s",
    )
    peak = max(peaks)
    report.check("ingest L: server peak RSS", peak, "{:.0f} MiB", "<= 200 MiB", peak <= 200)

    # ------------------------------------------------------- liked trackIds
    user = users[0]
    ids_body = orjson.dumps({"query": LIKED_IDS, "variables": {"userId": user}})
    client.measured(ids_body, repeat=2)  # warm up
    repeat = 10 if options.quick else 30
    data, cpu, wall = client.measured(ids_body, repeat=repeat)
    assert len(data["liked"]["trackIds"]) == L.likes
    # The same query as the store's, with its batch size: without it the bare find
    # costs more (see the second figure), which would flatter the ratio.
    bare_find, count = baseline.liked_ids_cpu(main_db, user, repeat, READ_BATCH)
    assert count == L.likes
    bare_default, _ = baseline.liked_ids_cpu(main_db, user, repeat)
    ratio = cpu / bare_find
    report.check(
        "liked{trackIds} of 10k: server CPU / bare find CPU", ratio, "{:.2f}x", "<= 2x", ratio <= 2
    )
    report.info(
        "  liked{trackIds}: CPU/request server / bare (default batches), wall",
        f"{cpu * 1000:.1f} ms / {bare_find * 1000:.1f} ms ({bare_default * 1000:.1f} ms), "
        f"{wall * 1000:.0f} ms",
    )
    log(f"liked ids: server {cpu * 1000:.1f} ms CPU, bare {bare_find * 1000:.1f} ms")

    # ------------------------------------------------------------ delta sync
    changed = change_one_percent(libraries[user])
    data, cpu, wall = client.measured(ingest_body(changed, SYNC))
    sync = data["sync"]
    n_likes = len(libraries[user]["likes"]) // 100
    changes = 2 * n_likes + len(libraries[user]["plays"]) // 100 + max(1, L.playlists // 100)
    changes += n_likes  # new tracks
    written = sync["documentsWritten"]
    report.check(
        f"1% delta sync: documents written ({changes} items changed)",
        written,
        "{:.0f}",
        f"<= {2 * changes} (2 x changes)",
        written <= 2 * changes,
    )
    data, cpu_noop, wall_noop = client.measured(ingest_body(changed, SYNC))
    noop = data["sync"]["documentsWritten"]
    report.check("unchanged sync: documents written", noop, "{:.0f}", "0", noop == 0)
    report.info(
        "  1% sync: CPU, wall; unchanged sync: CPU, wall",
        f"{cpu * 1000:.0f} ms, {wall:.2f} s; {cpu_noop * 1000:.0f} ms, {wall_noop:.2f} s "
        f"(ingest: {statistics.median(ingest_cpu) * 1000:.0f} ms)",
    )
    log(f"delta sync: {written} documents, CPU {cpu:.2f} s; unchanged: {noop}")

    # ------------------------------------------------------------ throughput
    if "throughput" not in options.skip:
        _throughput(options, report, client, user, uri, workdir)

    # ----------------------------------------------------------------- scale
    assert scale_one is not None
    if "scale" not in options.skip:
        _scale(options, report, served, main_db, users, libraries[users[0]], scale_one)

    # ------------------------------------------------------------ memory 100k
    if "big" in options.skip:
        return
    big = make_input("user:big", BIG, prefix="big")
    body = ingest_body(big)
    del big
    log(f"100k-like library: {len(body) / MiB:.1f} MiB request body")
    rss_before = rss_mib(served.pid)
    reset_peak_rss(served.pid)
    data, cpu, wall = client.measured(body)
    peak = rss_mib(served.pid, "VmHWM")
    assert data["ingest"]["documentsWritten"] == BIG.documents
    report.check(
        "ingest of 100k likes + 100k tracks: server peak RSS",
        peak,
        "{:.0f} MiB",
        f"<= {BIG_BOUND_MIB} MiB (stated bound)",
        peak <= BIG_BOUND_MIB,
    )
    report.info(
        "  100k ingest: body, RSS before, CPU, wall",
        f"{len(body) / MiB:.1f} MiB, {rss_before:.0f} MiB, {cpu:.1f} s, {wall:.1f} s",
    )
    log(f"100k ingest: peak RSS {peak:.0f} MiB, CPU {cpu:.1f} s, wall {wall:.1f} s")


def _latencies(served: Served, user: str, options: Options) -> tuple[LoadResult, LoadResult]:
    url = f"{served.url}/graphql"
    n = 10 if options.quick else 20
    liked = orjson.dumps({"query": LIKED_PAGE, "variables": {"userId": user, "first": 50}})
    playlists = orjson.dumps({"query": PLAYLISTS, "variables": {"userId": user}})
    a: LoadResult = asyncio.run(sequential_latency(url, liked, requests=n))
    b: LoadResult = asyncio.run(sequential_latency(url, playlists, requests=n))
    if a.errors or b.errors:
        raise RuntimeError("latency requests failed")
    return a, b


def _throughput(
    options: Options, report: Report, client: Client, user: str, uri: str, workdir: Path
) -> None:
    served = client.served
    graphql = orjson.dumps({"query": LIKED_PAGE, "variables": {"userId": user, "first": 50}})
    bare_body = orjson.dumps({"userId": user, "first": 50})
    with serve("bare", uri, workdir, {"LIBRARYCACHE_DB": DB}) as bare:
        expected = client.post(graphql)
        got = httpx.post(f"{bare.url}/liked", content=bare_body, timeout=60).json()["data"]
        if got != expected:
            raise RuntimeError("the bare endpoint does not answer what the GraphQL query answers")
        results: dict[str, LoadResult] = {}
        cpu: dict[str, float] = {}
        for name, target, url, body in (
            ("server", served, f"{served.url}/graphql", graphql),
            ("bare", bare, f"{bare.url}/liked", bare_body),
        ):
            before = target.cpu()
            result: LoadResult = asyncio.run(
                run_load(url, body, concurrency=32, seconds=options.load_seconds)
            )
            cpu[name] = (target.cpu() - before) / max(result.requests, 1)
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors} failed requests under load")
            results[name] = result
            log(
                f"{name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.0f} ms, "
                f"p95 {result.p95_ms:.0f} ms, {cpu[name] * 1000:.2f} ms CPU/request"
            )
    ratio = results["server"].rps / results["bare"].rps
    report.check(
        "liked page of 50 + tracks, 32 clients: RPS server / bare Starlette",
        ratio,
        "{:.0%}",
        ">= 50%",
        ratio >= 0.5,
    )
    report.info(
        "  RPS server / bare (p50 latency)",
        f"{results['server'].rps:.0f} ({results['server'].p50_ms:.0f} ms) / "
        f"{results['bare'].rps:.0f} ({results['bare'].p50_ms:.0f} ms)",
    )
    # On nx-27017 the store saturates first (it serves one query at a time), so the RPS
    # ratio above says little about the server; its CPU per request does.
    capacity = cpu["bare"] / cpu["server"]
    report.info(
        "  CPU/request server / bare; CPU-bound RPS ratio",
        f"{cpu['server'] * 1000:.2f} ms / {cpu['bare'] * 1000:.2f} ms; {capacity:.0%}",
    )


def _scale(
    options: Options,
    report: Report,
    served: Served,
    db: baseline.Db,
    users: list[str],
    library: dict[str, Any],
    one: tuple[LoadResult, LoadResult],
) -> None:
    others = users[options.repeats :]
    track_ids = [t["trackId"] for t in library["tracks"]]
    per_user = options.likes_per_other_user
    log(f"seeding {len(others)} more users x {per_user} likes + 50 playlists of 100 ...")
    t0 = time.perf_counter()
    for user in others:
        baseline.seed(
            db, seed_documents(user, track_ids, likes=per_user, playlists=50, entries=100)
        )
    log(f"seeded in {time.perf_counter() - t0:.0f} s")
    many = _latencies(served, users[0], options)
    label = f"{len(users)} users"
    for i, name in enumerate(("liked page", "playlists")):
        ratio = many[i].p50_ms / one[i].p50_ms
        report.check(
            f"{name} p50 latency, {label} / 1 user", ratio, "{:.2f}x", "<= 1.5x", ratio <= 1.5
        )
        report.info(
            f"  {name} p50 (p95) at 1 user / {label}",
            f"{one[i].p50_ms:.1f} ({one[i].p95_ms:.1f}) ms / "
            f"{many[i].p50_ms:.1f} ({many[i].p95_ms:.1f}) ms",
        )
    log(f"{label}: liked p50 {many[0].p50_ms:.1f} ms, playlists p50 {many[1].p50_ms:.1f} ms")
    report.info(
        "  others' library (seeded through pymongo)",
        f"{len(others)} users x {per_user} likes, 50 playlists x 100 entries",
    )


def write_json(report: Report, path: Path) -> None:
    rows = [r.__dict__ for r in report.rows]
    path.write_text(json.dumps({"rows": rows, "raw": report.raw, "notes": report.notes}, indent=2))
