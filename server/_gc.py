"""Garbage-collector settings for a server process, applied once it has started up.

A GraphQL request allocates hundreds of thousands of short-lived containers (an ingest of
10,000 likes: the parsed body, graphql-core's coerced copy, pydantic models, documents).
With CPython's defaults the collector runs a young collection every 700 allocations and a
full one every hundred of those, each full one walking every object the server holds,
most of them the modules and the schema built at start-up. Measured on an ingest of L
(docs/performance.md): 15-20% of the server's CPU.
"""

from __future__ import annotations

import gc

_THRESHOLDS = (20_000, 20, 20)
"""Young collections every 20,000 allocations instead of 700. Higher still saved little
more CPU and kept another ~50 MiB of cyclic garbage around during an ingest."""


def tune_for_serving() -> None:
    """Freeze what start-up built (full collections no longer walk it) and collect less often.

    Call once per server process, after the app is built: frozen objects are never
    collected, so this is for a process that serves one app until it exits.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
