"""The cost bound: computed before execution, refused over the budget, batches included.

Each abuse case runs beside a ``{ __typename }`` probe that must be answered within a
second: a refused operation costs the server next to nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType
from starlette.applications import Starlette

from persistence.client import close, connect
from resolvers.schema import build_schema
from server.app import create_app
from server.cost import COST_LIMIT_EXCEEDED, RULES
from server.settings import Settings
from tests.factories import make_library, snapshot

BIG = "user:big"
LIKES = 3000
PROBE_SECONDS = 1.0
BUDGET = 20_000
HEAVY = "liked(userId: $user) { items { addedAt track { title artists album durationMs } } }"
"""Per like: the LikedTrack (1), its item (1) and its track (1): 3 x LIKES = 9,000."""


@pytest.fixture
async def served(wire_uri: str, db_name: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    settings = Settings(mongodb_uri=wire_uri, db=f"cost_{db_name}", max_cost=BUDGET)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.store.ingest(snapshot(make_library(BIG, likes=LIKES, plays=10)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client
    admin = connect(wire_uri, "pymongo")
    await admin.drop_database(settings.db)
    await close(admin)


async def with_probe(
    client: httpx.AsyncClient, send: Callable[[], Any]
) -> tuple[httpx.Response, float]:
    """Send a request and, while it is in flight, a ``{ __typename }`` probe; return the
    request's response and how long the probe waited."""
    task = asyncio.ensure_future(send())
    await asyncio.sleep(0)  # the request is under way
    started = time.perf_counter()
    probe = await client.post("/graphql", json={"query": "{ __typename }"})
    waited = time.perf_counter() - started
    response = await task
    assert probe.json() == {"data": {"__typename": "Query"}}
    return response, waited


def aliased(count: int, field: str = HEAVY) -> str:
    body = " ".join(f"a{i}: {field}" for i in range(count))
    return f"query($user: ID!) {{ {body} }}"


def codes(body: Any) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", ())]


async def test_thirty_aliases_of_a_whole_big_list_are_refused_before_running(
    served: tuple[Starlette, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    reads: list[str] = []
    original = app.state.store.liked
    monkeypatch.setattr(
        app.state.store, "liked", lambda *a, **k: reads.append("x") or original(*a, **k)
    )

    response, waited = await with_probe(
        client,
        lambda: client.post(
            "/graphql",
            json={"query": aliased(30), "variables": {"user": BIG}},
            headers={"accept": "application/graphql-response+json"},
        ),
    )

    assert response.status_code == 400  # nothing ran
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": COST_LIMIT_EXCEEDED, "cost": 270_030, "budget": BUDGET}
    assert "cost is 270030, over the budget of 20000" in error["message"]
    assert reads == []  # refused before any resolver read the list
    assert waited < PROBE_SECONDS


async def test_the_same_list_once_is_within_the_budget(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = served
    response = await client.post("/graphql", json={"query": aliased(1), "variables": {"user": BIG}})

    assert "errors" not in response.json()
    assert len(response.json()["data"]["a0"]["items"]) == LIKES


async def test_first_bounds_the_cost(served: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, client = served
    paged = HEAVY.replace("$user)", "$user, first: 50)")
    response = await client.post(
        "/graphql", json={"query": aliased(30, paged), "variables": {"user": BIG}}
    )

    assert "errors" not in response.json()
    assert all(len(page["items"]) == 50 for page in response.json()["data"].values())


async def test_a_batch_shares_one_budget(served: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, client = served
    one = {"query": aliased(1), "variables": {"user": BIG}}

    response, waited = await with_probe(client, lambda: client.post("/graphql", json=[one] * 10))

    results = response.json()
    assert len(results) == 10
    served_ops = [r for r in results if "errors" not in r]
    refused = [r for r in results if codes(r) == [COST_LIMIT_EXCEEDED]]
    # 9,000 each: two fit in 20,000, the other eight are refused, each saying why.
    assert (len(served_ops), len(refused)) == (2, 8)
    assert all("spent by this batch" in r["errors"][0]["message"] for r in refused)
    assert waited < PROBE_SECONDS


async def test_ids_are_cheap(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = served
    ids = aliased(5, "liked(userId: $user) { trackIds totalCount }")
    response = await client.post("/graphql", json={"query": ids, "variables": {"user": BIG}})

    assert "errors" not in response.json()  # 5 x 3,000 ids at 0.1 each: 1,505


async def test_the_largest_answer_within_the_budget_leaves_the_loop_responsive(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """Two whole lists (18,000 of 20,000) are built and sent while the probe is answered."""
    _, client = served

    response, waited = await with_probe(
        client,
        lambda: client.post("/graphql", json={"query": aliased(2), "variables": {"user": BIG}}),
    )

    assert "errors" not in response.json()
    assert waited < PROBE_SECONDS


CONNECTION = "library(userId: $user) { liked { edges { addedAt node { title } } } }"
"""Without `first`, a page of the largest size (500): 500 x 3 + the page + the library."""


async def test_thirty_aliases_of_a_connection_are_refused(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = served

    response, waited = await with_probe(
        client,
        lambda: client.post(
            "/graphql", json={"query": aliased(30, CONNECTION), "variables": {"user": BIG}}
        ),
    )

    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": COST_LIMIT_EXCEEDED, "cost": 45_060, "budget": BUDGET}
    assert waited < PROBE_SECONDS


async def test_a_connection_page_and_its_whole_list_of_ids(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = served
    query = "library(userId: $user) { liked(first: 20) { nodes { title } } plays { trackIds } }"

    response = await client.post(
        "/graphql", json={"query": aliased(3, query), "variables": {"user": BIG}}
    )

    body = response.json()
    assert "errors" not in body, body
    assert len(body["data"]["a0"]["liked"]["nodes"]) == 20


def test_every_paged_field_has_a_cost_rule() -> None:
    """A field taking `first` or `last` unpriced would be priced as one page: say how."""
    schema = build_schema()._schema
    paged = {
        (kind.name, name)
        for kind in schema.type_map.values()
        if isinstance(kind, GraphQLObjectType) and not kind.name.startswith("__")
        for name, definition in kind.fields.items()
        if {"first", "last"} & set(definition.args)
    }

    assert paged <= set(RULES), paged - set(RULES)
