"""End to end: the vendored GraphiQL page in headless Chromium, against a tiny demo app.

Starts ``tests/browser/_demo_app.py`` under uvicorn on a free port, opens /graphql in Debian's
Chromium (apt-get install -y chromium), runs queries through GraphiQL's UI and reads the result
pane, and checks that the page reached nothing but its own host:port.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import (
    HEADERS_STORAGE_KEY,
    ForeignRequestError,
    chromium_path,
    open_graphiql_and_run,
    run_graphiql,
)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="no Chromium: apt-get install -y chromium (never `playwright install`)",
    ),
]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the demo app, run by uvicorn on a port the OS picks."""
    log = tmp_path_factory.mktemp("demo") / "uvicorn.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "_demo_app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
            if found:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"demo app did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_page_is_served_by_the_app(demo_url: str) -> None:
    response = httpx.get(f"{demo_url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    html = response.text
    assert "<title>LibraryCache GraphiQL</title>" in html
    assert 'href="/graphiql-assets/graphiql.css"' in html
    assert 'src="/graphiql-assets/graphiql.js"' in html
    assert "//" not in html.replace("<!doctype html>", "")


async def test_graphiql_runs_a_query_offline(demo_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "graphiql.png"
    run = await run_graphiql(f"{demo_url}/graphql", "{ hello }", screenshot=shot)

    assert json.loads(run.result) == {"data": {"hello": "world"}}
    assert shot.stat().st_size > 10_000
    own = demo_url + "/"
    assert all(r.url.startswith(own) for r in run.requests), run.requests
    seen = {(r.method, r.url.removeprefix(demo_url)) for r in run.requests}
    assert ("GET", "/graphiql-assets/graphiql.js") in seen
    assert ("GET", "/graphiql-assets/graphiql.css") in seen
    assert len(run.graphql_posts()) >= 2  # schema introspection, then the query
    assert not run.page_errors
    assert not run.console_errors


async def test_stored_authorization_header_is_sent(demo_url: str) -> None:
    query = "query Who {\n  hello\n  authorization\n}"
    result = await open_graphiql_and_run(
        f"{demo_url}/graphql", query, headers={"Authorization": "Bearer t0ken"}
    )
    assert json.loads(result) == {"data": {"hello": "world", "authorization": "Bearer t0ken"}}
    assert HEADERS_STORAGE_KEY == "librarycache.graphiql.headers"


@pytest.mark.parametrize("path", ["/leaky/graphql", "/leaky-csp/graphql"])
async def test_request_to_another_host_is_caught(demo_url: str, path: str) -> None:
    # The page loads an image from 127.0.0.1:9, another port on this machine. Without a CSP the
    # harness aborts that request; with the app's CSP Chromium refuses it itself.
    with pytest.raises(ForeignRequestError, match=r"127\.0\.0\.1:9"):
        await open_graphiql_and_run(f"{demo_url}{path}", "{ hello }")
