"""The graph through the schema: global ids, node/nodes, library/viewer, access, partial
results, payloads that refresh caches, one snapshot per request, scalars, deprecations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from persistence import LibraryStore, LibraryView
from resolvers import RequestContext
from resolvers.access import Caller
from resolvers.schema import schema_sdl
from tests.factories import make_library, snapshot
from tests.graph import ok, run
from tests.graphql_client import LIBRARY


@pytest.fixture
def backend() -> str:
    """The graph is the resolvers' concern: one backend is enough (the store has its suite)."""
    return "mongomock"


ALICE, BOB = "user:alice", "user:bob"
SHARED = "playlist:shared"
ALICE_ONLY = Caller(subject=ALICE)

IDS = """query($u: ID!, $p: ID!) {
  library(userId: $u) {
    id userId
    playlist(playlistId: $p) { id playlistId name }
    liked(first: 1) { nodes { id trackId } }
  }
}"""


def _with_shared_playlist(user_id: str, name: str) -> dict[str, Any]:
    library = make_library(user_id)
    library["playlists"][0]["playlistId"] = SHARED
    library["playlists"][0]["name"] = name
    return library


@pytest.fixture
async def two_users(store: LibraryStore) -> LibraryStore:
    """Alice and Bob both follow ``playlist:shared``, each with a copy of their own."""
    await store.ingest(snapshot(_with_shared_playlist(ALICE, "Alice's copy")))
    await store.ingest(snapshot(_with_shared_playlist(BOB, "Bob's copy")))
    return store


async def _ids(store: LibraryStore, user_id: str) -> dict[str, Any]:
    library: dict[str, Any] = (await ok(store, IDS, u=user_id, p=SHARED))["library"]
    return library


async def test_every_object_is_refetched_by_its_id(two_users: LibraryStore) -> None:
    alice = await _ids(two_users, ALICE)
    track = alice["liked"]["nodes"][0]
    query = """query($l: ID!, $p: ID!, $t: ID!) {
      l: node(id: $l) { __typename id ... on Library { userId } }
      p: node(id: $p) { __typename id ... on Playlist { playlistId name } }
      t: node(id: $t) { __typename id ... on Track { trackId } }
    }"""
    data = await ok(two_users, query, l=alice["id"], p=alice["playlist"]["id"], t=track["id"])
    assert data == {
        "l": {"__typename": "Library", "id": alice["id"], "userId": ALICE},
        "p": {
            "__typename": "Playlist",
            "id": alice["playlist"]["id"],
            "playlistId": SHARED,
            "name": "Alice's copy",
        },
        "t": {"__typename": "Track", "id": track["id"], "trackId": track["trackId"]},
    }


async def test_two_users_copies_of_one_playlist_are_two_objects(two_users: LibraryStore) -> None:
    alice, bob = await _ids(two_users, ALICE), await _ids(two_users, BOB)
    assert alice["playlist"]["playlistId"] == bob["playlist"]["playlistId"] == SHARED
    assert alice["playlist"]["id"] != bob["playlist"]["id"]
    assert alice["id"] != bob["id"]
    # A track is one object for everyone who likes it.
    assert alice["liked"]["nodes"][0]["id"] == bob["liked"]["nodes"][0]["id"]
    # Ids never collide across types, even where the keys are equal strings.
    every = [alice["id"], alice["playlist"]["id"], alice["liked"]["nodes"][0]["id"], bob["id"]]
    assert len(set(every)) == len(every)
    refetched = await ok(
        two_users,
        "query($id: ID!) { node(id: $id) { ... on Playlist { name } } }",
        id=bob["playlist"]["id"],
    )
    assert refetched == {"node": {"name": "Bob's copy"}}


async def test_ids_are_stable_across_requests_and_syncs(two_users: LibraryStore) -> None:
    before = await _ids(two_users, ALICE)
    changed = _with_shared_playlist(ALICE, "Renamed")
    await two_users.sync(snapshot(changed))
    after = await _ids(two_users, ALICE)
    assert after["playlist"]["name"] == "Renamed"
    assert (after["id"], after["playlist"]["id"]) == (before["id"], before["playlist"]["id"])
    assert after["liked"]["nodes"][0]["id"] == before["liked"]["nodes"][0]["id"]


async def test_ids_are_opaque_and_free_of_separator_tricks(store: LibraryStore) -> None:
    # A userId holding the characters a naive "type:user:playlist" id would split on.
    user = 'user:"x",:[]'
    await store.ingest(snapshot(_with_shared_playlist(user, "odd")))
    ids = await _ids(store, user)
    assert user not in ids["id"]
    assert SHARED not in ids["playlist"]["id"]
    data = await ok(
        store,
        "query($id: ID!) { node(id: $id) { ... on Playlist { name } } }",
        id=ids["playlist"]["id"],
    )
    assert data == {"node": {"name": "odd"}}


