"""The client contract: stock GraphQL clients (Apollo Client, urql, relay-compiler,
graphql-ws) against a real ``librarycache serve``. The Node tests live in clients/test/."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest

from server.embedded import EmbeddedMongo
from tests.http.test_auth import AUDIENCE, ISSUER, SECRET, token
from tests.serve_process import serve

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
SCHEMA = CLIENTS.parent / "schema.graphql"
AUTH = {
    "LIBRARYCACHE_JWT_SECRET": SECRET,
    "LIBRARYCACHE_JWT_AUDIENCE": AUDIENCE,
    "LIBRARYCACHE_JWT_ISSUER": ISSUER,
}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.node,
    pytest.mark.skipif(
        shutil.which("npm") is None,
        reason="needs Node.js with npm (scripts/install runs `npm ci` in clients/)",
    ),
]


def _node_test(name: str, env: Mapping[str, str]) -> None:
    """Run one clients/test file with ``node --test``; its report is the failure message."""
    assert (CLIENTS / "node_modules").is_dir(), "run scripts/install: clients/ has no node_modules"
    run = subprocess.run(
        ["node", "--test", "--test-reporter=spec", str(CLIENTS / "test" / name)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
        check=False,
    )
    print(run.stdout)  # noqa: T201 - the node tests' own report, e.g. the subscription latency
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"


@pytest.mark.parametrize("name", ["apollo.test.mjs", "urql.test.mjs"])
def test_caching_clients_page_and_refresh(tmp_path: Path, name: str) -> None:
    with serve(tmp_path / "data") as base:
        _node_test(name, {"LIBRARYCACHE_URL": base})


def test_a_refused_field_is_null_beside_a_good_one(tmp_path: Path) -> None:
    with serve(tmp_path / "data", env=AUTH) as base:
        env = {"LIBRARYCACHE_URL": base, "ALICE_TOKEN": token("user:alice")}
        _node_test("partial.test.mjs", env)


@pytest.fixture
def shared_store(tmp_path: Path) -> Iterator[str]:
    """One nx-27017 server for several ``librarycache serve`` processes."""
    store = EmbeddedMongo(tmp_path / "nx-27017")
    uri = asyncio.run(store.start())
    yield uri
    asyncio.run(store.stop())


def test_graphql_ws_hears_a_sync_made_through_another_process(
    tmp_path: Path, shared_store: str
) -> None:
    env = {**AUTH, "MONGODB_URI": shared_store}
    with ExitStack() as stack:
        # Two workers behind the listener's port, a third process that writes: whichever
        # worker the socket reaches hears a commit made by another process.
        listener = stack.enter_context(serve(tmp_path / "a", "--workers", "2", env=env))
        writer = stack.enter_context(serve(tmp_path / "b", env=env))
        _node_test(
            "subscription.test.mjs",
            {
                "LIBRARYCACHE_URLS": f"{listener},{writer}",
                "ALICE_TOKEN": token("user:alice"),
                "ADMIN_TOKEN": token("service:sync", scope="library:sync"),
            },
        )


def test_relay_compiler_accepts_a_refetchable_connection_fragment(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(CLIENTS / "relay" / "LikedList.js", src)
    config = {"src": str(src), "schema": str(SCHEMA), "language": "javascript"}
    (tmp_path / "relay.config.json").write_text(json.dumps(config))

    run = subprocess.run(
        [str(CLIENTS / "node_modules" / ".bin" / "relay-compiler")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    generated = src / "__generated__"
    query = (generated / "LikedListPaginationQuery.graphql.js").read_text()
    assert '"name": "node"' in query  # refetched through Query.node(id:)
    fragment = (generated / "LikedList_library.graphql.js").read_text()
    assert '"__LikedList_liked_connection"' in fragment  # the @connection's store key
