"""Every command the store sends can be routed to one shard.

Per-user collections shard on a ranged ``{userId: 1, ...}`` key, ``tracks`` on
``{_id: "hashed"}``, ``libraries`` on ``_id`` (the user). A command without the shard key
is broadcast to every shard (and a multi-document write without it is refused). So every
command on a per-user collection must carry ``userId`` equality, every one on ``tracks`` and
``libraries`` must target ``_id``. The commands are recorded by PyMongo's command
monitoring, so this runs on the backends with a real driver (mongomock has no wire).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from persistence import Dialect, LibraryStore, StoreUnavailable
from persistence.client import close
from tests.backends import BACKENDS, make_client
from tests.factories import make_library, snapshot
from tests.faults import Fail, FaultyDatabase
from tests.persistence.counting import ReturnedDocuments

WITH_A_DRIVER = [b for b in BACKENDS if b != "mongomock"]
pytestmark = pytest.mark.parametrize("backend", WITH_A_DRIVER, indirect=True)
PER_USER = {"likes", "plays", "playlists"}


def _filters(name: str, command: dict[str, Any]) -> list[Any]:
    """What selects the documents of one command (each statement of a bulk command)."""
    if name == "find":
        return [command.get("filter", {})]
    if name == "findAndModify":
        return [command.get("query", {})]
    if name == "update":
        return [u["q"] for u in command["updates"]]
    if name == "delete":
        return [d["q"] for d in command["deletes"]]
    if name == "insert":
        return list(command["documents"])
    raise AssertionError(f"a command the store should not send: {name} {command}")


def _has_equality(selector: Any, field: str) -> bool:
    if not isinstance(selector, dict):
        return False
    value = selector.get(field)
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and set(value) == {"$in"}:
        return True  # a list of exact values: routed to the shards holding them
    return any(_has_equality(part, field) for part in selector.get("$and", ()))


@pytest.fixture
async def recorded(
    backend: str, backend_uri: str | None, db_name: str, dialect: Dialect
) -> AsyncIterator[tuple[LibraryStore, Any, ReturnedDocuments]]:
    listener = ReturnedDocuments()
    client = make_client(backend, backend_uri, [listener])
    db = client[db_name]
    store = LibraryStore(db, dialect=dialect)
    await store.ensure_indexes()
    listener.commands.clear()  # index builds are set-up, not traffic
    yield store, db, listener
    await client.drop_database(db_name)
    await close(client)


async def test_every_command_targets_one_shard(
    recorded: tuple[LibraryStore, Any, ReturnedDocuments], dialect: Dialect
) -> None:
    store, db, listener = recorded
    first = make_library(likes=6, plays=4, playlists=3, entries=3)
    await store.ingest(snapshot(first))
    await store.sync(snapshot(make_library(likes=5, plays=4, playlists=2, offset=1)))
    # A sync that dies part-way leaves work for the next one's clean-up and collection.
    dying = LibraryStore(FaultyDatabase(db, Fail("update_many", down=True)), dialect=dialect)
    with pytest.raises(StoreUnavailable):
        await dying.sync(snapshot(make_library(likes=2, offset=7)))
    await store._libraries.update_one({"_id": "user:alice"}, {"$unset": {"lease": ""}})
    await store.sync(snapshot(make_library(likes=3, playlists=1, offset=2)))
    await store.sync(snapshot(make_library(likes=3, playlists=1, offset=3)))  # collects

    view = await store.view("user:alice")
    page = await view.liked(first=2)
    await view.liked(first=2, after=page.end_cursor)
    await view.liked_track_ids(last=1, before=page.end_cursor)
    await view.plays()
    await view.played_track_ids(first=1)
    playlists = await view.playlists(first=1)
    await view.playlists(after=playlists.end_cursor)
    await view.playlist("playlist:user:alice:0")
    await view.playlist_entries("playlist:user:alice:0", last=1)
    await store.tracks(["track:1", "track:2"])
    await store.last_sync("user:alice")

    seen: dict[str, set[str]] = {}
    for name, command in listener.commands:
        collection = command.get(name)
        if name in ("getMore", "killCursors") or not isinstance(collection, str):
            continue  # continues a command already checked
        seen.setdefault(collection, set()).add(name)
        key = "userId" if collection in PER_USER else "_id"
        for selector in _filters(name, command):
            assert _has_equality(selector, key), f"{name} on {collection}: {selector}"
    assert PER_USER | {"tracks", "libraries"} <= set(seen)
    assert {"find", "insert", "update", "delete"} <= set().union(*seen.values())
