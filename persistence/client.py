"""The one place that picks a MongoDB driver.

Motor reached end of life in May 2026; PyMongo's ``AsyncMongoClient`` succeeds it.
The store only uses what both share, so switching is the ``driver`` argument.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal

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
