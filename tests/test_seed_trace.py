"""The trace in ../shared/seed/LibraryCache-trace.md, over HTTP.

Once through the ASGI app in process, once against a real ``librarycache serve``
process on its embedded store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.factories import seed_trace_ingest, seed_trace_sync
from tests.graphql_client import INGEST, LIBRARY, SYNC, data
from tests.serve_process import serve

LIKED = 'query { liked(userId: "user:alice") { trackIds } }'


@pytest.fixture(params=["asgi", pytest.param("process", marks=pytest.mark.e2e)])
async def client(
    request: pytest.FixtureRequest, wire_uri: str, db_name: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "asgi":
        app = create_app(Settings(mongodb_uri=wire_uri, db=db_name))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c
    else:
        with serve(tmp_path / "data") as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                yield c


async def test_seed_trace(client: httpx.AsyncClient) -> None:
    # 1. initial ingestion
    report = (await data(client, INGEST, {"input": seed_trace_ingest()}))["ingest"]
    assert report == {
        "userId": "user:alice",
        "kind": "INGEST",
        "version": 1,
        "likesAdded": 2,
        "likesRemoved": 0,
        "documentsWritten": 6,  # 2 tracks, 2 likes, 1 play, 1 playlist
    }
    # 2. querying the cache: newest addedAt first
    assert (await data(client, LIKED))["liked"]["trackIds"] == ["track:2", "track:1"]

    # 4. synchronisation after the external change
    report = (await data(client, SYNC, {"input": seed_trace_sync()}))["sync"]
    assert report["kind"] == "SYNC"
    assert (report["likesAdded"], report["likesRemoved"]) == (1, 1)
    assert report["tracksUpserted"] == 1  # track:3; track:2 is unchanged

    # 5. querying the updated cache
    assert (await data(client, LIKED))["liked"]["trackIds"] == ["track:3", "track:2"]
    library = await data(client, LIBRARY, {"userId": "user:alice"})
    assert library["plays"]["trackIds"] == ["track:3", "track:2"]
    (rock,) = library["playlists"]
    assert [e["trackId"] for e in rock["entries"]] == ["track:1", "track:3"]
    # track:1 left the likes but stays cached: a sync never deletes tracks
    assert rock["entries"][0]["track"] == {"trackId": "track:1", "title": "Title of track:1"}
    assert library["lastSync"] == {"version": 2, "kind": "SYNC"}


@pytest.mark.e2e
async def test_data_survives_a_restart(tmp_path: Path) -> None:
    with serve(tmp_path / "data") as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            await data(c, INGEST, {"input": seed_trace_ingest()})
    with serve(tmp_path / "data") as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            assert (await data(c, LIKED))["liked"]["trackIds"] == ["track:2", "track:1"]
