"""Side by side: LibraryCache, the Apollo/Node peer and the bare baselines, interleaved.

Each round starts a fresh embedded nx-27017 store, then LibraryCache (``librarycache
serve``), the Apollo Server 5 peer (``bench/apollo``, Node) and the bare Starlette
endpoint against it, and measures every figure on each of them in turn, the order
rotated from round to round. The same libraries go to each (each implementation has its
own database on the one store). A figure is the server process's CPU (``utime + stime``
from ``/proc/<pid>/stat``) per operation; the bare pymongo figures are this process's CPU
around the same database work. The table shows the median over the rounds and the ratios
LibraryCache ÷ Apollo and LibraryCache ÷ bare. See docs/performance.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import baseline
from bench.library import L, Shape, change_one_percent, make_input
from bench.memory import measure_ingest
from bench.procs import Served, free_port, serve
from bench.queries import (
    LIBRARY_LIKED_PAGE,
    LIKED_IDS,
    LIKED_PAGE,
    PLAYLISTS_ENTRIES,
    SYNC,
)
from bench.run import DB, WARM_UP, Client, MiB, ensure_indexes, ingest_body, log, machine
from persistence._dialect import READ_BATCH
from server.embedded import EmbeddedMongo

APOLLO_DIR = Path(__file__).resolve().parent / "apollo"
IMPLS = ("LibraryCache", "Apollo/Node", "bare")
BIG_LIKES = 100_000


def ensure_apollo_installed() -> None:
    """``npm ci`` from the committed lock file the first time (never in scripts/test)."""
    if (APOLLO_DIR / "node_modules" / "@apollo" / "server").is_dir():
        return
    log("installing the Apollo peer (npm ci in bench/apollo) ...")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APOLLO_DIR, check=True)


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


@contextmanager
def serve_apollo(uri: str, workdir: Path) -> Iterator[Served]:
    """The Apollo peer in its own Node process (the pid whose CPU is read is node's)."""
    port = free_port()
    log_path = workdir / "apollo.log"
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "APOLLO_DB": "apollo",
        "PORT": str(port),
        "NODE_ENV": "production",
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(APOLLO_DIR / "server.mjs")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"apollo peer exited:\n{log_path.read_text()[-3000:]}")
            try:
                response = httpx.post(f"{url}/", json={"query": "{ __typename }"}, timeout=1)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"apollo peer not ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Served(proc, url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ApolloClient(Client):
    """Apollo standalone serves GraphQL at ``/``."""

    def post(self, body: bytes, path: str = "/") -> dict[str, Any]:
        return super().post(body, "/")


