"""Cursor connections through the schema: forward and backward through runs of equal
timestamps, every item exactly once and in order; page-size bounds; the ids-only path."""

from __future__ import annotations

from typing import Any

import pytest

from persistence import LibraryStore, LibraryView
from tests.factories import BASE, make_library, snapshot
from tests.graph import ok, run

ALICE = "user:alice"
PAGE = """fragment Page on PageInfo { hasNextPage hasPreviousPage startCursor endCursor }"""


def tied_library(likes: int = 11, plays: int = 9) -> dict[str, Any]:
    """Most likes share one timestamp (a bulk import); plays too; a playlist repeats a track."""
    library = make_library(ALICE, likes=likes, plays=plays, entries=0)
    for i, like in enumerate(library["likes"]):
        if 2 <= i < likes - 1:
            like["addedAt"] = BASE.isoformat()
    for play in library["plays"]:
        play["lastPlayedAt"] = BASE.isoformat()
    ids = [t["trackId"] for t in library["tracks"]]
    entries = [ids[0], ids[1], ids[0], ids[2], ids[1], ids[3], ids[0]]
    library["playlists"][0]["entries"] = [{"trackId": t} for t in entries]
    return library


@pytest.fixture(params=["mongomock", "wire-motor"])
def backend(request: pytest.FixtureRequest) -> str:
    """Keyset paging is the store's; the wire server's query semantics matter here too."""
    name: str = request.param
    return name


@pytest.fixture
async def tied(store: LibraryStore) -> LibraryStore:
    await store.ingest(snapshot(tied_library()))
    return store


ARGS = "first: $first, after: $after, last: $last, before: $before"
EDGE = "cursor node { trackId }"
CONNECTIONS = {
    "liked": f"liked({ARGS}) {{ totalCount edges {{ {EDGE} }} pageInfo {{ ...Page }} }}",
    "plays": f"plays({ARGS}) {{ totalCount edges {{ {EDGE} }} pageInfo {{ ...Page }} }}",
    "entries": f"""playlist(playlistId: "playlist:user:alice:0") {{
        tracks({ARGS}) {{ totalCount edges {{ position {EDGE} }} pageInfo {{ ...Page }} }}
    }}""",
}


def _query(name: str) -> str:
    return (
        "query($u: ID!, $first: Int, $after: String, $last: Int, $before: String) {"
        f" library(userId: $u) {{ {CONNECTIONS[name]} }} }} {PAGE}"
    )


def _connection(data: dict[str, Any], name: str) -> dict[str, Any]:
    library = data["library"]
    found: dict[str, Any] = library["playlist"]["tracks"] if name == "entries" else library[name]
    return found


def _key(edge: dict[str, Any]) -> Any:
    return (edge.get("position"), edge["node"]["trackId"])


async def _whole(store: LibraryStore, name: str) -> list[Any]:
    data = await ok(store, _query(name), u=ALICE, first=100)
    connection = _connection(data, name)
    assert not connection["pageInfo"]["hasNextPage"]
    return [_key(e) for e in connection["edges"]]


@pytest.mark.parametrize("name", ["liked", "plays", "entries"])
@pytest.mark.parametrize("size", [1, 2, 3])
async def test_forward_walk_reads_each_item_once_in_order(
    tied: LibraryStore, name: str, size: int
) -> None:
    whole = await _whole(tied, name)
    assert len(whole) in (11, 9, 7)
    seen: list[Any] = []
    after = None
    for _ in range(len(whole) + 2):
        data = await ok(tied, _query(name), u=ALICE, first=size, after=after)
        connection = _connection(data, name)
        edges, info = connection["edges"], connection["pageInfo"]
        assert connection["totalCount"] == len(whole)
        assert len(edges) <= size
        if edges:
            assert (info["startCursor"], info["endCursor"]) == (
                edges[0]["cursor"],
                edges[-1]["cursor"],
            )
        assert info["hasPreviousPage"] == (after is not None)
        seen += [_key(e) for e in edges]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == whole


@pytest.mark.parametrize("name", ["liked", "plays", "entries"])
@pytest.mark.parametrize("size", [1, 2, 4])
async def test_backward_walk_reads_each_item_once_in_order(
    tied: LibraryStore, name: str, size: int
) -> None:
    whole = await _whole(tied, name)
    pages: list[list[Any]] = []
    before = None
    for _ in range(len(whole) + 2):
        data = await ok(tied, _query(name), u=ALICE, last=size, before=before)
        connection = _connection(data, name)
        edges, info = connection["edges"], connection["pageInfo"]
        assert len(edges) <= size
        assert info["hasNextPage"] == (before is not None)
        pages.append([_key(e) for e in edges])  # each page in list order, newest first
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert [key for page in reversed(pages) for key in page] == whole


async def test_a_page_between_two_cursors(tied: LibraryStore) -> None:
    whole = await _whole(tied, "liked")
    first = _connection(await ok(tied, _query("liked"), u=ALICE, first=9), "liked")["edges"]
    data = await ok(
        tied, _query("liked"), u=ALICE, first=5, after=first[1]["cursor"], before=first[8]["cursor"]
    )
    assert [_key(e) for e in _connection(data, "liked")["edges"]] == whole[2:7]


