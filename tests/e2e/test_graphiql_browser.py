"""GraphiQL in headless Chromium against a real ``librarycache serve``, with nothing off-machine.

The server runs on its embedded store with authentication on; a library is ingested over HTTP,
then the page at ``/graphql`` runs a ``liked`` query typed into GraphiQL's editor, with the
caller's token in GraphiQL's headers, and the result is read off the page. Every request the
page made must have gone to the server itself; a page that tries another origin is refused by
the app's Content-Security-Policy, and caught by the harness even without that policy.

Needs Debian's Chromium (``apt-get install -y chromium``); never ``playwright install``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.browser.harness import (
    HEADERS_STORAGE_KEY,
    ForeignRequestError,
    GraphiQLRun,
    chromium_path,
    graphiql_page,
    run_graphiql,
    run_query,
)
from tests.factories import make_library
from tests.serve_process import serve

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        chromium_path() is None,
        reason="no Chromium: apt-get install -y chromium (never `playwright install`)",
    ),
]

SECRET = "browser-test-secret-that-is-long-enough-for-hs256"
ALICE = "user:alice"
LIKED = f'query Liked {{\n  liked(userId: "{ALICE}") {{\n    trackIds\n  }}\n}}'
INGEST = "mutation Ingest($input: LibraryInput!) { ingest(input: $input) { version } }"
# Loads an image from another port of this machine; nothing listens on 9 ("discard") anyway.
FOREIGN_URL = "http://127.0.0.1:9/leak.png"
LEAK = (
    "document.addEventListener('DOMContentLoaded', () => {"
    f"  const img = new Image(); img.src = {json.dumps(FOREIGN_URL)};"
    "  document.body.appendChild(img);"
    "});"
)


def bearer(sub: str, scope: str | None = None) -> dict[str, str]:
    claims: dict[str, object] = {"sub": sub, "exp": int(time.time()) + 600}
    if scope:
        claims["scope"] = scope
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@dataclass(frozen=True)
class Served:
    base: str
    liked: list[str]
    """Alice's liked track ids, newest first, as the API lists them."""

    @property
    def graphql(self) -> str:
        return f"{self.base}/graphql"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("graphiql") / "data"
    library = make_library(ALICE, likes=3)
    with serve(data_dir, env={"LIBRARYCACHE_JWT_SECRET": SECRET}) as base:
        response = httpx.post(
            f"{base}/graphql",
            json={"query": INGEST, "variables": {"input": library}},
            headers=bearer("sync-job", scope="library:sync"),
            timeout=30,
        )
        assert response.json() == {"data": {"ingest": {"version": 1}}}, response.text
        yield Served(base, [like["trackId"] for like in reversed(library["likes"])])


def test_the_page_and_its_assets_come_from_the_app(served: Served) -> None:
    response = httpx.get(served.graphql, headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    html = response.text
    assert "<title>LibraryCache GraphiQL</title>" in html
    assert 'src="/graphiql-assets/graphiql.js"' in html
    assert "//" not in html.replace("<!doctype html>", "")  # no URL of another origin
    script = httpx.get(f"{served.base}/graphiql-assets/graphiql.js", timeout=10)
    assert script.status_code == 200
    assert len(script.content) > 100_000


async def test_liked_query_runs_in_graphiql(served: Served, tmp_path: Path) -> None:
    shot = tmp_path / "graphiql.png"
    headers = bearer(ALICE)
    run = await run_graphiql(served.graphql, LIKED, headers=headers, screenshot=shot)

    assert json.loads(run.result) == {"data": {"liked": {"trackIds": served.liked}}}
    own = served.base + "/"
    assert all(r.url.startswith(own) for r in run.requests), [r.url for r in run.requests]
    seen = {(r.method, r.url.removeprefix(served.base)) for r in run.requests}
    assert ("GET", "/graphiql-assets/graphiql.js") in seen
    assert ("GET", "/graphiql-assets/graphiql.css") in seen
    posts = run.graphql_posts()
    assert len(posts) >= 2  # the schema's introspection, then the query
    assert all(p.headers.get("authorization") == headers["Authorization"] for p in posts)
    assert not run.page_errors
    assert not run.console_errors
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("strip_csp", "caught_by"),
    [
        pytest.param(False, r"refused by CSP.*127\.0\.0\.1:9", id="refused-by-the-apps-csp"),
        pytest.param(True, r"127\.0\.0\.1:9/leak\.png", id="caught-by-the-harness-without-csp"),
    ],
)
async def test_a_request_to_another_origin_is_caught(
    served: Served, strip_csp: bool, caught_by: str
) -> None:
    with pytest.raises(ForeignRequestError, match=caught_by):
        await run_graphiql(
            served.graphql,
            LIKED,
            headers=bearer(ALICE),
            init_script=LEAK,
            strip_csp=strip_csp,
        )


HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
SETTLED_MS = 1500
"""Longer than the page waits (400 ms) before it saves the headers and fetches the schema."""


async def test_with_auth_on_the_page_asks_for_a_token_and_keeps_it(served: Served) -> None:
    """No 401 on load; headers typed in the tab are saved, refetch the schema, survive a reload."""
    run = GraphiQLRun(result="")
    token = bearer(ALICE)["Authorization"]
    async with graphiql_page(served.graphql, run) as page:
        editor = page.locator(HEADERS_EDITOR).first
        await editor.wait_for(state="visible")  # the Headers tab is open, with a hint
        assert "Bearer" in await editor.evaluate("el => el.CodeMirror.getValue()")
        await page.wait_for_timeout(SETTLED_MS)
        before = run.graphql_posts()
        page_text = await page.locator("body").inner_text()

        await editor.evaluate(
            "(el, text) => el.CodeMirror.setValue(text)",
            json.dumps({"Authorization": token}),
        )
        await page.wait_for_function(
            "key => window.localStorage.getItem(key) !== null", arg=HEADERS_STORAGE_KEY
        )
        await page.wait_for_timeout(SETTLED_MS)
        introspected = run.graphql_posts()

        await page.reload(wait_until="load")
        result = await run_query(page, LIKED)
        stored = await page.evaluate("key => window.localStorage.getItem(key)", HEADERS_STORAGE_KEY)

    # Nothing was sent without a token, so nothing failed.
    assert before == []
    assert "UNAUTHENTICATED" not in page_text
    assert "Error fetching schema" not in page_text
    # Typing the header fetched the schema, with it.
    assert len(introspected) >= 1
    assert all(p.headers.get("authorization") == token for p in introspected)
    # After a reload the header is still there and used.
    assert json.loads(stored) == {"Authorization": token}
    assert json.loads(result) == {"data": {"liked": {"trackIds": served.liked}}}
    assert all(p.headers.get("authorization") == token for p in run.graphql_posts())
    assert not run.page_errors
    assert not run.console_errors
    assert not run.foreign
