"""The GraphiQL page served at ``/graphql`` to browsers, with every asset from the app itself.

Strawberry's own GraphiQL page loads React and GraphiQL from a CDN. This page instead loads
``graphiql.js`` and ``graphiql.css`` from ``server/static/graphiql/``, built from pinned npm
packages by ``scripts/build-graphiql`` and committed, so nothing is fetched from another host.

Wiring (in the app)::

    Mount("/graphiql-assets", app=StaticFiles(directory=STATIC_DIR / "graphiql"))
    # GET /graphql with "text/html" in Accept -> HTMLResponse(
    #     graphiql_html("/graphiql-assets"), headers={"Content-Security-Policy": GRAPHIQL_CSP})

The bundle renders GraphiQL into ``#graphiql`` and POSTs queries to ``window.location.pathname``
(so to ``/graphql`` itself). The headers typed in its Headers tab are kept in the browser's
localStorage under ``librarycache.graphiql.headers`` (a JSON object), put back on load, and
the schema is fetched again whenever they change.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Final

STATIC_DIR: Final[Path] = Path(__file__).resolve().parent / "static"
"""``server/static``; the GraphiQL bundle is in its ``graphiql`` folder."""

GRAPHIQL_ASSETS_DIR: Final[Path] = STATIC_DIR / "graphiql"
"""``server/static/graphiql``: ``graphiql.js``, ``graphiql.css`` and ``VERSIONS.txt``."""

GRAPHIQL_CSP: Final[str] = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # GraphiQL's dialogs (react-remove-scroll) add <style> elements at run time.
        "style-src 'self' 'unsafe-inline'",
        # Fonts and the few icons in graphiql.css are data: URIs.
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    )
)
"""A Content-Security-Policy for the page: the browser itself refuses any other origin."""

_PAGE: Final[str] = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="robots" content="noindex">
    <title>LibraryCache GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{assets}/graphiql.css">
    <style>
      html, body {{ height: 100%; margin: 0; overflow: hidden; }}
      #graphiql {{ height: 100vh; }}
    </style>
  </head>
  <body>
    <div id="graphiql" data-auth="{auth}">Loading GraphiQL&hellip;</div>
    <noscript>GraphiQL needs JavaScript. The API itself is at this URL (POST).</noscript>
    <script src="{assets}/graphiql.js" defer></script>
  </body>
</html>
"""


def graphiql_html(assets_path: str, *, bearer_required: bool = False) -> str:
    """Return the GraphiQL HTML page, loading its assets from ``assets_path``.

    ``assets_path`` is the URL path (or URL) where ``GRAPHIQL_ASSETS_DIR`` is served, such as
    ``"/graphiql-assets"``; a trailing slash is ignored. With ``bearer_required`` the page
    fetches the schema only once an ``Authorization: Bearer`` header is in its Headers tab,
    instead of showing the 401 of an introspection sent without one.
    """
    return _PAGE.format(
        assets=escape(assets_path.rstrip("/"), quote=True),
        auth="bearer" if bearer_required else "none",
    )
