"""GraphQL over HTTP through the app: media types, status codes, JSON error bodies."""

from __future__ import annotations

import httpx
import pytest

from server.negotiation import GRAPHQL_RESPONSE, response_media_type


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
    ],
)
def test_media_type_follows_accept(accept: str, expected: str) -> None:
    assert response_media_type(accept) == expected


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ liked(userId: ", None, "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            'query($n: Int) { liked(userId: "u", first: $n) { trackIds } }',
            {"n": "x"},
            "BAD_USER_INPUT",
        ),
    ],
    ids=["parse", "validation", "variable-coercion"],
)
async def test_request_errors(
    app_client: httpx.AsyncClient, query: str, variables: dict[str, object] | None, code: str
) -> None:
    body = {"query": query, "variables": variables}
    new = await app_client.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})
    assert new.status_code == 400
    assert new.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert "data" not in new.json()
    assert [e["extensions"]["code"] for e in new.json()["errors"]] == [code]

    legacy = await app_client.post("/graphql", json=body, headers={"accept": "application/json"})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith("application/json")
    assert legacy.json()["data"] is None
    assert [e["extensions"]["code"] for e in legacy.json()["errors"]] == [code]


async def test_resolver_errors_keep_200_and_data(app_client: httpx.AsyncClient) -> None:
    query = '{ liked(userId: "u", after: "garbage!") { trackIds } track(trackId: "t") { title } }'
    response = await app_client.post(
        "/graphql", json={"query": query}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 200
    # The refused field is null with its error; its sibling keeps its (null) answer.
    assert response.json()["data"] == {"liked": None, "track": None}
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_mutation_over_get_is_405(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get(
        "/graphql",
        params={
            "query": 'mutation { sync(input: {userId: "u", tracks: [], likes: [], plays: [], '
            "playlists: []}) { version } }"
        },
        headers={"accept": "application/json"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_queries_over_get(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get(
        "/graphql",
        params={"query": '{ liked(userId: "nobody") { trackIds } }'},
        headers={"accept": "application/json"},
    )
    assert response.json() == {"data": {"liked": {"trackIds": []}}}


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"query=x", "text/plain", 415),
        (b"[1, 2]", "application/json", 400),
    ],
    ids=["bad-json", "content-type", "batch-of-junk"],
)
async def test_malformed_requests_get_json_errors(
    app_client: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    response = await app_client.post(
        "/graphql", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == status
    error = response.json()["errors"][0]
    assert error["message"]
    assert error["extensions"]["code"] in {"BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE"}


async def test_the_root_redirects_to_graphql(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/", headers={"accept": "text/html"})

    assert response.status_code == 307
    assert response.headers["location"] == "/graphql"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_get_a_json_405(app_client: httpx.AsyncClient, method: str) -> None:
    response = await app_client.request(method, "/graphql", json={"query": "{ __typename }"})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}


async def test_an_unknown_path_gets_a_json_404(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/graphq")

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "the GraphQL endpoint is /graphql" in response.json()["errors"][0]["message"]
