"""A closed-loop load generator: N concurrent tasks over one keep-alive httpx client."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p95_ms(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.p50_ms
        return statistics.quantiles(self.latencies_ms, n=20)[-1]


async def run_load(
    url: str,
    body: bytes,
    *,
    concurrency: int = 32,
    seconds: float = 10.0,
    max_requests: int = 100_000,
    warmup: float = 1.0,
) -> LoadResult:
    """POST ``body`` to ``url`` from ``concurrency`` tasks until time or count runs out.

    The first ``warmup`` seconds are not counted. Every answer must be 200 without
    ``"errors"``; others count as errors (and would make the figure meaningless).
    """
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    counting = False
    count = 0
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from = start + warmup
        deadline = measure_from + seconds

        async def worker() -> None:
            nonlocal errors, counting, count
            while True:
                now = loop.time()
                if now >= deadline or count >= max_requests:
                    return
                t0 = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                if loop.time() < measure_from:
                    continue
                count += 1
                if response.status_code != 200 or b'"errors"' in response.content:
                    errors += 1
                latencies.append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = max(loop.time() - measure_from, 1e-9)
    return LoadResult(count, errors, elapsed, latencies)


async def sequential_latency(
    url: str, body: bytes, *, requests: int, warmup: int = 2
) -> LoadResult:
    """One client, one request at a time: the latency a single user sees."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=300) as client:
        for i in range(warmup + requests):
            t0 = time.perf_counter()
            response = await client.post(
                url, content=body, headers={"content-type": "application/json"}
            )
            elapsed = (time.perf_counter() - t0) * 1000
            if i < warmup:
                continue
            if response.status_code != 200 or b'"errors"' in response.content:
                errors += 1
            latencies.append(elapsed)
    return LoadResult(len(latencies), errors, sum(latencies) / 1000, latencies)
