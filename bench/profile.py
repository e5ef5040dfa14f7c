"""Profile one request type in process with pyinstrument: where does the server's time go?

    python -m bench.profile ingest|sync|liked-ids|liked-page|playlists [--repeat N] [--html FILE]

The app runs in this process (httpx's ASGI transport, no sockets to the client), the store
is a fresh embedded nx-27017 server; time spent waiting on it shows as ``await`` frames.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler

from bench.library import L, Shape, change_one_percent, make_input
from bench.queries import INGEST, LIKED_IDS, LIKED_PAGE, PLAYLISTS_ENTRIES, SYNC
from server.app import create_app
from server.embedded import EmbeddedMongo
from server.settings import Settings

USER = "user:bench"


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"][:3])
    return body["data"]


async def main(
    kind: str, repeat: int, html: Path | None, *, show_all: bool = False, likes: int = L.likes
) -> str | None:
    with tempfile.TemporaryDirectory(prefix="lc-profile-") as tmp:
        embedded = EmbeddedMongo(Path(tmp) / "nx")
        uri = await embedded.start()
        try:
            settings = Settings(
                mongodb_uri=uri, store_timeout_ms=120_000, max_body_bytes=64 * 1024 * 1024
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", timeout=600
                ) as client:
                    shape = L if likes == L.likes else Shape(tracks=likes, likes=likes)
                    library = make_input(USER, shape)
                    if kind != "ingest":
                        await _post(client, INGEST, {"input": library})
                    work: list[tuple[str, dict[str, Any]]]
                    if kind == "ingest":
                        work = [(INGEST, {"input": library})]
                    elif kind == "sync":
                        work = [(SYNC, {"input": change_one_percent(library)})]
                    elif kind == "liked-ids":
                        work = [(LIKED_IDS, {"userId": USER})] * repeat
                    elif kind == "playlists":
                        work = [(PLAYLISTS_ENTRIES, {"userId": USER})] * repeat
                    else:
                        work = [(LIKED_PAGE, {"userId": USER, "first": 50})] * repeat
                    profiler = Profiler(async_mode="enabled")
                    profiler.start()
                    for query, variables in work:
                        await _post(client, query, variables)
                    profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=show_all))
            return profiler.output_html() if html is not None else None
        finally:
            await embedded.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("kind", choices=["ingest", "sync", "liked-ids", "liked-page", "playlists"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--html", type=Path)
    parser.add_argument("--likes", type=int, default=L.likes, help="library size (default L)")
    parser.add_argument("--all", action="store_true", help="show library frames too")
    args = parser.parse_args()
    page = asyncio.run(main(args.kind, args.repeat, args.html, show_all=args.all, likes=args.likes))
    if args.html is not None and page is not None:
        args.html.write_text(page)


if __name__ == "__main__":
    cli()