async def test_nodes_keeps_order_and_answers_each_id_on_its_own(two_users: LibraryStore) -> None:
    alice, bob = await _ids(two_users, ALICE), await _ids(two_users, BOB)
    ids = [bob["id"], "not-an-id", alice["playlist"]["id"], alice["liked"]["nodes"][0]["id"]]
    result = await run(
        two_users,
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        caller=ALICE_ONLY,
        ids=ids,
    )
    assert result.data == {
        "nodes": [
            None,  # Bob's library: refused
            None,  # malformed
            {"__typename": "Playlist", "id": alice["playlist"]["id"]},
            {"__typename": "Track", "id": alice["liked"]["nodes"][0]["id"]},
        ]
    }
    assert result.codes() == [
        ("FORBIDDEN", ["nodes", 0], None),
        ("BAD_USER_INPUT", ["nodes", 1], "ids[1]"),
    ]


async def test_nodes_takes_at_most_a_page_of_ids(two_users: LibraryStore) -> None:
    track = (await _ids(two_users, ALICE))["liked"]["nodes"][0]["id"]
    query = 'query($ids: [ID!]!) { nodes(ids: $ids) { id } track(trackId: "track:0") { title } }'
    assert await ok(two_users, query, ids=[track] * 3, max_page_size=3) == {
        "nodes": [{"id": track}] * 3,
        "track": {"title": "Title of track:0"},
    }
    refused = await run(two_users, query, ids=[track] * 4, max_page_size=3)
    assert refused.data is None  # `[Node]!`, as Relay has it: the refusal reaches the root
    assert refused.codes() == [("BAD_USER_INPUT", ["nodes"], "ids")]
    assert refused.errors[0]["message"] == "ids: has 4 items; the limit is 3"


@pytest.mark.parametrize(
    "bad",
    [
        "garbage!",
        "",
        "VHJhY2s=",  # base64 of "Track": no key
        "VW5rbm93bjp4",  # base64 of "Unknown:x"
        "UGxheWxpc3Q6bm90LWpzb24=",  # base64 of "Playlist:not-json"
    ],
)
async def test_a_malformed_id_is_bad_user_input(store: LibraryStore, bad: str) -> None:
    result = await run(
        store, 'query($id: ID!) { node(id: $id) { id } track(trackId: "x") { id } }', id=bad
    )
    assert result.data == {"node": None, "track": None}
    assert result.codes() == [("BAD_USER_INPUT", ["node"], "id")]
    assert "is not an id this server issued" in result.errors[0]["message"]


async def test_an_unknown_object_is_null(two_users: LibraryStore) -> None:
    alice = await _ids(two_users, ALICE)
    await two_users.sync(snapshot(make_library(ALICE, playlists=0)))
    query = "query($id: ID!) { node(id: $id) { id } }"
    assert await ok(two_users, query, id=alice["playlist"]["id"]) == {"node": None}


async def test_node_applies_the_read_rules(two_users: LibraryStore) -> None:
    bob = await _ids(two_users, BOB)
    alice = await _ids(two_users, ALICE)
    query = """query($bl: ID!, $bp: ID!, $t: ID!, $al: ID!) {
      bl: node(id: $bl) { id }
      bp: node(id: $bp) { id }
      t: node(id: $t) { id }
      al: node(id: $al) { id }
    }"""
    result = await run(
        two_users,
        query,
        caller=ALICE_ONLY,
        bl=bob["id"],
        bp=bob["playlist"]["id"],
        t=bob["liked"]["nodes"][0]["id"],
        al=alice["id"],
    )
    assert result.data == {
        "bl": None,
        "bp": None,
        "t": {"id": bob["liked"]["nodes"][0]["id"]},  # tracks are everyone's
        "al": {"id": alice["id"]},
    }
    assert sorted(result.codes()) == [("FORBIDDEN", ["bl"], None), ("FORBIDDEN", ["bp"], None)]
    # A refusal says the same whether or not the object exists.
    missing = (await _ids(two_users, "user:nobody"))["id"]
    nobody = await run(
        two_users, "query($id: ID!) { node(id: $id) { id } }", caller=ALICE_ONLY, id=missing
    )
    assert nobody.errors[0]["message"] == result.errors[0]["message"]


async def test_a_refused_library_is_null_beside_its_siblings(two_users: LibraryStore) -> None:
    query = """{
      mine: library(userId: "user:alice") { liked(first: 1) { totalCount } }
      theirs: library(userId: "user:bob") { liked(first: 1) { totalCount } }
      oldStyle: liked(userId: "user:bob") { totalCount }
      track(trackId: "track:0") { title }
    }"""
    result = await run(two_users, query, caller=ALICE_ONLY)
    assert result.data == {
        "mine": {"liked": {"totalCount": 3}},
        "theirs": None,
        "oldStyle": None,
        "track": {"title": "Title of track:0"},
    }
    assert sorted(result.codes()) == [
        ("FORBIDDEN", ["oldStyle"], None),
        ("FORBIDDEN", ["theirs"], None),
    ]


