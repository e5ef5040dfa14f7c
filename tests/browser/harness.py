"""Drive the GraphiQL page in Debian's headless Chromium through Python Playwright.

``await open_graphiql_and_run(url, query)`` opens ``url`` (the app's ``/graphql``), puts
``query`` in GraphiQL's query editor, presses the run button and returns the text of the result
pane. Every request the page makes is recorded; one to a host:port other than the page's own is
blocked (never leaves the machine) and makes the call raise ``ForeignRequestError``.

Import it as ``tests.browser.harness``. Async (Playwright's async API), for pytest-asyncio.
Never run ``playwright install``: it downloads a browser; this uses ``/usr/bin/chromium`` from
``apt-get install chromium``.

Selectors (GraphiQL 3.8, CodeMirror 5):
- query editor: ``.graphiql-query-editor .CodeMirror`` (its element has a ``CodeMirror`` property,
  the editor instance, used to read back what was typed)
- run button: ``button.graphiql-execute-button``
- result pane: ``.graphiql-response .CodeMirror`` (read through the instance's ``getValue()``,
  since CodeMirror only puts the visible lines in the DOM)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage, Page, Request, Route, WebSocket, async_playwright
from playwright.async_api import Error as PlaywrightError

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Flags that keep Chromium from reaching the network by itself (plus --user-data-dir)."""

HEADERS_STORAGE_KEY = "librarycache.graphiql.headers"
"""localStorage key the GraphiQL bundle reads stored request headers from (a JSON object)."""

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RUN_BUTTON = "button.graphiql-execute-button"
RESULT_PANE = ".graphiql-response .CodeMirror"

_LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome", "chrome-extension"})


class ForeignRequestError(AssertionError):
    """The page tried to reach a host:port other than its own."""


class GraphiQLPageError(AssertionError):
    """The GraphiQL page did not load or run the query as expected."""


@dataclass
class SeenRequest:
    method: str
    url: str
    resource_type: str
    headers: dict[str, str]


@dataclass
class GraphiQLRun:
    """What one ``run_graphiql`` call saw."""

    result: str
    requests: list[SeenRequest] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def graphql_posts(self) -> list[SeenRequest]:
        """The POSTs the page sent (introspection and the query itself)."""
        return [r for r in self.requests if r.method == "POST"]


