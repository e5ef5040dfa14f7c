"""Abuse limits over HTTP: each refusal is quick, coded, and leaves the server serving others.

Then the production switch (introspection, GraphiQL, suggestions), CORS, and the caches
that must keep working with the limits on (strawberry issue 4635).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from graphql import validate
from pymongo.asynchronous.collection import AsyncCollection
from starlette.applications import Starlette

from persistence import LibraryView
from persistence.client import close, connect
from server.app import create_app
from server.settings import Settings
from tests.factories import make_library, snapshot

ALICE = "user:alice"
TRACK = 'query { track(trackId: "track:0") { title } }'
LIKED = 'query { liked(userId: "user:alice") { totalCount } }'
SYNC = "mutation($input: LibraryInput!) { sync(input: $input) { version likesRemoved } }"
QUICK = 2.0
"""Seconds within which a refusal, and the request served alongside it, must be done."""

MakeSettings = Callable[..., Settings]


@pytest.fixture
async def make_settings(wire_uri: str, db_name: str) -> AsyncIterator[MakeSettings]:
    """Settings for an app of its own: each call gets a database of its own."""
    names: list[str] = []

    def make(**overrides: Any) -> Settings:
        names.append(f"{db_name}_{len(names)}")
        return Settings(mongodb_uri=wire_uri, db=names[-1], **overrides)

    yield make
    client = connect(wire_uri, "pymongo")
    for name in names:
        await client.drop_database(name)
    await close(client)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.store.ingest(snapshot(make_library(ALICE)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@pytest.fixture
async def client(make_settings: MakeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_settings()) as (_, client):
        yield client


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables or {}})


def codes(body: Any) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", ())}


def messages(body: Any) -> str:
    return " ".join(error["message"] for error in body.get("errors", ()))


async def refused_alongside_a_served_request(
    client: httpx.AsyncClient, refused: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """Send a request that must be refused while an ordinary one is in flight."""
    started = time.perf_counter()
    bad, good = await asyncio.gather(refused(), graphql(client, TRACK))

    assert time.perf_counter() - started < QUICK
    assert good.status_code == 200
    assert good.json() == {"data": {"track": {"title": "Title of track:0"}}}
    return bad


# ------------------------------------------------------------------ shape and size


async def test_an_alias_bomb_is_refused(client: httpx.AsyncClient) -> None:
    bomb = "{" + " ".join(f"a{i}: __typename" for i in range(500)) + "}"

    for _ in range(2):  # the second time from the validation cache: still refused
        response = await refused_alongside_a_served_request(client, lambda: graphql(client, bomb))

        assert codes(response.json()) == {"GRAPHQL_VALIDATION_FAILED"}
        assert messages(response.json()) == "500 aliases found. Allowed: 30"


async def test_a_deep_query_is_refused(make_settings: MakeSettings) -> None:
    # Our types nest four levels at most; a small limit shows that the limit applies.
    deep = 'query Deep { liked(userId: "user:alice") { items { track { title } } } }'
    async with serving(make_settings(max_depth=2)) as (_, client):
        response = await refused_alongside_a_served_request(client, lambda: graphql(client, deep))

    assert codes(response.json()) == {"GRAPHQL_VALIDATION_FAILED"}
    assert messages(response.json()) == "'Deep' exceeds maximum operation depth of 2"


async def test_deeply_nested_introspection_is_refused(client: httpx.AsyncClient) -> None:
    # The depth limiter skips introspection fields; GraphQL's own introspection depth rule
    # is what bounds the classic types { fields { type { fields ... } } } bomb.
    nested = "name"
    for _ in range(6):
        nested = f"fields {{ type {{ {nested} }} }}"
    bomb = f"{{ __schema {{ types {{ {nested} }} }} }}"

    response = await refused_alongside_a_served_request(client, lambda: graphql(client, bomb))

    assert codes(response.json()) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Maximum introspection depth exceeded" in messages(response.json())


async def test_a_huge_token_count_is_refused_at_parse(client: httpx.AsyncClient) -> None:
    huge = "{" + " __typename" * 5000 + "}"

    response = await refused_alongside_a_served_request(client, lambda: graphql(client, huge))

    # Parsing stops at the limit, before a document is even built.
    assert codes(response.json()) == {"GRAPHQL_PARSE_FAILED"}
    assert "more than 2000 tokens" in messages(response.json())


@pytest.mark.parametrize(
    "document",
    [
        "#" + "x" * (30 * 1024 * 1024) + "\n{ __typename }",
        '{ track(trackId: "' + "x" * (30 * 1024 * 1024) + '") { title } }',
    ],
    ids=["30 MiB comment", "30 MiB string literal"],
)
async def test_a_huge_document_is_refused_by_its_length_before_parsing(
    client: httpx.AsyncClient, document: str
) -> None:
    """Comments and string literals are no tokens or one: the length bounds them."""

    async def send() -> httpx.Response:
        return await client.post(
            "/graphql",
            json={"query": document},
            headers={"Accept": "application/graphql-response+json"},
        )

    response = await refused_alongside_a_served_request(client, send)

    assert response.status_code == 400
    assert codes(response.json()) == {"GRAPHQL_PARSE_FAILED"}
    assert "characters long; the limit is 100000" in messages(response.json())


async def test_a_huge_body_is_refused(make_settings: MakeSettings) -> None:
    padding = "#" + "x" * 4096 + "\n"
    async with serving(make_settings(max_body_bytes=1024)) as (_, client):
        response = await refused_alongside_a_served_request(
            client, lambda: graphql(client, padding + TRACK)
        )

    assert response.status_code == 413
    assert codes(response.json()) == {"PAYLOAD_TOO_LARGE"}


async def test_a_page_larger_than_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    query = 'query { liked(userId: "user:alice", first: 501) { totalCount } }'

    response = await refused_alongside_a_served_request(client, lambda: graphql(client, query))

    assert codes(response.json()) == {"BAD_USER_INPUT"}


async def test_an_oversized_batch_is_refused(client: httpx.AsyncClient) -> None:
    def batch(size: int) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: client.post("/graphql", json=[{"query": TRACK}] * size)

    refused = await refused_alongside_a_served_request(client, batch(11))
    allowed = await batch(10)()

    assert refused.status_code == 400
    assert codes(refused.json()) == {"BAD_REQUEST"}
    assert messages(refused.json()) == "Too many operations"
    assert allowed.status_code == 200
    assert len(allowed.json()) == 10


@pytest.mark.parametrize(
    "batch",
    [[], [1], [{"query": 1}], [{"query": TRACK, "variables": 5}], [{"query": TRACK}, "x"]],
    ids=["empty", "not-objects", "query-not-string", "variables-not-object", "one-bad"],
)
async def test_a_malformed_batch_is_refused_as_a_whole(
    client: httpx.AsyncClient, batch: list[Any]
) -> None:
    response = await client.post("/graphql", json=batch)

    assert response.status_code == 400
    assert codes(response.json()) == {"BAD_REQUEST"}


async def test_batching_is_off_with_max_batch_zero(make_settings: MakeSettings) -> None:
    async with serving(make_settings(max_batch=0)) as (_, client):
        response = await refused_alongside_a_served_request(
            client, lambda: client.post("/graphql", json=[{"query": TRACK}])
        )

    assert response.status_code == 400
    assert messages(response.json()) == "Batching is not enabled"


# ------------------------------------------------------------------ time


async def test_a_slow_query_is_cancelled_with_timeout(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancelled = asyncio.Event()

    async def stuck(view: LibraryView) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(make_settings(request_timeout_seconds=0.3)) as (_app, client):
        monkeypatch.setattr(LibraryView, "last_sync", stuck)
        slow = 'query { lastSync(userId: "user:alice") { version } }'
        response = await refused_alongside_a_served_request(client, lambda: graphql(client, slow))
        after = await graphql(client, LIKED)

    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert codes(body) == {"TIMEOUT"}
    assert "time limit of 0.3s" in messages(body)
    assert "a smaller `first`" in messages(body)
    assert cancelled.is_set()
    assert after.json() == {"data": {"liked": {"totalCount": 3}}}


async def test_a_timeout_is_not_a_request_error_under_graphql_response_json(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stuck(view: LibraryView) -> None:
        await asyncio.sleep(10)

    async with serving(make_settings(request_timeout_seconds=0.2)) as (_app, client):
        monkeypatch.setattr(LibraryView, "last_sync", stuck)
        response = await client.post(
            "/graphql",
            json={"query": 'query { lastSync(userId: "user:alice") { version } }'},
            headers={"accept": "application/graphql-response+json"},
        )

    # 400 would tell the client its request was malformed; it was executed and timed out.
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert codes(response.json()) == {"TIMEOUT"}


async def test_mutations_get_the_sync_timeout(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(request_timeout_seconds=0.2, sync_timeout_seconds=5)
    async with serving(settings) as (app, client):
        store = app.state.store
        original = store.sync

        async def slow_sync(snapshot: Any) -> Any:
            await asyncio.sleep(0.4)
            return await original(snapshot)

        monkeypatch.setattr(store, "sync", slow_sync)
        response = await graphql(client, SYNC, {"input": make_library(ALICE, likes=1)})

    assert response.json() == {"data": {"sync": {"version": 2, "likesRemoved": 2}}}


async def test_a_sync_cancelled_mid_write_leaves_the_last_snapshot_and_frees_the_lease(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stalled = asyncio.Event()
    original = AsyncCollection.update_many

    async def stall_once(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        if not stalled.is_set():
            stalled.set()
            await asyncio.sleep(10)
        return await original(self, *args, **kwargs)

    settings = make_settings(driver="pymongo", sync_timeout_seconds=0.5)
    smaller = {"input": make_library(ALICE, likes=1)}
    async with serving(settings) as (_, client):
        monkeypatch.setattr(AsyncCollection, "update_many", stall_once)
        timed_out = await graphql(client, SYNC, smaller)
        during = await graphql(client, LIKED)
        retried = await graphql(client, SYNC, smaller)

    assert stalled.is_set()
    assert codes(timed_out.json()) == {"TIMEOUT"}
    assert "lastSync" in messages(timed_out.json())
    assert "first" not in messages(timed_out.json())  # a sync has no page to make smaller
    assert during.json() == {"data": {"liked": {"totalCount": 3}}}
    # Not CONFLICT: the cancelled sync released its lease on the way out.
    assert retried.json()["data"]["sync"]["likesRemoved"] == 2


# ------------------------------------------------------------------ production


@pytest.fixture
async def production(make_settings: MakeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_settings(env="production")) as (_, client):
        yield client


async def test_production_refuses_introspection(production: httpx.AsyncClient) -> None:
    schema = await graphql(production, "{ __schema { queryType { name } } }")
    one_type = await graphql(production, '{ __type(name: "Track") { name } }')
    typename = await graphql(production, "{ __typename }")

    assert codes(schema.json()) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in messages(schema.json())
    assert codes(one_type.json()) == {"GRAPHQL_VALIDATION_FAILED"}
    assert typename.json() == {"data": {"__typename": "Query"}}


async def test_introspection_can_be_enabled_in_production(make_settings: MakeSettings) -> None:
    async with serving(make_settings(env="production", introspection=True)) as (_, client):
        response = await graphql(client, "{ __schema { queryType { name } } }")

    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_production_serves_no_graphiql(production: httpx.AsyncClient) -> None:
    page = await production.get("/graphql", headers={"Accept": "text/html"})
    assets = await production.get("/graphiql-assets/graphiql.js")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("application/json")
    assert codes(page.json()) == {"NOT_FOUND"}
    assert assets.status_code == 404


async def test_production_with_auth_gives_a_browser_the_json_404(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(env="production", jwt_secret="s" * 40)
    async with serving(settings) as (_, client):
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        operation = await client.get("/graphql", params={"query": "{ __typename }"})

    assert page.status_code == 404
    assert codes(page.json()) == {"NOT_FOUND"}
    assert operation.status_code == 401  # anything that would run still needs a token


MISSPELLED = {
    "field": '{ trak(trackId: "track:0") { title } }',
    "argument": '{ track(trakId: "track:0") { title } }',
    "type": "query($id: IDD!) { track(trackId: $id) { title } }",
    "input field": (
        'mutation { sync(input: {userid: "u", tracks: [], likes: [], plays: [], playlists: []})'
        " { version } }"
    ),
}


@pytest.mark.parametrize("mistake", MISSPELLED)
async def test_production_suggests_no_names(
    production: httpx.AsyncClient, client: httpx.AsyncClient, mistake: str
) -> None:
    development = await graphql(client, MISSPELLED[mistake])
    response = await graphql(production, MISSPELLED[mistake])

    assert "Did you mean" in messages(development.json())
    # A bad input value is the caller's input, inline as in a variable.
    bad_input = mistake == "input field"
    assert codes(response.json()) == {
        "BAD_USER_INPUT" if bad_input else "GRAPHQL_VALIDATION_FAILED"
    }
    assert "Did you mean" not in messages(response.json())


async def test_production_suggests_no_names_for_variables(production: httpx.AsyncClient) -> None:
    query = "mutation($input: LibraryInput!) { sync(input: $input) { version } }"
    library = make_library(ALICE) | {"userid": ALICE}

    response = await graphql(production, query, {"input": library})

    assert codes(response.json()) == {"BAD_USER_INPUT"}
    assert "unknown field 'userid'" in messages(response.json())
    assert "Did you mean" not in messages(response.json())


# ------------------------------------------------------------------ CORS

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_cors_allows_no_origin_by_default(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = await client.options("/graphql", headers=origin | PREFLIGHT)
    simple = await client.post("/graphql", json={"query": TRACK}, headers=origin)

    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_the_configured_origins_only(make_settings: MakeSettings) -> None:
    settings = make_settings(cors_origins=["https://app.example"])
    async with serving(settings) as (_, client):
        allowed = await client.options(
            "/graphql", headers={"Origin": "https://app.example"} | PREFLIGHT
        )
        other = await client.options(
            "/graphql", headers={"Origin": "https://evil.example"} | PREFLIGHT
        )
        simple = await client.post(
            "/graphql", json={"query": TRACK}, headers={"Origin": "https://app.example"}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"


APP = "https://app.example"


@pytest.mark.parametrize(
    "header", ["apollo-require-preflight", "traceparent", "x-apollo-operation-name"]
)
async def test_cors_preflight_allows_common_client_headers_by_default(
    make_settings: MakeSettings, header: str
) -> None:
    async with serving(make_settings(cors_origins=[APP])) as (_, client):
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": f"content-type, {header}",
            },
        )

    assert preflight.status_code == 200
    assert header in preflight.headers["access-control-allow-headers"].lower()


async def test_cors_allowed_headers_are_a_setting(make_settings: MakeSettings) -> None:
    settings = make_settings(cors_origins=[APP], cors_allow_headers=["content-type", "x-tenant"])
    async with serving(settings) as (_, client):

        async def preflight(header: str) -> httpx.Response:
            return await client.options(
                "/graphql",
                headers={
                    "Origin": APP,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": header,
                },
            )

        tenant, trace = await preflight("x-tenant"), await preflight("traceparent")

    assert tenant.status_code == 200
    assert trace.status_code == 400


async def test_cors_exposes_the_request_id(make_settings: MakeSettings) -> None:
    async with serving(make_settings(cors_origins=[APP])) as (_, client):
        response = await client.post("/graphql", json={"query": TRACK}, headers={"Origin": APP})

    assert response.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    assert response.headers["x-request-id"]


async def test_cors_headers_are_on_a_413(make_settings: MakeSettings) -> None:
    settings = make_settings(cors_origins=[APP], max_body_bytes=4096)
    async with serving(settings) as (_, client):
        response = await client.post(
            "/graphql", json={"query": "#" * 10_000 + "\n{ __typename }"}, headers={"Origin": APP}
        )

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["access-control-allow-origin"] == APP


async def test_cors_headers_are_on_a_500(make_settings: MakeSettings) -> None:
    async with serving(make_settings(cors_origins=[APP])) as (app, client):
        del app.state.store  # a bug: the GraphQL context cannot be built
        response = await client.post("/graphql", json={"query": TRACK}, headers={"Origin": APP})

    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert response.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


# ------------------------------------------------------------------ caches


async def test_validation_is_cached_with_the_limits_on(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        validated.append(args[1])
        return validate(*args, **kwargs)

    # What Strawberry's validation (and so ValidationCache, on a miss) calls.
    monkeypatch.setattr("strawberry.schema.schema.validate", counting)
    query = 'query CachedOnce { track(trackId: "track:0") { title } }'
    bomb = "query CachedBomb {" + " ".join(f"a{i}: __typename" for i in range(40)) + "}"
    for _ in range(3):
        assert (await graphql(client, query)).status_code == 200
        assert codes((await graphql(client, bomb)).json()) == {"GRAPHQL_VALIDATION_FAILED"}

    # Once per document: rule classes made per request would make every lookup miss.
    assert len(validated) == 2