async def test_a_failing_field_is_null_beside_its_siblings(
    two_users: LibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: LibraryView) -> None:
        raise RuntimeError("the driver's detail, never shown")

    monkeypatch.setattr(LibraryView, "last_sync", broken)
    query = """{ library(userId: "user:alice") {
      lastSync { version } liked(first: 999) { totalCount } plays(first: 1) { totalCount }
    } }"""
    result = await run(two_users, query)
    assert result.data == {"library": {"lastSync": None, "liked": None, "plays": {"totalCount": 2}}}
    assert sorted(result.codes()) == [
        ("BAD_USER_INPUT", ["library", "liked"], "first"),
        ("INTERNAL_SERVER_ERROR", ["library", "lastSync"], None),
    ]
    assert all("driver" not in e["message"] for e in result.errors)


async def test_viewer_is_the_tokens_own_library(two_users: LibraryStore) -> None:
    query = "{ viewer { userId liked(first: 2) { totalCount } } }"
    assert await ok(two_users, query, caller=ALICE_ONLY) == {
        "viewer": {"userId": ALICE, "liked": {"totalCount": 3}}
    }
    # Auth off (no identity) or a caller without a subject: no viewer, and no error.
    assert await ok(two_users, query) == {"viewer": None}
    assert await ok(two_users, query, caller=Caller()) == {"viewer": None}


async def test_an_unknown_users_library_reads_as_empty(store: LibraryStore) -> None:
    query = """{ library(userId: "user:nobody") {
      userId lastSync { version } playlist(playlistId: "p") { id }
      liked {
        totalCount trackIds edges { cursor }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
      plays(last: 5) { totalCount nodes { id } }
      playlists { totalCount nodes { id } }
    } }"""
    empty_page = {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }
    assert await ok(store, query) == {
        "library": {
            "userId": "user:nobody",
            "lastSync": None,
            "playlist": None,
            "liked": {"totalCount": 0, "trackIds": [], "edges": [], "pageInfo": empty_page},
            "plays": {"totalCount": 0, "nodes": []},
            "playlists": {"totalCount": 0, "nodes": []},
        }
    }


SYNC_WITH_LIBRARY = """mutation($input: LibraryInput!) {
  sync(input: $input) {
    version likesAdded
    library {
      id userId liked(first: 2) { edges { addedAt node { id trackId } } } lastSync { version }
    }
  }
}"""


async def test_a_sync_payload_carries_the_library_it_changed(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=3)))
    library_id = (await _ids(store, ALICE))["id"]
    data = await ok(store, SYNC_WITH_LIBRARY, input=make_library(likes=5))
    payload = data["sync"]
    assert payload["version"] == 2
    assert payload["likesAdded"] == 2
    assert payload["library"]["id"] == library_id  # the object a client's cache holds
    assert [e["node"]["trackId"] for e in payload["library"]["liked"]["edges"]] == [
        "track:4",
        "track:3",
    ]
    assert payload["library"]["lastSync"] == {"version": 2}


async def test_each_payload_of_one_document_shows_its_own_sync(store: LibraryStore) -> None:
    """Mutations run in order; the second payload must not show the first one's view."""
    query = """mutation($a: LibraryInput!, $b: LibraryInput!) {
      a: sync(input: $a) { library { liked { totalCount } lastSync { version } } }
      b: sync(input: $b) { library { liked { totalCount } lastSync { version } } }
    }"""
    data = await ok(store, query, a=make_library(likes=2), b=make_library(likes=4))
    assert data["a"]["library"] == {"liked": {"totalCount": 2}, "lastSync": {"version": 1}}
    assert data["b"]["library"] == {"liked": {"totalCount": 4}, "lastSync": {"version": 2}}


async def test_a_refused_mutation_is_null_beside_the_other(store: LibraryStore) -> None:
    query = """mutation($a: LibraryInput!, $b: LibraryInput!) {
      a: ingest(input: $a) { version }
      b: ingest(input: $b) { version }
    }"""
    await store.ingest(snapshot(make_library(ALICE)))
    result = await run(store, query, a=make_library(ALICE), b=make_library(BOB))
    assert result.data == {"a": None, "b": {"version": 1}}
    assert result.codes() == [("ALREADY_INGESTED", ["a"], None)]