def chromium_path() -> str | None:
    """Path of a Chromium binary to drive, or None when there is none.

    ``LIBRARYCACHE_CHROMIUM`` wins when set; then ``chromium`` / ``chromium-browser`` on PATH.
    """
    configured = os.environ.get("LIBRARYCACHE_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _origin(url: str) -> tuple[str, str]:
    """(scheme, host:port) of ``url``, with the scheme's default port filled in."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme, 0)
    return parts.scheme, f"{parts.hostname}:{port}"


async def run_graphiql(
    url: str,
    query: str,
    headers: dict[str, str] | None = None,
    *,
    screenshot: str | Path | None = None,
    timeout_s: float = 30.0,
    init_script: str | None = None,
    strip_csp: bool = False,
) -> GraphiQLRun:
    """Open GraphiQL at ``url``, run ``query`` and return the result and all that was seen.

    ``headers`` are stored in the page's localStorage before it loads, so GraphiQL shows them in
    its headers editor and sends them. ``screenshot`` saves a PNG of the page after the run.
    ``init_script`` runs in the page before its own scripts (to stage a misbehaving page), and
    ``strip_csp`` removes the page's Content-Security-Policy header, so that what the harness
    catches by itself can be told from what the browser refuses.
    Raises ``ForeignRequestError`` if the page tried to reach another host:port (such requests
    are aborted), ``GraphiQLPageError`` if GraphiQL did not render or answer in time.
    """
    run = GraphiQLRun(result="")
    failure: BaseException | None = None
    try:
        async with graphiql_page(
            url, run, headers, timeout_s=timeout_s, init_script=init_script, strip_csp=strip_csp
        ) as page:
            run.result = await _run_query(page, query, timeout_s * 1000)
            if screenshot is not None:
                await page.screenshot(path=str(screenshot))
    except (GraphiQLPageError, PlaywrightError) as exc:
        failure = exc

    # A foreign request is the worse finding, and often the reason the page broke.
    if run.foreign:
        raise ForeignRequestError(
            f"the page at {url} tried to reach other hosts: {sorted(set(run.foreign))}"
        ) from failure
    if failure is not None:
        raise failure
    if run.page_errors:
        raise GraphiQLPageError(f"uncaught errors on the page: {run.page_errors}")
    return run


@asynccontextmanager
async def graphiql_page(
    url: str,
    run: GraphiQLRun,
    headers: dict[str, str] | None = None,
    *,
    timeout_s: float = 30.0,
    init_script: str | None = None,
    strip_csp: bool = False,
) -> AsyncIterator[Page]:
    """The GraphiQL page at ``url``, loaded, in a fresh Chromium profile; ``run`` records
    every request, foreign attempt, page error and console error (see ``run_graphiql``)."""
    executable = chromium_path()
    if executable is None:
        raise GraphiQLPageError("no Chromium found: apt-get install -y chromium")
    own_scheme, own_host = _origin(url)
    if own_scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    timeout_ms = timeout_s * 1000

    def allowed(request_url: str) -> bool:
        scheme, host = _origin(request_url)
        if scheme in _LOCAL_SCHEMES:
            return True
        return host == own_host and scheme in (own_scheme, "ws" if own_scheme == "http" else "wss")

    async def guard(route: Route) -> None:
        if allowed(route.request.url) and strip_csp and route.request.resource_type == "document":
            response = await route.fetch()
            kept = {k: v for k, v in response.headers.items() if k != "content-security-policy"}
            await route.fulfill(response=response, headers=kept)
        elif allowed(route.request.url):
            await route.continue_()
        else:
            run.foreign.append(route.request.url)
            await route.abort("blockedbyclient")

    def on_request(request: Request) -> None:
        run.requests.append(
            SeenRequest(request.method, request.url, request.resource_type, request.headers)
        )

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        run.console_errors.append(message.text)
        # A Content-Security-Policy refusal: the page tried another origin, the browser stopped it.
        if "Content Security Policy" in message.text:
            run.foreign.append(f"(refused by CSP) {message.text}")

    def on_websocket(websocket: WebSocket) -> None:
        if not allowed(websocket.url):
            run.foreign.append(websocket.url)

    with tempfile.TemporaryDirectory(prefix="librarycache-chromium-") as user_data_dir:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                user_data_dir,
                executable_path=executable,
                args=list(CHROMIUM_ARGS),
                headless=True,
                viewport={"width": 1280, "height": 800},
                service_workers="block",
            )
            try:
                await context.route("**/*", guard)
                context.on("request", on_request)
                context.on("weberror", lambda error: run.page_errors.append(str(error.error)))
                if headers:
                    await context.add_init_script(
                        "window.localStorage.setItem("
                        f"{json.dumps(HEADERS_STORAGE_KEY)}, {json.dumps(json.dumps(headers))});"
                    )
                if init_script:
                    await context.add_init_script(init_script)
                page = context.pages[0] if context.pages else await context.new_page()
                page.on("console", on_console)
                page.on("websocket", on_websocket)
                page.set_default_timeout(timeout_ms)
                response = await page.goto(url, wait_until="load")
                if response is None or not response.ok:
                    status = None if response is None else response.status
                    raise GraphiQLPageError(f"GET {url} answered {status}")
                yield page
            finally:
                await context.close()


async def run_query(page: Page, query: str, timeout_ms: float = 30_000) -> str:
    """Type ``query`` in the page's query editor, run it, return the result pane's text."""
    return await _run_query(page, query, timeout_ms)


async def _run_query(page: Page, query: str, timeout_ms: float) -> str:
    editor = page.locator(QUERY_EDITOR).first
    try:
        await editor.wait_for(state="visible")
    except PlaywrightError as exc:
        body = (await page.locator("body").inner_text())[:500]
        raise GraphiQLPageError(
            f"GraphiQL's query editor did not appear; page says {body!r}"
        ) from exc

    # Type like a person would: focus the editor, select all, insert the text (insert_text
    # sends one input event, so CodeMirror's bracket auto-closing does not double brackets).
    await editor.click()
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.insert_text(query)
    typed = await editor.evaluate("el => el.CodeMirror.getValue()")
    if typed != query:
        # Fall back to the editor's own API; GraphiQL listens to its change events either way.
        await editor.evaluate("(el, q) => el.CodeMirror.setValue(q)", query)

    await page.locator(RUN_BUTTON).first.click()
    result_js = """
        (selector) => {
          const el = document.querySelector(selector);
          const text = el && el.CodeMirror ? el.CodeMirror.getValue() : "";
          return text.trim().length > 0 ? text : null;
        }
    """
    try:
        handle = await page.wait_for_function(result_js, arg=RESULT_PANE, timeout=timeout_ms)
    except PlaywrightError as exc:
        raise GraphiQLPageError("GraphiQL showed no result") from exc
    text = await handle.json_value()
    if not isinstance(text, str):
        raise GraphiQLPageError(f"unexpected result pane content: {text!r}")
    return text


async def open_graphiql_and_run(url: str, query: str, headers: dict[str, str] | None = None) -> str:
    """Open GraphiQL at ``url``, run ``query``, return the result pane's text.

    Raises ``ForeignRequestError`` if the page made a request to a host:port other than its own.
    """
    run = await run_graphiql(url, query, headers)
    return run.result
