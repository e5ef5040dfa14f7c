"""Subscriptions over WebSocket: graphql-transport-ws through a real uvicorn, and who may
open what (the refusals a client reads: a JSON denial with a code, or a 4401/4403 close)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from persistence.feed import LibraryFeed
from server.app import create_app
from server.settings import Settings
from tests.factories import make_library
from tests.graphql_client import INGEST, SYNC
from tests.http.test_auth import AUDIENCE, ISSUER, SECRET, token
from tests.serve_process import free_port

PROTOCOL = Subprotocol("graphql-transport-ws")
SYNCED = """
subscription Synced($userId: ID) {
  librarySynced(userId: $userId) { userId kind version totalLikes }
}"""
WAIT = 10.0
ALICE, BOB = "user:alice", "user:bob"
AUTH = {"jwt_secret": SECRET, "jwt_audience": AUDIENCE, "jwt_issuer": ISSUER}
ADMIN = token("service:sync", scope="library:sync")


class Live:
    """One app served by uvicorn on a loopback port, in the test's own event loop."""

    def __init__(self, port: int, app: Starlette) -> None:
        self.app = app
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/graphql"

    async def mutate(self, query: str, library: dict[str, Any], bearer: str = ADMIN) -> None:
        async with httpx.AsyncClient(base_url=self.http) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": {"input": library}},
                headers={"Authorization": f"Bearer {bearer}"},
            )
        assert "errors" not in response.json(), response.json()


Serve = Callable[..., AbstractAsyncContextManager[Live]]


@pytest.fixture
def serve(wire_uri: str, db_name: str) -> Serve:
    @asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[Live]:
        settings = Settings(
            mongodb_uri=wire_uri, db=f"ws_{db_name}", feed_poll_seconds=0.05, **overrides
        )
        port = free_port()
        app = create_app(settings)
        config = uvicorn.Config(app, port=port, log_config=None, ws="websockets-sansio")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(WAIT):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
                await asyncio.sleep(0.01)
        try:
            yield Live(port, app)
        finally:
            server.should_exit = True
            await task

    return serve


async def _open(
    live: Live,
    *,
    headers: dict[str, str] | None = None,
    init: dict[str, Any] | None = None,
    subprotocols: list[Subprotocol] | None = [PROTOCOL],  # noqa: B006 - never mutated
    origin: str | None = None,
) -> ClientConnection:
    websocket = await connect(
        live.ws,
        subprotocols=subprotocols,
        additional_headers=headers,
        origin=Origin(origin) if origin else None,
    )
    await websocket.send(json.dumps({"type": "connection_init", "payload": init or {}}))
    return websocket