async def test_one_request_reads_one_view_per_library(
    two_users: LibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field of a library, however it is reached, reads the one snapshot."""
    opened: list[str] = []
    original = two_users.view

    async def counting_view(user_id: str) -> LibraryView:
        opened.append(user_id)
        await asyncio.sleep(0)  # let concurrent resolvers race for the same view
        return await original(user_id)

    monkeypatch.setattr(two_users, "view", counting_view)
    alice = await _ids(two_users, ALICE)
    opened.clear()
    query = """query($id: ID!) {
      liked(userId: "user:alice") { trackIds }
      plays(userId: "user:alice") { trackIds }
      playlists(userId: "user:alice") { entries { trackId } }
      lastSync(userId: "user:alice") { version }
      library(userId: "user:alice") { liked(first: 1) { totalCount } playlists { totalCount } }
      viewer { lastSync { version } }
      node(id: $id) { ... on Library { plays(last: 1) { totalCount } } }
      bob: library(userId: "user:bob") { liked { totalCount } }
    }"""
    await ok(
        two_users,
        query,
        caller=Caller(subject=ALICE, scopes=frozenset({"library:sync"})),
        id=alice["id"],
    )
    assert sorted(opened) == [ALICE, BOB]


async def test_existing_queries_keep_their_answers(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(likes=3, plays=2, entries=2)))
    data = await ok(store, LIBRARY, userId=ALICE)
    assert data["liked"] == {"trackIds": ["track:2", "track:1", "track:0"], "totalCount": 3}
    assert data["plays"] == {"trackIds": ["track:1", "track:0"]}
    (playlist,) = data["playlists"]
    assert [(e["position"], e["trackId"]) for e in playlist["entries"]] == [
        (0, "track:0"),
        (1, "track:1"),
    ]
    assert playlist["entries"][0]["track"] == {"trackId": "track:0", "title": "Title of track:0"}
    assert data["lastSync"] == {"version": 1, "kind": "INGEST"}
    # No `first`: the deprecated root fields still answer with the whole list.
    items = await ok(
        store, '{ liked(userId: "user:alice") { items { trackId cursor } } }', max_page_size=2
    )
    assert [i["trackId"] for i in items["liked"]["items"]] == ["track:2", "track:1", "track:0"]


def test_replaced_fields_are_deprecated_for_the_graph() -> None:
    sdl = schema_sdl()
    for field in ("liked", "plays", "playlists", "playlist", "lastSync"):
        line = next(
            line
            for line in sdl.splitlines()
            if line.lstrip().startswith(f"{field}(") and "userId: ID!" in line
        )
        assert '@deprecated(reason: "use library(userId:)' in line, line
    assert 'items: [LikedTrack!]! @deprecated(reason: "use edges or nodes")' in sdl
    assert (
        "entries(after: String = null, first: Int = null): [PlaylistEntry!]"
        ' @deprecated(reason: "use tracks")' in sdl
    )
    for nullable in (
        "library(userId: ID!): Library\n",
        "viewer: Library\n",
        "node(id: ID!): Node\n",
    ):
        assert nullable in sdl
    assert "nodes(ids: [ID!]!): [Node]!" in sdl
    assert "library: Library!" in sdl


def test_datetime_declares_rfc_3339() -> None:
    assert (
        'scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")'
        in schema_sdl()
    )


async def test_datetimes_are_served_in_utc(store: LibraryStore) -> None:
    library = make_library(likes=1)
    library["likes"][0]["addedAt"] = "2024-05-02T10:00:00+02:00"
    await store.ingest(snapshot(library))
    data = await ok(store, '{ library(userId: "user:alice") { liked { edges { addedAt } } } }')
    assert data["library"]["liked"]["edges"] == [{"addedAt": "2024-05-02T08:00:00+00:00"}]


async def test_a_report_reached_later_reads_a_view_at_least_as_new(store: LibraryStore) -> None:
    """A subscription's context outlives many syncs: one request, one view, unless a
    report names a newer version, whose library must show that sync."""
    await store.ingest(snapshot(make_library(likes=1)))
    context = RequestContext(store=store)
    assert (await context.library_view(ALICE)).version == 1
    await store.sync(snapshot(make_library(likes=2)))
    assert (await context.library_view(ALICE)).version == 1  # still this request's snapshot
    newer = await asyncio.gather(*(context.library_view(ALICE, at_least=2) for _ in range(3)))
    assert {view.version for view in newer} == {2}
    assert len({id(view) for view in newer}) == 1  # refreshed once, not per caller
    assert await context.library_view(ALICE) is newer[0]


async def test_a_refused_entries_page_leaves_the_playlist(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(entries=2)))
    query = '{ playlists(userId: "user:alice") { name entries(first: 501) { trackId } } }'
    result = await run(store, query)
    assert result.data == {"playlists": [{"name": "Playlist 0", "entries": None}]}
    assert result.codes() == [("BAD_USER_INPUT", ["playlists", 0, "entries"], "first")]
