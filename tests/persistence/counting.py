"""Counting what the store reads: documents per collection (however the backend replies), reads.

On a real driver (the wire server, MongoDB) the count comes from PyMongo's command
monitoring: the documents in every ``find``/``getMore`` reply, so a read that fetches more
than it keeps is counted in full. mongomock has no wire protocol; there the documents each
cursor hands back are counted instead.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo import monitoring


class ReturnedDocuments(monitoring.CommandListener):
    """Documents returned by the server, per collection, from command monitoring."""

    def __init__(self) -> None:
        self.documents: Counter[str] = Counter()
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self._collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command.get(event.command_name)
        if event.command_name == "getMore":
            name = event.command.get("collection")
        if isinstance(name, str):
            self._collections[event.request_id] = name
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._collections.pop(event.request_id, None)
        cursor = event.reply.get("cursor")
        if name is not None and isinstance(cursor, dict):
            self.documents[name] += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._collections.pop(event.request_id, None)


class CountingDatabase:
    """A database whose collections count what is asked of them: the documents their
    cursors hand back into ``documents`` (for mongomock, which has no command monitoring),
    and the reads (``find``, ``find_one``: one round trip each) into ``reads``. Either
    counter may be left out; what is not counted passes through untouched."""

    def __init__(
        self, db: Any, documents: Counter[str] | None = None, reads: Counter[str] | None = None
    ) -> None:
        self._db = db
        self._documents = documents
        self._reads = reads

    def __getitem__(self, name: str) -> Any:
        return _CountingCollection(self._db[name], name, self._documents, self._reads)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class _CountingCollection:
    def __init__(
        self, coll: Any, name: str, documents: Counter[str] | None, reads: Counter[str] | None
    ) -> None:
        self._coll = coll
        self._name = name
        self._documents = documents
        self._reads = reads

    def find(self, *args: Any, **kwargs: Any) -> Any:
        if self._reads is not None:
            self._reads[self._name] += 1
        cursor = self._coll.find(*args, **kwargs)
        if self._documents is None:
            return cursor
        return _CountingCursor(cursor, self._name, self._documents)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        if self._reads is not None:
            self._reads[self._name] += 1
        found = await self._coll.find_one(*args, **kwargs)
        if self._documents is not None:
            self._documents[self._name] += found is not None
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coll, name)


class _CountingCursor:
    def __init__(self, cursor: Any, name: str, documents: Counter[str]) -> None:
        self._cursor = cursor
        self._name = name
        self._documents = documents

    def sort(self, *args: Any, **kwargs: Any) -> _CountingCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> _CountingCursor:
        self._cursor = self._cursor.limit(n)
        return self

    async def to_list(self, length: int | None) -> list[Any]:
        found: list[Any] = await self._cursor.to_list(length)
        self._documents[self._name] += len(found)
        return found
