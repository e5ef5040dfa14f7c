"""A page reads at most its size plus a small constant, however deep in a run of ties.

Bulk-imported libraries hold thousands of likes at one ``addedAt``. Before the keyset
``$or`` (and the stand-in dialect's split of the cursor's second), a page 3,900 deep in
4,000 ties read 8,221 likes on the embedded store. Documents are counted, not timed
(``tests/persistence/counting.py``); ``python -m bench.ties`` prints the timings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from persistence import Dialect, LibraryStore
from persistence.client import close
from tests.backends import make_client, mongomock_bulk_write_fix
from tests.factories import BASE, make_library, snapshot
from tests.persistence.counting import CountingDatabase, ReturnedDocuments

TIES = 300
PAGE = 20
SLACK = 3
"""The extra documents a page may read: the one that tells whether more follow, and on
the stand-in one per extra query of its split."""


@pytest.fixture
async def counted(
    backend: str, backend_uri: str | None, db_name: str, dialect: Dialect
) -> AsyncIterator[tuple[LibraryStore, Counter[str]]]:
    listener = ReturnedDocuments()
    client = make_client(backend, backend_uri, [listener])
    db: Any = client[db_name]
    documents = listener.documents
    with mongomock_bulk_write_fix():
        if backend == "mongomock":
            documents = Counter()
            db = CountingDatabase(db, documents)
        store = LibraryStore(db, dialect=dialect)
        await store.ensure_indexes()
        library = make_library(likes=TIES + 10, plays=1, playlists=0)
        for i, like in enumerate(library["likes"]):
            # ten likes at later seconds, then a run of ties at one whole second
            like["addedAt"] = (BASE if i < TIES else BASE.replace(hour=i - TIES + 1)).isoformat()
        await store.ingest(snapshot(library))
        yield store, documents
    await client.drop_database(db_name)
    await close(client)


async def test_a_page_deep_in_ties_reads_about_its_size(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, documents = counted
    view = await store.view("user:alice")
    whole = await view.liked()
    for depth in (10, 150, TIES - PAGE, TIES + 5):
        documents.clear()
        page = await view.liked(first=PAGE, after=whole.cursors[depth - 1])
        assert [like.track_id for like in page.items] == [
            like.track_id for like in whole.items[depth : depth + PAGE]
        ]
        assert len(page.items) <= documents["likes"] <= PAGE + SLACK, f"forward at {depth}"

        documents.clear()
        page = await view.liked(last=PAGE, before=whole.cursors[depth])
        assert [like.track_id for like in page.items] == [
            like.track_id for like in whole.items[max(0, depth - PAGE) : depth]
        ]
        assert len(page.items) <= documents["likes"] <= PAGE + SLACK, f"backward at {depth}"


async def test_walking_every_page_reads_each_like_about_once(
    counted: tuple[LibraryStore, Counter[str]],
) -> None:
    store, documents = counted
    view = await store.view("user:alice")
    documents.clear()
    after, pages, read = None, 0, 0
    while True:
        page = await view.liked_track_ids(first=PAGE, after=after)
        pages += 1
        read += len(page.items)
        if not page.has_next:
            break
        after = page.end_cursor
    assert read == TIES + 10
    assert documents["likes"] <= read + pages * SLACK
