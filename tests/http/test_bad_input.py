"""Bad input over HTTP: refused with a coded error naming the field, and nothing is written.

Every refusal here is a GraphQL error in a JSON body with status 200, as GraphQL over HTTP
specifies for ``application/json`` responses; only failures before GraphQL runs (a body over
the size limit) get an HTTP error status.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from persistence import MAX_ID_LENGTH, LibraryView
from tests.factories import make_library, track
from tests.graphql_client import INGEST, SYNC, post

MAX_BODY_BYTES = 8 * 1024
USER = "user:alice"
NEW_USER = "user:new"
NEW_TRACK = "track:new"

STATE = """
query State($userId: ID!, $newTrack: ID!) {
  liked(userId: $userId) { totalCount items { trackId addedAt } }
  plays(userId: $userId) { totalCount items { trackId lastPlayedAt } }
  playlists(userId: $userId) { playlistId name snapshotId entries { trackId addedAt } }
  lastSync(userId: $userId) { version kind syncedAt totalLikes totalPlays totalPlaylists }
  track(trackId: $newTrack) { trackId title }
}"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_likes": 5, "max_body_bytes": MAX_BODY_BYTES}


async def _state(client: httpx.AsyncClient, user_id: str = USER) -> dict[str, Any]:
    body = await post(client, STATE, {"userId": user_id, "newTrack": NEW_TRACK})
    assert "errors" not in body, body
    state: dict[str, Any] = body["data"]
    return state


@pytest.fixture
async def stored(app_client: httpx.AsyncClient) -> dict[str, Any]:
    """Alice's library as ingested: what every refused request must leave exactly as it is."""
    body = await post(app_client, INGEST, {"input": make_library(USER, likes=4, plays=3)})
    assert "errors" not in body, body
    before = await _state(app_client)
    assert before["liked"]["totalCount"] == 4
    assert before["track"] is None
    return before


def _valid_change() -> dict[str, Any]:
    """A sync that would change every part of the library, were it not spoiled by a case."""
    library = make_library(USER, likes=4, plays=3, playlists=2)
    library["tracks"].append(track(NEW_TRACK))
    library["likes"].append({"trackId": NEW_TRACK, "addedAt": "2024-02-01T00:00:00Z"})
    library["plays"].append({"trackId": NEW_TRACK, "lastPlayedAt": "2024-02-01T00:00:00Z"})
    library["playlists"][0]["name"] = "Renamed"
    return library


Mutate = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutate:
    """``_set("likes.3.trackId", "track:9")``."""
    *parents, last = path.split(".")

    def mutate(payload: dict[str, Any]) -> None:
        node: Any = payload
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _append(path: str, item: Any) -> Mutate:
    def mutate(payload: dict[str, Any]) -> None:
        payload[path].append(item)

    return mutate


def _both(*mutations: Mutate) -> Mutate:
    def mutate(payload: dict[str, Any]) -> None:
        for m in mutations:
            m(payload)

    return mutate


