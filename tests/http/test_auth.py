"""Who may do what, over HTTP: a token matrix against every operation, then the edges."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest

from persistence.client import close, connect
from resolvers import ids
from resolvers.access import Unauthenticated
from server.app import create_app
from server.auth import InvalidToken, JwtAuthenticator
from server.settings import Settings
from tests.factories import make_library, snapshot

SECRET = "a-test-secret-long-enough-for-hs256-and-for-hs512-which-wants-64-bytes"
AUDIENCE = "librarycache"
ISSUER = "https://auth.example"
ALICE, BOB = "user:alice", "user:bob"

Headers = dict[str, str]


def token(
    sub: str | None = ALICE,
    *,
    scope: str | None = None,
    key: str = SECRET,
    algorithm: str = "HS256",
    expires_in: float | None = 300,
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {"aud": AUDIENCE, "iss": ISSUER} | claims
    if sub is not None:
        payload["sub"] = sub
    if scope is not None:
        payload["scope"] = scope
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    return jwt.encode(payload, key, algorithm=algorithm)


def forged(algorithm: str) -> str:
    """A token whose header names ``algorithm``, HMAC-signed with our secret if at all."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    claims = {"sub": ALICE, "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300}
    body = part(json.dumps(claims | {"scope": "library:sync"}).encode())
    signing_input = f"{header}.{body}".encode()
    signature = (
        b"" if algorithm == "none" else hmac.digest(SECRET.encode(), signing_input, "sha256")
    )
    return f"{header}.{body}.{part(signature)}"


def bearer(value: str) -> Headers:
    return {"Authorization": f"Bearer {value}"}


# ------------------------------------------------------------------ the matrix

REFUSED: dict[str, Callable[[], Headers]] = {
    "no token": dict,
    "garbage": lambda: bearer("not-a-jwt"),
    "wrong secret": lambda: bearer(token(key=SECRET[::-1])),
    "expired": lambda: bearer(token(expires_in=-3600)),
    "alg none": lambda: bearer(forged("none")),
    "HS512": lambda: bearer(token(algorithm="HS512")),
    "RS256 header": lambda: bearer(forged("RS256")),
    "wrong aud": lambda: bearer(token(aud="someone-else")),
    "wrong iss": lambda: bearer(token(iss="https://evil.example")),
    "no exp": lambda: bearer(token(expires_in=None)),
    "no sub": lambda: bearer(token(sub=None)),
    "basic scheme": lambda: {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
}
VALID: dict[str, Callable[[], Headers]] = {
    "another user": lambda: bearer(token(BOB)),
    "own user": lambda: bearer(token(ALICE)),
    "sync scope": lambda: bearer(token("svc:sync-job", scope="openid library:sync")),
}

LIBRARY_READS = {
    "liked": 'query { liked(userId: "user:alice") { trackIds totalCount } }',
    "plays": 'query { plays(userId: "user:alice") { trackIds } }',
    "playlists": 'query { playlists(userId: "user:alice") { playlistId entryCount } }',
    "lastSync": 'query { lastSync(userId: "user:alice") { version kind } }',
    "library": 'query { library(userId: "user:alice") { liked(first: 2) { totalCount } } }',
    "node": f'query {{ node(id: "{ids.library_id(ALICE)}") {{ id }} }}',
}
TRACK = 'query { track(trackId: "track:0") { trackId title } }'
INGEST = "mutation($input: LibraryInput!) { ingest(input: $input) { version } }"
SYNC = "mutation($input: LibraryInput!) { sync(input: $input) { version } }"
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (query, {}) for name, query in LIBRARY_READS.items()},
    "track": (TRACK, {}),
    "ingest": (INGEST, {"input": make_library(BOB, prefix="bob")}),
    "sync": (SYNC, {"input": make_library(ALICE, likes=1)}),
}
WRITES = {"ingest", "sync"}


def expected(case: str, operation: str) -> str:
    """``ok``, or the code the request is refused with."""
    if case in REFUSED:
        return "UNAUTHENTICATED"
    if case == "sync scope" or operation == "track":
        return "ok"
    if operation in WRITES or case == "another user":
        return "FORBIDDEN"
    return "ok"


