"""The stores a persistence test can run against, as one pytest parameter.

* ``mongomock``: mongomock-motor in process; fast, for small data only.
* ``wire-motor`` / ``wire-pymongo``: the nx-27017 wire server over TCP, with Motor
  and with PyMongo's AsyncMongoClient.
* ``mongodb``: a real MongoDB at ``LIBRARYCACHE_TEST_MONGODB_URI``; skipped when it is not
  set. A variable of its own, so that a developer's ``MONGODB_URI`` (the server's setting)
  never points the tests at a database, nor the tests' servers at the developer's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import mongomock.collection
import pytest
from pymongo import monitoring

from persistence.client import Client, Driver, connect

TEST_MONGODB_URI = "LIBRARYCACHE_TEST_MONGODB_URI"

BACKENDS = [
    "mongomock",
    "wire-motor",
    "wire-pymongo",
    pytest.param(
        "mongodb",
        marks=pytest.mark.skipif(
            not os.environ.get(TEST_MONGODB_URI),
            reason=f"needs a real MongoDB: set {TEST_MONGODB_URI} (no mongod on these machines)",
        ),
    ),
]


@contextmanager
def mongomock_bulk_write_fix() -> Iterator[None]:
    """mongomock's bulk builder rejects the ``sort`` argument PyMongo >= 4.11 passes.

    mongomock issue 912 (open). This drops the argument (always None for our
    UpdateOne calls) for the duration of a test, instead of pinning PyMongo.
    """
    builder = mongomock.collection.BulkOperationBuilder
    original = builder.add_update

    def add_update(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        assert sort is None, "the stand-in cannot honour a sort on an update"
        return original(self, *args, **kwargs)

    builder.add_update = add_update
    try:
        yield
    finally:
        builder.add_update = original


def make_client(
    backend: str, wire_uri: str | None, listeners: Sequence[monitoring.CommandListener] = ()
) -> Client:
    if backend == "mongomock":
        from mongomock_motor import AsyncMongoMockClient

        return AsyncMongoMockClient(tz_aware=True)
    if backend == "mongodb":
        return connect(os.environ[TEST_MONGODB_URI], "pymongo", listeners=listeners)
    assert wire_uri is not None
    driver: Driver = "motor" if backend == "wire-motor" else "pymongo"
    # The wire server can be slow on large single commands; give it room.
    return connect(wire_uri, driver, timeout_ms=30_000, listeners=listeners)