BAD = "BAD_USER_INPUT"
LONG_ID = "t" * (MAX_ID_LENGTH + 1)
CASES = [
    pytest.param(
        _set("userId", ""),
        [(BAD, "userId", "userId: String should have at least 1 character (got '')")],
        id="empty-user-id",
    ),
    pytest.param(
        _set("likes.0.trackId", LONG_ID),
        [
            (
                BAD,
                "likes[0].trackId",
                f"likes[0].trackId: String should have at most {MAX_ID_LENGTH} characters "
                f"(got '{'t' * 76}...)",
            )
        ],
        id="id-one-past-the-limit",
    ),
    pytest.param(
        _set("playlists.1.playlistId", "playlist:\x07bell"),
        [
            (
                BAD,
                "playlists[1].playlistId",
                r"playlists[1].playlistId: must not contain control characters"
                r" (got 'playlist:\x07bell')",
            )
        ],
        id="control-character-in-id",
    ),
    pytest.param(
        _set("likes.3.trackId", "track:9"),
        [(BAD, "likes[3].trackId", 'likes[3].trackId: "track:9" is neither in tracks nor cached')],
        id="like-of-unknown-track",
    ),
    pytest.param(
        _set("playlists.1.entries.2.trackId", "track:404"),
        [
            (
                BAD,
                "playlists[1].entries[2].trackId",
                'playlists[1].entries[2].trackId: "track:404" is neither in tracks nor cached',
            )
        ],
        id="entry-of-unknown-track",
    ),
    pytest.param(
        _set("likes.2.trackId", "track:0"),
        [(BAD, "likes[2].trackId", 'likes[2].trackId: "track:0" duplicates likes[0]')],
        id="duplicate-like",
    ),
    pytest.param(
        _set("plays.1.trackId", "track:0"),
        [(BAD, "plays[1].trackId", 'plays[1].trackId: "track:0" duplicates plays[0]')],
        id="duplicate-play",
    ),
    pytest.param(
        _set("playlists.1.playlistId", f"playlist:{USER}:0"),
        [
            (
                BAD,
                "playlists[1].playlistId",
                f'playlists[1].playlistId: "playlist:{USER}:0" duplicates playlists[0]',
            )
        ],
        id="duplicate-playlist-id",
    ),
    pytest.param(
        _append("tracks", track("track:1", title="Another title")),
        [
            (
                BAD,
                "tracks[5].trackId",
                'tracks[5].trackId: "track:1" appears twice in tracks with different metadata',
            )
        ],
        id="same-track-twice-with-different-metadata",
    ),
    pytest.param(
        _set("likes.1.addedAt", "2024-01-01T00:00:00"),
        [
            (
                BAD,
                "likes[1].addedAt",
                "likes[1].addedAt: Input should have timezone info (got '2024-01-01T00:00:00')",
            )
        ],
        id="timestamp-without-offset",
    ),
    pytest.param(
        # Refused by GraphQL's own variable coercion, before any resolver runs.
        _set("plays.0.lastPlayedAt", "yesterday"),
        [
            (
                BAD,
                "plays[0].lastPlayedAt",
                "Variable '$input' has invalid value at .plays[0].lastPlayedAt: Value cannot"
                " represent a DateTime: \"yesterday\". Expected 4 digits, got 'yest'",
            )
        ],
        id="timestamp-not-a-date",
    ),
    pytest.param(
        _set("tracks.2.durationMs", -1),
        [
            (
                BAD,
                "tracks[2].durationMs",
                "tracks[2].durationMs: Input should be greater than or equal to 0 (got -1)",
            )
        ],
        id="negative-duration",
    ),
    pytest.param(
        _set("tracks.0.energy", 1.5),
        [
            (
                BAD,
                "tracks[0].energy",
                "tracks[0].energy: Input should be less than or equal to 1 (got 1.5)",
            )
        ],
        id="energy-above-1",
    ),
    pytest.param(
        _set("tracks.1.valence", -0.1),
        [
            (
                BAD,
                "tracks[1].valence",
                "tracks[1].valence: Input should be greater than or equal to 0 (got -0.1)",
            )
        ],
        id="valence-below-0",
    ),
    pytest.param(
        _both(_set("tracks.0.energy", 1.5), _set("likes.3.trackId", "")),
        [
            (
                BAD,
                "tracks[0].energy",
                "tracks[0].energy: Input should be less than or equal to 1 (got 1.5)",
            ),
            (
                BAD,
                "likes[3].trackId",
                "likes[3].trackId: String should have at least 1 character (got '')",
            ),
        ],
        id="every-problem-is-reported",
    ),
    pytest.param(
        _append("likes", {"trackId": "track:3", "addedAt": "2024-03-01T00:00:00Z"}),
        [(BAD, "likes", "likes: has 6 items; the limit is 5")],
        id="more-likes-than-the-limit",
    ),
]


NOTHING: dict[str, Any] = {
    "liked": {"totalCount": 0, "items": []},
    "plays": {"totalCount": 0, "items": []},
    "playlists": [],
    "lastSync": None,
    "track": None,
}


