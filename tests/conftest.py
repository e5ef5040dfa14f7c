"""Fixtures shared by every test folder: the backends and a store on each."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from persistence import Dialect, LibraryStore, detect_dialect
from persistence.client import Client, close
from persistence.store import StoreOptions
from server.embedded import EmbeddedMongo
from tests.backends import BACKENDS, make_client, mongomock_bulk_write_fix

_db_names = itertools.count()


@pytest.fixture(scope="session")
def wire_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One nx-27017 server for the session; each test gets its own database on it."""
    server = EmbeddedMongo(tmp_path_factory.mktemp("wire") / "nx-27017")
    uri = asyncio.run(server.start())
    yield uri
    asyncio.run(server.stop())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def backend_uri(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The wire server's URI for wire backends; started only when a test needs it."""
    # Resolved in a sync fixture: the session fixture starts its server with asyncio.run.
    return request.getfixturevalue("wire_uri") if backend.startswith("wire") else None


@pytest.fixture
async def mongo_client(backend: str, backend_uri: str | None) -> AsyncIterator[Client]:
    client = make_client(backend, backend_uri)
    if backend == "mongomock":
        with mongomock_bulk_write_fix():
            yield client
    else:
        yield client
    await close(client)


@pytest.fixture
def db_name() -> str:
    return f"test_{next(_db_names)}"


@pytest.fixture
def store_options() -> StoreOptions:
    return StoreOptions(write_batch=200)


@pytest.fixture
async def dialect(mongo_client: Client, db_name: str) -> Dialect:
    """The backend's dialect, detected as the server's start-up detects it."""
    return await detect_dialect(mongo_client[db_name])


@pytest.fixture
async def store(
    mongo_client: Client, db_name: str, store_options: StoreOptions, dialect: Dialect
) -> AsyncIterator[LibraryStore]:
    store = LibraryStore(mongo_client[db_name], store_options, dialect=dialect)
    await store.ensure_indexes()
    yield store
    await mongo_client.drop_database(db_name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
