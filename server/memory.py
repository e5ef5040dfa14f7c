"""Gives the memory of a large request back once it is answered.

An ingest of 100,000 likes builds a few hundred MiB of short-lived objects: the parsed
body, graphql-core's coerced copy of the variable, pydantic models, documents. Two things
kept most of it after the response (measured, docs/performance.md):

* graphql-core 3.3's execution context is in a reference cycle (its ``info_helpers`` hold
  bound methods of the context), and the context holds the coerced variables; so the
  whole coerced input waits for a full garbage collection, which the collection
  thresholds of ``server._gc`` make rare: ingest after ingest, it compounded;
* what was freed stays in glibc's heap, which hands pages back to the system only from
  its top, so one live block above them kept a freed body's pages resident.

So after a request whose body passed ``threshold`` bytes, this middleware runs a full
collection and ``malloc_trim(0)`` (glibc's call that returns every free page of its
heaps), once the response has been sent. Measured: ~25 ms after an ingest of 10,000
likes (~0.9 s of CPU), ~0.4 s after one of 100,000 (~10 s); the reads that make up the
traffic never pay it. Under sustained overload, the syncs' releases also kept the
resident set flat where it otherwise rose by steps with every burst of syncs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("librarycache.memory")


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Collect cyclic garbage, then hand the C heap's free pages back to the system."""
    started = time.perf_counter()
    gc.collect()
    if _TRIM is not None:
        _TRIM()
    log.debug("memory released in %.1f ms", (time.perf_counter() - started) * 1000)


class ReleaseMemoryMiddleware:
    """After a request with a body over ``threshold`` bytes: :func:`release_memory`."""

    def __init__(self, app: ASGIApp, threshold: int) -> None:
        self.app = app
        self.threshold = threshold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.threshold:
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            if received > self.threshold:
                release_memory()
