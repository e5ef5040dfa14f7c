"""Resolver behaviour through the schema, without HTTP (one backend is enough here)."""

from __future__ import annotations

from typing import Any

import pytest

from persistence import LibraryStore, Track
from resolvers import RequestContext, build_schema
from tests.factories import make_library, snapshot

pytestmark = pytest.mark.parametrize("backend", ["mongomock"], indirect=True)

schema = build_schema()


async def execute(store: LibraryStore, query: str, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(
        query, variable_values=variables, context_value=RequestContext(store=store)
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_track_metadata_is_batched_per_request(
    store: LibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.ingest(snapshot(make_library(likes=60, plays=60, entries=60)))
    calls: list[set[str]] = []
    original = store.tracks

    async def counting_tracks(track_ids: Any, **kwargs: Any) -> dict[str, Track]:
        calls.append(set(track_ids))
        return await original(track_ids, **kwargs)

    monkeypatch.setattr(store, "tracks", counting_tracks)
    data = await execute(
        store,
        """query($u: ID!) {
          liked(userId: $u, first: 50) { items { track { title } } }
          plays(userId: $u) { items { track { title } } }
          playlists(userId: $u) { entries { track { title } } }
        }""",
        u="user:alice",
    )
    assert len(data["liked"]["items"]) == 50
    assert all(item["track"]["title"] for item in data["liked"]["items"])
    # One query for every track on every list, not one per item.
    assert len(calls) == 1
    assert len(calls[0]) == 60


async def test_playlist_entries_page_by_position(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(entries=5)))
    query = """query($u: ID!, $p: ID!, $after: String) {
      playlist(userId: $u, playlistId: $p) {
        entryCount entries(first: 2, after: $after) { position trackId cursor }
      }
    }"""
    ids = {"u": "user:alice", "p": "playlist:user:alice:0"}
    first = (await execute(store, query, **ids))["playlist"]
    assert first["entryCount"] == 5
    assert [e["position"] for e in first["entries"]] == [0, 1]
    rest = (await execute(store, query, **ids, after=first["entries"][-1]["cursor"]))["playlist"]
    assert [e["trackId"] for e in rest["entries"]] == ["track:2", "track:3"]


@pytest.mark.parametrize(("after", "positions"), [("1", [2, 3]), ("3", [4]), ("9", [])])
async def test_entries_still_take_a_position_as_after(
    store: LibraryStore, after: str, positions: list[int]
) -> None:
    """The deprecated `entries` once documented its cursors as positions: clients that
    kept or computed one ("1") keep reading the entries after that position."""
    await store.ingest(snapshot(make_library(entries=5)))
    query = """query($u: ID!, $p: ID!, $after: String) {
      playlist(userId: $u, playlistId: $p) { entries(first: 2, after: $after) { position } }
    }"""
    ids = {"u": "user:alice", "p": "playlist:user:alice:0"}
    page = (await execute(store, query, **ids, after=after))["playlist"]
    assert [e["position"] for e in page["entries"]] == positions


async def test_paging_liked_with_cursors_reads_every_like_once(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=7)))
    query = """query($after: String) {
      liked(userId: "user:alice", first: 3, after: $after) {
        totalCount trackIds pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await execute(store, query, after=after))["liked"]
        assert page["totalCount"] == 7
        seen += page["trackIds"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    whole = (await execute(store, '{ liked(userId: "user:alice") { trackIds } }'))["liked"]
    assert seen == whole["trackIds"]
    assert len(set(seen)) == 7


@pytest.mark.parametrize("first", [-1, 501])
async def test_page_size_is_bounded(store: LibraryStore, first: int) -> None:
    result = await schema.execute(
        'query($n: Int) { liked(userId: "user:alice", first: $n) { trackIds } }',
        variable_values={"n": first},
        context_value=RequestContext(store=store),
    )
    assert result.errors is not None
    (error,) = result.errors
    assert error.extensions == {"code": "BAD_USER_INPUT", "field": "first"}
    assert "between 0 and 500" in error.message


async def test_unknown_track_is_null(store: LibraryStore) -> None:
    assert await execute(store, '{ track(trackId: "track:nope") { title } }') == {"track": None}