@pytest.mark.parametrize("mutation", ["sync", "ingest"], ids=["sync", "ingest-of-a-new-user"])
@pytest.mark.parametrize(("mutate", "errors"), CASES)
async def test_a_bad_payload_is_refused_by_name_and_changes_nothing(
    app_client: httpx.AsyncClient,
    stored: dict[str, Any],
    mutation: str,
    mutate: Mutate,
    errors: list[tuple[str, str | None, str]],
) -> None:
    payload = _valid_change()
    if mutation == "ingest":
        payload["userId"] = NEW_USER
    mutate(payload)

    query = SYNC if mutation == "sync" else INGEST
    response = await app_client.post(
        "/graphql", json={"query": query, "variables": {"input": payload}}
    )

    assert response.status_code == 200
    body = response.json()
    if all("path" in e for e in body["errors"]):  # refused by the resolver: a null field
        assert body["data"] == {mutation: None}
    else:  # refused while coercing variables, before anything ran
        assert body["data"] is None
    got = [
        (e["extensions"]["code"], e["extensions"].get("field"), e["message"])
        for e in body["errors"]
    ]
    assert got == errors
    assert await _state(app_client) == stored  # not even the payload's new track was cached
    assert await _state(app_client, NEW_USER) == NOTHING


async def test_the_payload_the_cases_spoil_is_accepted(
    app_client: httpx.AsyncClient, stored: dict[str, Any]
) -> None:
    """Each case above is refused for its own mutation, not for something in the base."""
    body = await post(app_client, SYNC, {"input": _valid_change()})
    assert "errors" not in body, body
    after = await _state(app_client)
    assert after["track"] == {"trackId": NEW_TRACK, "title": f"Title of {NEW_TRACK}"}
    assert after["liked"]["totalCount"] == 5
    assert after["playlists"][0]["name"] == "Renamed"


async def test_the_same_track_twice_with_the_same_metadata_is_accepted(
    app_client: httpx.AsyncClient, stored: dict[str, Any]
) -> None:
    payload = _valid_change()
    payload["tracks"].append(copy.deepcopy(payload["tracks"][1]))
    body = await post(app_client, SYNC, {"input": payload})
    assert "errors" not in body, body
    assert (await _state(app_client))["track"] == {
        "trackId": NEW_TRACK,
        "title": f"Title of {NEW_TRACK}",
    }


async def test_ingest_of_an_ingested_user_is_refused(
    app_client: httpx.AsyncClient, stored: dict[str, Any]
) -> None:
    body = await post(app_client, INGEST, {"input": _valid_change()})
    assert body["data"] == {"ingest": None}
    assert body["errors"][0]["message"] == (
        f'userId "{USER}" is already ingested; use the sync mutation to refresh it'
    )
    assert body["errors"][0]["extensions"] == {"code": "ALREADY_INGESTED"}
    assert await _state(app_client) == stored


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        pytest.param(
            f'{{ liked(userId: "{USER}", first: 2, after: "bm90LWEtY3Vyc29y") {{ trackIds }} }}',
            "after",
            'after: "bm90LWEtY3Vyc29y" is not a cursor this server issued',
            id="bad-after-cursor",
        ),
        pytest.param(
            f'{{ plays(userId: "{USER}", first: 501) {{ trackIds }} }}',
            "first",
            "first: must be between 0 and 500 (got 501)",
            id="first-over-the-max-page-size",
        ),
        pytest.param(
            f'{{ liked(userId: "{USER}", first: -1) {{ trackIds }} }}',
            "first",
            "first: must be between 0 and 500 (got -1)",
            id="negative-first",
        ),
    ],
)
async def test_a_bad_page_request_is_refused_by_name(
    app_client: httpx.AsyncClient, stored: dict[str, Any], query: str, field: str, message: str
) -> None:
    response = await app_client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": BAD, "field": field}
    assert error["message"] == message
    assert await _state(app_client) == stored


