"""The throughput baseline: a bare Starlette JSON endpoint running the store's queries.

``POST /liked`` with ``{"userId": ..., "first": 50}`` answers what the GraphQL query
``bench.queries.LIKED_PAGE`` answers, in the same JSON shape, with the very queries
``LibraryStore.liked`` and the track loader send (committed version, visible page,
floor re-check, tracks by ``$in``): no GraphQL, no pydantic, no middleware.

    MONGODB_URI=... uvicorn --factory bench.bare_app:create_app
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persistence._dialect import MongoDialect
from persistence.client import close, connect


def _visible(user_id: str, version: int) -> dict[str, Any]:
    """The production filter of a user's snapshot (a user with no dead versions)."""
    return MongoDialect().snapshot_filters(user_id, version, ())[0]


_TRACK = {"_id": 1, "title": 1, "artists": 1, "album": 1, "durationMs": 1, "explicit": 1}


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _cursor(at: str, track_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at, track_id])).decode().rstrip("=")


def create_app() -> Starlette:
    db: Any = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal db
        client = connect(os.environ["MONGODB_URI"], "motor", timeout_ms=120_000)
        db = client[os.environ.get("LIBRARYCACHE_DB", "librarycache")]
        yield
        await close(client)

    async def liked(request: Request) -> Response:
        args = orjson.loads(await request.body())
        user, first = args["userId"], int(args["first"])
        library = await db.libraries.find_one({"_id": user}, {"version": 1, "counts": 1})
        version = library["version"]
        found = (
            await db.likes.find(
                _visible(user, version),
                {"_id": 0, "trackId": 1, "addedAt": 1},
            )
            .sort([("addedAt", -1), ("trackId", -1)])
            .limit(first + 1)
            .to_list(None)
        )
        check = await db.libraries.find_one({"_id": user}, {"floor": 1})
        assert check["floor"] <= version
        page = found[:first]
        ids = [d["trackId"] for d in page]
        tracks = {t["_id"]: t for t in await db.tracks.find({"_id": {"$in": ids}}).to_list(None)}
        items = []
        for d in page:
            at = _iso(d["addedAt"])
            t = tracks.get(d["trackId"])
            items.append(
                {
                    "trackId": d["trackId"],
                    "addedAt": at,
                    "cursor": _cursor(at, d["trackId"]),
                    "track": None
                    if t is None
                    else {
                        "trackId": t["_id"],
                        "title": t["title"],
                        "artists": t["artists"],
                        "album": t.get("album"),
                        "durationMs": t.get("durationMs"),
                        "explicit": t.get("explicit"),
                    },
                }
            )
        body = {
            "data": {
                "liked": {
                    "totalCount": library["counts"]["likes"],
                    "pageInfo": {
                        "hasNextPage": len(found) > first,
                        "endCursor": items[-1]["cursor"] if items else None,
                    },
                    "items": items,
                }
            }
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(
        routes=[Route("/liked", liked, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )
