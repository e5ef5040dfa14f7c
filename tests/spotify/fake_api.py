"""A fake of Spotify's Web API and accounts service, served over HTTP on loopback.

Built from the documented shapes: offset paging objects with absolute ``next`` URLs,
saved tracks, simplified playlists (``items`` reference), playlist items with the
object under ``item`` (or the older ``track``), cursor-paged play history, errors as
``{"error": {"status", "message"}}`` and ``POST /api/token`` with the refresh grant.
Faults are queued per path: a 429 with ``Retry-After``, a 5xx, a 403.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.serve_process import free_port

CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-secret"


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    offset: int | None = None  # only the page at this offset, when set


@dataclass
class FakeSpotify:
    likes: list[dict[str, Any]] = field(default_factory=list)
    playlists: list[dict[str, Any] | None] = field(default_factory=list)
    items: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    recent: list[dict[str, Any]] = field(default_factory=list)
    access_token: str = "access-0"
    refresh_token: str = "refresh-0"
    rotate: bool = True
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[str] = field(default_factory=list)
    refreshes: int = 0
    base_url: str = ""

    def fail(self, path: str, *faults: Fault) -> None:
        self.faults[path].extend(faults)

    def revoke_access(self) -> None:
        """The access token stops working, as when it expires early."""
        self.access_token += "-revoked"

    def set_playlist(self, playlist: dict[str, Any], entries: list[dict[str, Any] | None]) -> None:
        self.playlists = [p for p in self.playlists if p is None or p["id"] != playlist["id"]]
        self.playlists.append(playlist)
        self.items[playlist["id"]] = entries
        playlist["items"] = {
            "href": f"{self.base_url}/v1/playlists/{playlist['id']}/items",
            "total": len(entries),
        }

    def item_requests(self, playlist_id: str) -> int:
        return sum(1 for r in self.requests if r.startswith(f"/v1/playlists/{playlist_id}/items"))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/me/tracks", self._saved_tracks),
                Route("/v1/me/playlists", self._playlists),
                Route("/v1/playlists/{playlist_id}/items", self._playlist_items),
                Route("/v1/me/player/recently-played", self._recently_played),
                Route("/api/token", self._token, methods=["POST"]),
            ]
        )

    def _refuse(self, request: Request) -> Response | None:
        self.requests.append(f"{request.url.path}?{request.url.query}")
        queue = self.faults.get(request.url.path)
        offset = int(request.query_params.get("offset", "0"))
        if queue and (queue[0].offset is None or queue[0].offset == offset):
            fault = queue.popleft()
            return _error(fault.status, "fault injected", fault.headers)
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(401, "The access token expired")
        return None

    def _page(self, request: Request, items: list[Any], max_limit: int = 50) -> Response:
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", "20"))
        if not 1 <= limit <= max_limit:
            return _error(400, "Invalid limit")
        following = None
        if offset + limit < len(items):
            following = str(request.url.include_query_params(offset=offset + limit))
        return JSONResponse(
            {
                "href": str(request.url),
                "items": items[offset : offset + limit],
                "limit": limit,
                "next": following,
                "offset": offset,
                "previous": None,
                "total": len(items),
            }
        )

    async def _saved_tracks(self, request: Request) -> Response:
        return self._refuse(request) or self._page(request, self.likes)

    async def _playlists(self, request: Request) -> Response:
        return self._refuse(request) or self._page(request, self.playlists)

    async def _playlist_items(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        playlist_id = request.path_params["playlist_id"]
        if playlist_id in self.forbidden:
            return _error(403, "Forbidden")
        if playlist_id not in self.items:
            return _error(404, "Resource not found")
        return self._page(request, self.items[playlist_id])

    async def _recently_played(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        limit = int(request.query_params.get("limit", "20"))
        items = sorted(self.recent, key=lambda p: p["played_at"], reverse=True)[:limit]
        return JSONResponse(
            {
                "href": str(request.url),
                "items": items,
                "limit": limit,
                "next": None,  # Spotify shows only the last 50 plays
                "cursors": {"after": "1", "before": "0"} if items else None,
            }
        )

    async def _token(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        queue = self.faults.get(request.url.path)
        if queue:
            fault = queue.popleft()
            return JSONResponse({"error": "server_error"}, fault.status, fault.headers)
        # A urlencoded body, parsed by hand: starlette's form parser needs python-multipart.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        basic = request.headers.get("authorization")
        # A confidential client authenticates with Basic; a PKCE client sends client_id only.
        if basic != f"Basic {expected}" and (basic or form.get("client_id") != CLIENT_ID):
            return JSONResponse({"error": "invalid_client"}, 401)
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Refresh token revoked"}, 400
            )
        self.refreshes += 1
        self.access_token = f"access-{self.refreshes}"
        answer: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": "user-library-read playlist-read-private",
            "expires_in": 3600,
        }
        if self.rotate:
            self.refresh_token = answer["refresh_token"] = f"refresh-{self.refreshes}"
        return JSONResponse(answer)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"status": status, "message": message}}, status, headers)


@contextmanager
def running(fake: FakeSpotify) -> Iterator[str]:
    """Serve ``fake`` with uvicorn in a thread; yield its base URL."""
    port = free_port()
    fake.base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        fake.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake Spotify API did not start")
        time.sleep(0.01)
    try:
        yield fake.base_url
    finally:
        server.should_exit = True
        thread.join(10)