# ----------------------------------------------------------- GraphQL's own errors


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        pytest.param(
            f'{{ liked(userId: "{USER}" {{ trackIds }} }}',
            "GRAPHQL_PARSE_FAILED",
            "Syntax Error: Expected Name, found '{'.",
            id="parse-error",
        ),
        pytest.param(
            f'{{ liked(userId: "{USER}") {{ trackIdz }} }}',
            "GRAPHQL_VALIDATION_FAILED",
            "Cannot query field 'trackIdz' on type 'LikedTracks'. Did you mean 'trackIds'?",
            id="unknown-field",
        ),
        pytest.param(
            "mutation { sync { userId } }",
            "GRAPHQL_VALIDATION_FAILED",
            "Argument 'Mutation.sync(input:)' of type 'LibraryInput!' is required,"
            " but it was not provided.",
            id="missing-argument",
        ),
    ],
)
async def test_graphql_errors_are_coded(
    app_client: httpx.AsyncClient, stored: dict[str, Any], query: str, code: str, message: str
) -> None:
    response = await app_client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": code}
    assert error["message"] == message
    assert await _state(app_client) == stored


# ------------------------------------------------------------------ body size


def _oversized_body() -> bytes:
    payload = _valid_change()
    payload["tracks"][0]["album"] = "x" * MAX_BODY_BYTES
    return httpx.Request("POST", "/", json={"query": SYNC, "variables": {"input": payload}}).read()


async def test_a_body_over_the_limit_is_refused_with_413(
    app_client: httpx.AsyncClient, stored: dict[str, Any]
) -> None:
    body = _oversized_body()
    response = await app_client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.request.headers["content-length"] == str(len(body))
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": f"request body is larger than the limit of {MAX_BODY_BYTES} bytes",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }
    assert await _state(app_client) == stored


async def test_a_chunked_body_over_the_limit_is_refused_with_413(
    app_client: httpx.AsyncClient, stored: dict[str, Any]
) -> None:
    body = _oversized_body()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    response = await app_client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    assert await _state(app_client) == stored


# -------------------------------------------------------------- internal errors


async def test_an_internal_error_is_masked_logged_under_its_request_id_and_survived(
    app: Starlette,
    app_client: httpx.AsyncClient,
    stored: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret driver detail")

    monkeypatch.setattr(LibraryView, "last_sync", broken)
    query = f'{{ lastSync(userId: "{USER}") {{ version kind }} }}'

    with caplog.at_level(logging.ERROR):
        response = await app_client.post("/graphql", json={"query": query})

    assert response.status_code == 200
    (error,) = response.json()["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["message"] == f"Internal server error (request id {request_id})"
    assert "secret" not in response.text
    logged = [r for r in caplog.records if getattr(r, "requestId", None) == request_id]
    assert logged, caplog.records
    assert any(
        r.exc_info is not None and "secret driver detail" in str(r.exc_info[1]) for r in logged
    )

    monkeypatch.undo()
    again = await post(app_client, query)
    assert again == {"data": {"lastSync": {"version": 1, "kind": "INGEST"}}}


# ----------------------------------------------------------- literals and variables alike


def _literal(value: Any) -> str:
    """A Python value as a GraphQL input literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_literal, value)) + "]"
    return json.dumps(value)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("likes.0.addedAt", "yesterday", "likes[0].addedAt"),
        ("plays.1.lastPlayedAt", 12, "plays[1].lastPlayedAt"),
        ("tracks.0.durationMs", "long", "tracks[0].durationMs"),
    ],
)
@pytest.mark.parametrize("form", ["variable", "inline literal"])
async def test_a_bad_literal_is_refused_like_the_same_bad_variable(
    app_client: httpx.AsyncClient,
    stored: dict[str, Any],
    path: str,
    value: Any,
    field: str,
    form: str,
) -> None:
    payload = _valid_change()
    _set(path, value)(payload)
    if form == "variable":
        body = {"query": SYNC, "variables": {"input": payload}}
    else:
        body = {"query": f"mutation {{ sync(input: {_literal(payload)}) {{ version }} }}"}

    response = await app_client.post(
        "/graphql", json=body, headers={"accept": "application/graphql-response+json"}
    )

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": BAD, "field": field}
    assert await _state(app_client) == stored