async def _receive(websocket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        frame = await websocket.recv()
    assert isinstance(frame, str), "graphql-transport-ws messages are text frames"
    message: dict[str, Any] = json.loads(frame)
    return message


async def _subscribe(
    live: Live, websocket: ClientConnection, user_id: str | None, query: str = SYNCED
) -> None:
    assert await _receive(websocket) == {"type": "connection_ack"}
    variables = {} if user_id is None else {"userId": user_id}
    payload = {"query": query, "variables": variables}
    await websocket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def _subscribed(
    live: Live, websocket: ClientConnection, user_id: str | None, query: str = SYNCED
) -> None:
    """Subscribe, and wait until the server follows the library."""
    await _subscribe(live, websocket, user_id, query)
    feed: LibraryFeed = live.app.state.feed
    followed = user_id or ALICE
    async with asyncio.timeout(WAIT):
        while not feed.followers(followed):  # noqa: ASYNC110 - the feed has no event for it
            await asyncio.sleep(0.01)


async def _closed(websocket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await _receive(websocket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _denied(live: Live, **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    with pytest.raises(InvalidStatus) as denied:
        await _open(live, **kwargs)
    response = denied.value.response
    assert response.headers["content-type"] == "application/json"
    return response.status_code, json.loads(response.body or b""), response.headers


async def test_each_commit_of_the_followed_library_arrives(serve: Serve) -> None:
    async with serve() as live:
        websocket = await _open(live)
        await _subscribed(live, websocket, ALICE)

        await live.mutate(INGEST, make_library(ALICE, likes=2))
        await live.mutate(INGEST, make_library(BOB, likes=1))
        await live.mutate(SYNC, make_library(ALICE, likes=3))

        first, second = await _receive(websocket), await _receive(websocket)
        assert [first["payload"], second["payload"]] == [
            {"data": {"librarySynced": {"userId": ALICE, "kind": k, "version": v, "totalLikes": n}}}
            for k, v, n in (("INGEST", 1, 2), ("SYNC", 2, 3))
        ]
        assert first["type"] == "next"
        await websocket.close()


async def test_the_server_stopping_completes_the_subscription(serve: Serve) -> None:
    async with serve() as live:
        websocket = await _open(live)
        await _subscribed(live, websocket, ALICE)
    # uvicorn closes the socket with 1012 (service restart): clients know to reconnect.
    code, _ = await _closed(websocket)
    assert code == 1012


async def test_a_missing_user_id_without_a_token_is_a_coded_error(serve: Serve) -> None:
    async with serve() as live:
        websocket = await _open(live)
        await _subscribe(live, websocket, None)
        message = await _receive(websocket)
        # graphql-transport-ws's "error": the operation ended before it started.
        assert message["type"] == "error"
        (error,) = message["payload"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}
        assert error["path"] == ["librarySynced"]


@pytest.mark.parametrize(
    ("how", "bearer", "user_id", "allowed"),
    [
        ("header", token(ALICE), ALICE, True),
        ("header", token(ALICE), None, True),  # no userId: the token's own library
        ("init", token(ALICE), None, True),
        ("init", token(ALICE), BOB, False),
        ("header", token(ALICE), BOB, False),
        ("init", token("service:sync", scope="library:sync"), ALICE, True),
    ],
)
async def test_read_rules_hold_for_subscriptions(
    serve: Serve, how: str, bearer: str, user_id: str | None, allowed: bool
) -> None:
    async with serve(**AUTH) as live:
        authorization = {"authorization": f"Bearer {bearer}"}
        if how == "header":
            websocket = await _open(live, headers=authorization)
        else:
            websocket = await _open(live, init=authorization)
        await (_subscribed if allowed else _subscribe)(live, websocket, user_id)
        await live.mutate(INGEST, make_library(ALICE, likes=1))

        message = await _receive(websocket)

        if allowed:
            assert message["payload"]["data"]["librarySynced"]["userId"] == ALICE
        else:
            assert message["type"] == "error"
            (error,) = message["payload"]
            assert error["extensions"]["code"] == "FORBIDDEN"
            assert error["path"] == ["librarySynced"]


@pytest.mark.parametrize(
    ("init", "reason"),
    [
        ({}, "send 'Authorization: Bearer <JWT>' with the upgrade"),
        ({"authorization": "Basic abc"}, "must read 'Bearer <JWT>'"),
        ({"authorization": "Bearer not.a.jwt"}, "the bearer token is not a well-formed JWT"),
        ({"authorization": f"Bearer {token(expires_in=-300)}"}, "the token has expired"),
    ],
)
async def test_a_connection_init_without_a_good_token_is_closed_with_4401(
    serve: Serve, init: dict[str, Any], reason: str
) -> None:
    async with serve(**AUTH) as live:
        websocket = await _open(live, init=init)
        code, why = await _closed(websocket)
        assert code == 4401
        assert reason in why


async def test_a_bad_token_in_the_upgrade_is_denied_with_a_json_401(serve: Serve) -> None:
    async with serve(**AUTH) as live:
        status, body, headers = await _denied(
            live, headers={"Authorization": f"Bearer {token(key='another-secret' * 4)}"}
        )
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "signature does not verify" in body["errors"][0]["message"]
    assert headers["www-authenticate"].startswith('Bearer realm="librarycache"')


@pytest.mark.parametrize("subprotocols", [None, [Subprotocol("graphql-ws")]])
async def test_another_subprotocol_is_denied_with_a_json_400(
    serve: Serve, subprotocols: list[Subprotocol] | None
) -> None:
    async with serve() as live:
        status, body, _ = await _denied(live, subprotocols=subprotocols)
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "UNSUPPORTED_WEBSOCKET_PROTOCOL"
    assert "graphql-transport-ws" in body["errors"][0]["message"]


async def test_origins_are_those_allowed_for_http(serve: Serve) -> None:
    async with serve(cors_origins=["https://app.example"]) as live:
        status, body, _ = await _denied(live, origin="https://evil.example")
        allowed = await _open(live, origin="https://app.example")
        assert await _receive(allowed) == {"type": "connection_ack"}
        await allowed.close()
    assert status == 403
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN_ORIGIN"
    assert "https://evil.example" in body["errors"][0]["message"]


async def test_a_subscription_outlives_the_query_time_limit(serve: Serve) -> None:
    async with serve(request_timeout_seconds=0.5) as live:
        websocket = await _open(live)
        await _subscribed(live, websocket, ALICE)
        await asyncio.sleep(1.0)  # twice the limit that cancels a query

        await live.mutate(INGEST, make_library(ALICE, likes=1))

        message = await _receive(websocket)
        assert message["payload"]["data"]["librarySynced"]["version"] == 1


async def test_each_event_carries_the_library_as_that_commit_left_it(serve: Serve) -> None:
    query = """subscription ($userId: ID) {
      librarySynced(userId: $userId) { version library { id liked(first: 10) { totalCount } } }
    }"""
    async with serve() as live:
        websocket = await _open(live)
        await _subscribed(live, websocket, ALICE, query)

        seen = []
        for likes in (2, 3):
            await live.mutate(SYNC, make_library(ALICE, likes=likes))
            seen.append((await _receive(websocket))["payload"]["data"]["librarySynced"])

        # One connection, one context: each event still reads the store afresh.
        assert [(e["version"], e["library"]["liked"]["totalCount"]) for e in seen] == [
            (1, 2),
            (2, 3),
        ]
        assert seen[0]["library"]["id"] == seen[1]["library"]["id"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_over_plain_http_is_refused_with_a_pointer(
    app_client: httpx.AsyncClient, method: str
) -> None:
    query = 'subscription { librarySynced(userId: "user:alice") { version } }'
    if method == "GET":
        response = await app_client.get("/graphql", params={"query": query})
    else:
        response = await app_client.post("/graphql", json={"query": query})

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "WebSocket" in error["message"]