# ------------------------------------------------------------------ fixtures


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.store.ingest(snapshot(make_library(ALICE)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def database(wire_uri: str, db_name: str) -> AsyncIterator[Any]:
    """The test's database through a client of its own, to see what was stored."""
    client = connect(wire_uri, "pymongo")
    yield client[db_name]
    await client.drop_database(db_name)
    await close(client)


@pytest.fixture
def settings(wire_uri: str, db_name: str) -> Settings:
    return Settings(
        mongodb_uri=wire_uri,
        db=db_name,
        jwt_secret=SECRET,
        jwt_audience=AUDIENCE,
        jwt_issuer=ISSUER,
    )


@pytest.fixture
async def client(settings: Settings, database: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings) as client:
        yield client


async def stored(database: Any) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, in a stable order."""
    names = sorted(await database.list_collection_names())
    return {name: await database[name].find().sort("_id", 1).to_list(None) for name in names}


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: Headers | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def codes(body: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", ())}


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("case", [*REFUSED, *VALID])
async def test_token_matrix(
    client: httpx.AsyncClient, database: Any, case: str, operation: str
) -> None:
    query, variables = OPERATIONS[operation]
    headers = {**REFUSED, **VALID}[case]()
    before = await stored(database)

    response = await graphql(client, query, variables, headers)

    outcome = expected(case, operation)
    body = response.json()
    if outcome == "UNAUTHENTICATED":
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert "data" not in body
        assert codes(body) == {"UNAUTHENTICATED"}
    elif outcome == "FORBIDDEN":
        assert response.status_code == 200
        assert codes(body) == {"FORBIDDEN"}
    else:
        assert response.status_code == 200
        assert "errors" not in body, body["errors"]
        assert body["data"][operation] is not None
    if outcome != "ok" or operation not in WRITES:
        assert await stored(database) == before
    else:
        assert await stored(database) != before


@pytest.mark.parametrize("field", ["liked", "lastSync"])
async def test_forbidden_says_nothing_about_whether_the_library_exists(
    client: httpx.AsyncClient, field: str
) -> None:
    query = LIBRARY_READS[field]
    existing = (await graphql(client, query, headers=bearer(token(BOB)))).json()
    missing = (
        await graphql(client, query.replace(ALICE, "user:nobody"), headers=bearer(token(BOB)))
    ).json()

    assert existing == missing
    assert codes(existing) == {"FORBIDDEN"}
    assert "alice" not in json.dumps(existing)


async def test_a_refused_field_is_null_beside_the_viewers_data(client: httpx.AsyncClient) -> None:
    query = """{
      viewer { userId liked(first: 1) { totalCount } }
      theirs: library(userId: "user:bob") { userId }
    }"""
    response = await graphql(client, query, headers=bearer(token(ALICE)))

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {
        "viewer": {"userId": ALICE, "liked": {"totalCount": 3}},
        "theirs": None,
    }
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["path"]) == ("FORBIDDEN", ["theirs"])


async def test_get_requests_are_authenticated_too(client: httpx.AsyncClient) -> None:
    params = {"query": LIBRARY_READS["liked"]}

    refused = await client.get("/graphql", params=params)
    served = await client.get("/graphql", params=params, headers=bearer(token(ALICE)))

    assert refused.status_code == 401
    assert codes(refused.json()) == {"UNAUTHENTICATED"}
    assert served.status_code == 200
    assert served.json()["data"]["liked"]["totalCount"] == 3


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'[{"query": "{ __typename }"}, {"query": "{ __typename }"}]'],
    ids=["bad json", "batch"],
)
async def test_a_request_without_a_token_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/graphql", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401
    assert codes(response.json()) == {"UNAUTHENTICATED"}


async def test_the_challenge_says_whether_a_token_was_sent(client: httpx.AsyncClient) -> None:
    missing = await graphql(client, TRACK)
    invalid = await graphql(client, TRACK, headers=bearer(token(expires_in=-3600)))

    assert missing.headers["www-authenticate"] == 'Bearer realm="librarycache"'
    assert invalid.headers["www-authenticate"] == (
        'Bearer realm="librarycache", error="invalid_token"'
    )
    assert invalid.json()["errors"][0]["message"] == "the token has expired; get a new one"


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await graphql(client, TRACK, headers={"Authorization": f"bearer {token()}"})

    assert response.status_code == 200
    assert response.json()["data"]["track"]["trackId"] == "track:0"


async def test_the_graphiql_page_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_aud_and_iss_are_not_checked_when_not_configured(
    wire_uri: str, db_name: str, database: Any
) -> None:
    settings = Settings(mongodb_uri=wire_uri, db=db_name, jwt_secret=SECRET)
    plain = jwt.encode({"sub": ALICE, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    async with serving(settings) as client:
        any_issuer = await graphql(client, TRACK, headers=bearer(token(iss="https://any")))
        no_claims = await graphql(client, TRACK, headers=bearer(plain))

    assert no_claims.status_code == 200
    # A token naming an audience is meant for that audience only; with none configured,
    # this server cannot be it (RFC 7519, 4.1.3).
    assert any_issuer.status_code == 401


async def test_without_a_secret_auth_is_off_and_the_app_says_so_once(
    wire_uri: str, db_name: str, database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="librarycache")
    settings = Settings(mongodb_uri=wire_uri, db=db_name)
    async with serving(settings) as client:
        first = await graphql(client, LIBRARY_READS["liked"])
        second = await graphql(client, SYNC, {"input": make_library(ALICE, likes=1)})

    assert first.json()["data"]["liked"]["totalCount"] == 3
    assert second.json()["data"]["sync"]["version"] == 2
    warnings = [r for r in caplog.records if r.getMessage().startswith("authentication is off")]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


# ------------------------------------------------------------------ claims, without HTTP

authenticator = JwtAuthenticator(SECRET, audience=AUDIENCE, issuer=ISSUER)


def test_a_valid_token_maps_to_its_subject_and_scopes() -> None:
    caller = authenticator.verify(token(BOB, scope="openid  library:sync profile"))

    assert caller.subject == BOB
    assert caller.scopes == frozenset({"openid", "library:sync", "profile"})
    assert caller.may_sync
    assert not caller.open


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": ""}, "the token's 'sub' claim is empty"),
        ({"sub": 42}, "the token's 'sub' claim must be a string"),
        ({"scope": ["library:sync"]}, "the token's 'scope' claim must be a space-separated string"),
        (
            {"nbf": int(time.time()) + 3600},
            "the token is not valid yet (nbf or iat is in the future)",
        ),
    ],
)
def test_malformed_claims_are_refused(claims: dict[str, Any], message: str) -> None:
    payload = {"sub": ALICE, "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}
    with pytest.raises(InvalidToken) as refused:
        authenticator.verify(jwt.encode(payload | claims, SECRET, algorithm="HS256"))

    assert str(refused.value) == message
    assert isinstance(refused.value, Unauthenticated)


@pytest.mark.parametrize("separator", ["\u00a0", "\t", "\u2003", "\x1f", "\n", "\u3000"], ids=repr)
def test_scopes_split_on_the_single_space_of_rfc_6749_only(separator: str) -> None:
    """Another whitespace between two scopes does not grant the second one: refused."""
    with pytest.raises(InvalidToken) as refused:
        authenticator.verify(token(BOB, scope=f"read{separator}library:sync"))

    assert "separated by single spaces (RFC 6749 section 3.3)" in str(refused.value)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["4102444800", "soon", True, None, [4102444800]], ids=repr)
def test_date_claims_must_be_numbers(claim: str, value: object) -> None:
    payload = {"sub": ALICE, "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}
    with pytest.raises(InvalidToken):
        authenticator.verify(jwt.encode(payload | {claim: value}, SECRET, algorithm="HS256"))


def test_numeric_date_claims_are_accepted_as_json_numbers() -> None:
    now = time.time()
    payload = {"sub": ALICE, "aud": AUDIENCE, "iss": ISSUER, "exp": now + 60.5, "iat": int(now)}

    assert authenticator.verify(jwt.encode(payload, SECRET, algorithm="HS256")).subject == ALICE