@dataclass
class Figures:
    """CPU seconds per operation: figure -> implementation -> one value per round."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)

    def add(self, figure: str, impl: str, seconds: float) -> None:
        self.values.setdefault(figure, {}).setdefault(impl, []).append(seconds)

    def median(self, figure: str, impl: str) -> float | None:
        got = self.values.get(figure, {}).get(impl)
        return statistics.median(got) if got else None

    def table(self) -> str:
        head = ["server CPU per operation", *IMPLS, "÷ Apollo", "÷ bare", "rounds"]
        rows = [head]
        for figure in self.values:
            lc, ap, bare = (self.median(figure, impl) for impl in IMPLS)
            n = len(self.values[figure].get("LibraryCache", []))
            rows.append(
                [
                    figure,
                    _ms(lc),
                    _ms(ap),
                    _ms(bare) + (f" ({self.notes[figure]})" if figure in self.notes else ""),
                    _ratio(lc, ap),
                    _ratio(lc, bare),
                    str(n),
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        for figure, extra in self.extra.items():
            lines.append(f"{figure}: {'; '.join(extra)}")
        return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


@dataclass(frozen=True)
class CompareOptions:
    quick: bool = False
    rounds: int = 3
    growth: tuple[int, ...] = (1_000, 10_000, 100_000)
    memory_ingests: int = 3
    """Ingests of each library of ``BIG_LIKES`` or more per server, for its memory."""

    @property
    def reads(self) -> int:
        return 5 if self.quick else 20


def body(query: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


def _reads_for(likes: int, reads: int) -> int:
    """Requests per ``trackIds`` figure: about as many ids in all whatever the list's size.

    Fewer for the larger lists (100k ids take seconds of nx's time each), more for the
    smaller ones: the server's CPU clock ticks at 10 ms, and 20 reads of 1k ids (~1 ms
    each) would be two ticks.
    """
    return max(3, min(reads * 10, reads * 10_000 // max(likes, 1)))


PAGE_READS = 10
"""Requests per page figure, as a multiple of the reads of the list's ids (at most
``CompareOptions.reads``): a page costs 2-7 ms of CPU, a few ticks of the 10 ms clock."""


def run_round(options: CompareOptions, rnd: int, figures: Figures, order: tuple[str, ...]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="librarycache-compare-"))
    embedded = EmbeddedMongo(workdir / "nx", startup_timeout=60)
    uri = asyncio.run(embedded.start())
    log(f"round {rnd + 1}: fresh nx-27017 at {uri}; order {', '.join(order)}")
    try:
        with ExitStack() as stack:
            mongo = baseline.connect(uri)
            stack.callback(mongo.close)
            ensure_indexes(uri, "bare")
            env = {"LIBRARYCACHE_MAX_BODY_BYTES": str(64 * MiB), "LIBRARYCACHE_DB": DB}
            lc = stack.enter_context(serve("server", uri, workdir, env))
            apollo = stack.enter_context(serve_apollo(uri, workdir))
            bare_app = stack.enter_context(serve("bare", uri, workdir, {"LIBRARYCACHE_DB": DB}))
            _measure(options, figures, order, mongo, Client(lc), ApolloClient(apollo), bare_app)
    finally:
        asyncio.run(embedded.stop())
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    options: CompareOptions,
    figures: Figures,
    order: tuple[str, ...],
    mongo: Any,
    lc: Client,
    apollo: ApolloClient,
    bare_app: Served,
) -> None:
    main_db, bare_db = mongo[DB], mongo["bare"]
    servers = {"LibraryCache": lc, "Apollo/Node": apollo}
    warm = ingest_body(make_input("user:warm-up", WARM_UP, prefix="warm"))
    for client in servers.values():
        client.post(warm)
        client.post(body(LIKED_PAGE, {"userId": "user:warm-up", "first": 50}))
        client.post(body(PLAYLISTS_ENTRIES, {"userId": "user:warm-up"}))
        client.post(body(LIBRARY_LIKED_PAGE, {"userId": "user:warm-up", "first": 50}))

    def each(figure: str, step: Callable[[str], float]) -> None:
        for impl in order:
            seconds = step(impl)
            figures.add(figure, impl, seconds)
        got = ", ".join(
            f"{impl} {figures.values[figure][impl][-1] * 1000:.1f}"
            for impl in IMPLS
            if impl in figures.values[figure]
        )
        log(f"  {figure}: {got} ms")

    # ------------------------------------------------- ingest and sync of L
    user = "user:L"
    library = make_input(user, L, prefix="a")
    ingest = ingest_body(library)
    changed = ingest_body(change_one_percent(library), SYNC)

    def do_ingest(impl: str, payload: bytes = ingest, name: str = "ingest") -> float:
        if impl == "bare":
            return baseline.ingest_cpu(bare_db, payload)[0]
        data, cpu, _ = servers[impl].measured(payload)
        assert data[name]["documentsWritten"] > 0, data
        return cpu

    each("ingest of L (10k likes, 10k tracks, 2k plays, 50 x 100)", do_ingest)

    def do_sync(impl: str) -> float:
        if impl == "bare":
            return baseline.sync_cpu(bare_db, changed, 2)
        data, cpu, _ = servers[impl].measured(changed)
        figures.extra.setdefault("documents written by the 1% sync", []).append(
            f"{impl} {data['sync']['documentsWritten']}"
        )
        return cpu

    each("sync changing 1% of L", do_sync)

    # ------------------------------------------------------------- the reads
    _reads(figures, each, servers, main_db, bare_app, user, "10k", options.reads, options.reads)

    def do_playlists(impl: str) -> float:
        n = options.reads
        if impl == "bare":
            cpu, entries = baseline.playlists_cpu(main_db, user, n)
            assert entries == L.playlists * L.entries, entries
            return cpu
        data, cpu, _ = servers[impl].measured(body(PLAYLISTS_ENTRIES, {"userId": user}), n)
        assert sum(len(p["entries"]) for p in data["playlists"]) == L.playlists * L.entries
        return cpu

    each("playlists 50 x 100 with entries and tracks", do_playlists)
    figures.notes["playlists 50 x 100 with entries and tracks"] = "pymongo"

    # ------------------------------------------------------------ growth
    for likes in options.growth:
        if likes == L.likes:
            continue
        shape = Shape(tracks=likes, likes=likes, plays=min(L.plays, likes))
        grown = f"user:g{likes}"
        payload = ingest_body(make_input(grown, shape, prefix=f"g{likes}"))
        label = f"{likes // 1000}k"

        # The 100k ingest is repeated (other users, not timed): memory must not compound.
        repeats = options.memory_ingests if likes >= BIG_LIKES else 1
        extra = [
            ingest_body(make_input(f"{grown}-{n}", shape, prefix=f"g{likes}r{n}"))
            for n in range(1, repeats)
        ]

        def do_big(
            impl: str, payload: bytes = payload, label: str = label, extra: list[bytes] = extra
        ) -> float:
            if impl == "bare":
                return baseline.ingest_cpu(bare_db, payload)[0]
            served = servers[impl].served
            mem, cpu = measure_ingest(served, partial(do_ingest, impl, payload))
            mems = [mem]
            for more in extra:
                mems.append(measure_ingest(served, partial(do_ingest, impl, more))[0])
            figures.extra.setdefault(
                f"RSS before -> peak -> after (settled), ingests of {label}", []
            ).append(f"{impl} " + ", ".join(str(m) for m in mems))
            return float(cpu)

        each(f"ingest of {label} likes + {label} tracks", do_big)
        n = _reads_for(likes, options.reads)
        _reads(figures, each, servers, main_db, bare_app, grown, label, n, options.reads)


def _reads(
    figures: Figures,
    each: Callable[[str, Callable[[str], float]], None],
    servers: dict[str, Client],
    main_db: Any,
    bare_app: Served,
    user: str,
    label: str,
    n: int,
    reads: int,
) -> None:
    """One list's read figures: ``n`` requests of its ids, ``min(n, reads) * PAGE_READS``
    of each page."""

    def do_ids(impl: str) -> float:
        if impl == "bare":
            cpu, _ = baseline.liked_ids_cpu(main_db, user, n, READ_BATCH)
            return cpu
        data, cpu, _ = servers[impl].measured(body(LIKED_IDS, {"userId": user}), n)
        assert data["liked"]["trackIds"], impl
        return cpu

    each(f"liked {{ trackIds }}, {label}", do_ids)

    # Fewer at 100k too: the peer counts the whole list on nx for each page.
    pages = min(n, reads) * PAGE_READS
    bare_page: list[float] = []

    def bare_starlette() -> float:
        # The bare Starlette endpoint serves both page figures; measured once per list.
        if not bare_page:
            payload = orjson.dumps({"userId": user, "first": 50})
            with httpx.Client(base_url=bare_app.url, timeout=300) as http:
                http.post("/liked", content=payload)
                before = bare_app.cpu()
                for _ in range(pages):
                    http.post("/liked", content=payload).raise_for_status()
                bare_page.append((bare_app.cpu() - before) / pages)
        return bare_page[0]

    def page(query: str, path: tuple[str, ...]) -> Callable[[str], float]:
        def step(impl: str) -> float:
            if impl == "bare":
                return bare_starlette()
            data, cpu, _ = servers[impl].measured(body(query, {"userId": user, "first": 50}), pages)
            for key in path:
                data = data[key]
            assert len(data) == 50, impl
            return cpu

        return step

    root = f"liked(first: 50) with track metadata, {label}"
    relay = f"library {{ liked(first: 50) {{ edges {{ node }} }} }}, {label}"
    each(root, page(LIKED_PAGE, ("liked", "items")))
    each(relay, page(LIBRARY_LIKED_PAGE, ("library", "liked", "edges")))
    figures.notes[root] = figures.notes[relay] = "bare Starlette"


def compare(options: CompareOptions) -> Figures:
    ensure_apollo_installed()
    figures = Figures()
    started = time.perf_counter()
    for rnd in range(options.rounds):
        shift = rnd % len(IMPLS)
        order = IMPLS[shift:] + IMPLS[:shift]
        run_round(options, rnd, figures, order)
    figures.extra["machine"] = [machine(), f"Node {node_version()}"]
    figures.extra["run"] = [f"{options.rounds} round(s), {time.perf_counter() - started:.0f} s"]
    return figures
