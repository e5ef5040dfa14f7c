"""The one place that picks a MongoDB driver.

Motor reached end of life in May 2026; PyMongo's ``AsyncMongoClient`` succeeds it.
The store only uses what both share, so switching is the ``driver`` argument.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from typing import Any, Literal

import pymongo
from pymongo import monitoring

Driver = Literal["motor", "pymongo"]
Client = Any  # AsyncIOMotorClient | AsyncMongoClient; Motor ships no type information


def connect(
    uri: str,
    driver: Driver = "pymongo",
    *,
    timeout_ms: int = 5000,
    listeners: Sequence[monitoring.CommandListener] = (),
) -> Client:
    """Build a client; it connects lazily, on first use. ``listeners``: PyMongo command
    monitoring (both drivers honour it)."""
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "appname": "librarycache",
        "event_listeners": list(listeners),
        # Explicit, whatever the URI says (docs/design.md, "Replica sets"): every read
        # and write goes to the primary; reads see only majority-committed data, so a
        # committed version, and every document of it, survive a failover; a write is
        # acknowledged once a majority has it. The drivers retry a read or a write once
        # on a network error or a step-down (retryable reads and writes).
        "readPreference": "primary",
        "readConcernLevel": "majority",
        "w": "majority",
        "retryReads": True,
        "retryWrites": True,
    }
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient(uri, **options)
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(uri, **options)


async def close(client: Client) -> None:
    """Close either driver's client (Motor's ``close`` is synchronous, PyMongo's is not)."""
    result = client.close()
    if inspect.isawaitable(result):
        await result


def deadline(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Every store command started within the block ends by ``seconds`` from now: the
    driver sets ``maxTimeMS`` and its socket timeouts from what is left (PyMongo's
    client-side operation timeout). Cancelling an awaiting task stops the client side
    only; with Motor the command even goes on in its thread. This stops the work itself:
    on the server, and in Motor's threads (Motor carries the deadline into them)."""
    return pymongo.timeout(seconds)