async def test_the_same_track_twice_in_a_playlist_is_two_edges(tied: LibraryStore) -> None:
    data = await ok(
        tied,
        """{ library(userId: "user:alice") { playlist(playlistId: "playlist:user:alice:0") {
          tracks(first: 10) { edges { position node { id trackId } } nodes { id } }
        } } }""",
    )
    tracks = data["library"]["playlist"]["tracks"]
    edges = tracks["edges"]
    assert [e["position"] for e in edges] == list(range(7))
    assert [e["node"]["trackId"] for e in edges][:3] == ["track:0", "track:1", "track:0"]
    assert edges[0]["node"]["id"] == edges[2]["node"]["id"]  # one Track, twice
    assert [n["id"] for n in tracks["nodes"]] == [e["node"]["id"] for e in edges]


async def test_playlists_are_a_connection(store: LibraryStore) -> None:
    await store.ingest(snapshot(make_library(ALICE, playlists=5, entries=1)))
    query = """query($after: String) { library(userId: "user:alice") {
      playlists(first: 2, after: $after) {
        totalCount edges { cursor node { playlistId } } pageInfo { hasNextPage endCursor }
      }
    } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await ok(store, query, after=after))["library"]["playlists"]
        assert page["totalCount"] == 5
        seen += [e["node"]["playlistId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"playlist:user:alice:{p}" for p in range(5)]


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ("first: 501", "first", "must be between 0 and 500 (got 501)"),
        ("first: -1", "first", "must be between 0 and 500 (got -1)"),
        ("last: 501", "last", "must be between 0 and 500 (got 501)"),
        ("first: 1, last: 1", "last", "cannot be combined with first"),
    ],
)
@pytest.mark.parametrize("where", ["liked", "plays", "playlists", "tracks"])
async def test_page_arguments_out_of_bounds_are_bad_user_input(
    tied: LibraryStore, arguments: str, field: str, message: str, where: str
) -> None:
    if where == "tracks":
        selection = (
            'playlist(playlistId: "playlist:user:alice:0")'
            f" {{ tracks({arguments}) {{ totalCount }} }}"
        )
        path = ["library", "playlist", "tracks"]
    else:
        selection = f"{where}({arguments}) {{ totalCount }}"
        path = ["library", where]
    result = await run(tied, f'{{ library(userId: "user:alice") {{ userId {selection} }} }}')
    assert result.codes() == [("BAD_USER_INPUT", path, field)]
    assert message in result.errors[0]["message"]
    assert result.data is not None
    assert result.data["library"]["userId"] == ALICE  # the sibling keeps its data


async def test_no_page_size_is_a_default_page_but_trackids_is_whole(tied: LibraryStore) -> None:
    query = """{ library(userId: "user:alice") {
      liked {
        totalCount trackIds edges { node { trackId } } nodes { trackId }
        pageInfo { hasNextPage endCursor }
      }
      playlists { totalCount nodes { playlistId } }
      playlist(playlistId: "playlist:user:alice:0") {
        tracks { totalCount edges { position } pageInfo { hasNextPage } }
      }
    } }"""
    library = (await ok(tied, query, max_page_size=3))["library"]
    liked = library["liked"]
    assert liked["totalCount"] == 11
    assert len(liked["trackIds"]) == 11  # ids: the whole list, newest first
    assert [e["node"]["trackId"] for e in liked["edges"]] == liked["trackIds"][:3]
    assert [n["trackId"] for n in liked["nodes"]] == liked["trackIds"][:3]
    assert liked["pageInfo"]["hasNextPage"] is True
    after = (await ok(tied, _query("liked"), u=ALICE, first=4))["library"]["liked"]
    rest = await ok(
        tied,
        """query($after: String) { library(userId: "user:alice") {
          liked(after: $after) { trackIds edges { node { trackId } } }
        } }""",
        after=after["pageInfo"]["endCursor"],
        max_page_size=3,
    )
    # With a cursor and no size: edges a page after it, trackIds every id after it.
    assert rest["library"]["liked"]["trackIds"] == liked["trackIds"][4:]
    assert [e["node"]["trackId"] for e in rest["library"]["liked"]["edges"]] == liked["trackIds"][
        4:7
    ]
    tracks = library["playlist"]["tracks"]
    assert (tracks["totalCount"], len(tracks["edges"]), tracks["pageInfo"]["hasNextPage"]) == (
        7,
        3,
        True,
    )
    assert library["playlists"] == {
        "totalCount": 1,
        "nodes": [{"playlistId": "playlist:user:alice:0"}],
    }


async def test_trackids_alone_reads_ids_only(
    tied: LibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``liked { trackIds }`` (the seed's read) never loads whole like documents."""
    calls: list[str] = []
    for name in ("liked", "liked_track_ids"):
        original = getattr(LibraryView, name)

        def counting(
            self: LibraryView,
            *args: Any,
            _name: str = name,
            _original: Any = original,
            **kwargs: Any,
        ) -> Any:
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(LibraryView, name, counting)
    data = await ok(
        tied,
        """{ library(userId: "user:alice") { liked { trackIds totalCount } }
             liked(userId: "user:alice") { trackIds } }""",
    )
    assert len(data["library"]["liked"]["trackIds"]) == 11
    assert data["liked"]["trackIds"] == data["library"]["liked"]["trackIds"]
    assert calls == ["liked_track_ids", "liked_track_ids"]


async def test_totalcount_alone_reads_no_list(
    tied: LibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, Any]] = []
    original = LibraryView.liked_track_ids

    async def spying(self: LibraryView, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(LibraryView, "liked_track_ids", spying)
    data = await ok(
        tied,
        """{ library(userId: "user:alice") { liked { totalCount } }
             liked(userId: "user:alice") { totalCount } }""",
    )
    assert data == {"library": {"liked": {"totalCount": 11}}, "liked": {"totalCount": 11}}
    assert [a["first"] for a in asked] == [0, 0]
