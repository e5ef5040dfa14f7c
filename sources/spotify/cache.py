"""The LibraryCache server, seen through its public GraphQL API over HTTP only.

Reads use the root fields (``lastSync``, ``liked``, ``plays``, ``playlists``); writes are
one ``ingest`` (a new user) or ``sync`` mutation: all-or-nothing on the server.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from sources.spotify.errors import CacheError

REPORT_FIELDS = (
    "userId kind version documentsWritten durationMs likesAdded likesRemoved playsAdded "
    "playsRemoved playlistsAdded playlistsUpdated playlistsUnchanged playlistsRemoved "
    "totalLikes totalPlays totalPlaylists tracksUpserted"
)
_MUTATIONS = {
    name: f"mutation($input: LibraryInput!) {{ {name}(input: $input) {{ {REPORT_FIELDS} }} }}"
    for name in ("ingest", "sync")
}
_VERSION = "query($u: ID!) { lastSync(userId: $u) { version } }"
_READ = """query($u: ID!) {
  lastSync(userId: $u) { version }
  plays(userId: $u) { items { trackId lastPlayedAt } }
  playlists(userId: $u) { playlistId name description snapshotId entries { trackId addedAt } }
  %s
}"""
_LIKED = "liked(userId: $u) { items { trackId addedAt } }"
_UNAVAILABLE = frozenset({"SERVICE_UNAVAILABLE"})
_ATTEMPTS = 5


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class CachedEntry(_Shape):
    track_id: str
    added_at: datetime | None = None


class CachedPlaylist(_Shape):
    playlist_id: str
    name: str
    description: str | None = None
    snapshot_id: str | None = None
    entries: list[CachedEntry]


class _Play(_Shape):
    track_id: str
    last_played_at: datetime


class _Like(_Shape):
    track_id: str
    added_at: datetime


@dataclass(frozen=True)
class CachedLibrary:
    """What the server holds for one user; ``version`` is None for a user never synced."""

    version: int | None = None
    plays: dict[str, datetime] = field(default_factory=dict)
    playlists: dict[str, CachedPlaylist] = field(default_factory=dict)
    likes: list[tuple[str, datetime]] = field(default_factory=list)


class CacheClient:
    def __init__(
        self,
        http: httpx.Client,
        url: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        first_delay: float = 1.0,
    ) -> None:
        self._http = http
        self._url = url
        self._sleep = sleep
        self._first_delay = first_delay

    def version(self, user_id: str) -> int | None:
        data = self._execute(_VERSION, {"u": user_id})
        last = data.get("lastSync")
        return None if last is None else int(last["version"])

    def read(self, user_id: str, *, likes: bool = False) -> CachedLibrary:
        """The user's cached plays and playlists (and likes, when asked), in one query."""
        data = self._execute(_READ % (_LIKED if likes else ""), {"u": user_id})
        try:
            last = data.get("lastSync")
            plays = [_Play.model_validate(p) for p in data["plays"]["items"]]
            playlists = [CachedPlaylist.model_validate(p) for p in data["playlists"]]
            liked = [_Like.model_validate(x) for x in data["liked"]["items"]] if likes else []
        except (KeyError, TypeError, ValidationError) as error:
            raise CacheError(f"the server answered an unexpected shape: {error}") from None
        return CachedLibrary(
            version=None if last is None else int(last["version"]),
            plays={p.track_id: p.last_played_at for p in plays},
            playlists={p.playlist_id: p for p in playlists},
            likes=[(x.track_id, x.added_at) for x in liked],
        )

    def submit(self, library: dict[str, Any], *, new_user: bool) -> dict[str, Any]:
        """``ingest`` for a new user, else ``sync``; returns the server's SyncReport.

        ``ALREADY_INGESTED`` (someone ingested the user since we looked) switches to
        ``sync``. ``CONFLICT`` is raised to the caller, whose read-modify-write must
        start over; an unavailable server is retried here.
        """
        mutation = "ingest" if new_user else "sync"
        try:
            data = self._execute(_MUTATIONS[mutation], {"input": library})
        except CacheError as error:
            if error.code != "ALREADY_INGESTED":
                raise
            mutation = "sync"
            data = self._execute(_MUTATIONS[mutation], {"input": library})
        report: dict[str, Any] = data[mutation]
        return report

    def _execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._post(query, variables)
            except CacheError as error:
                if error.code not in _UNAVAILABLE or attempt == _ATTEMPTS:
                    raise
                delay = self._first_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self._url, json={"query": query, "variables": variables})
        except httpx.TransportError as error:
            raise CacheError(
                f"cannot reach the LibraryCache server: {type(error).__name__}",
                "SERVICE_UNAVAILABLE",
            ) from None
        if response.status_code in (502, 503, 504):  # a load balancer, or a server restarting
            raise CacheError(
                f"the LibraryCache server is unavailable (HTTP {response.status_code})",
                "SERVICE_UNAVAILABLE",
            )
        try:
            body = response.json()
        except ValueError:
            raise CacheError(
                f"the LibraryCache server answered HTTP {response.status_code} without JSON"
            ) from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise CacheError(_describe(errors), _code(errors))
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            raise CacheError(f"the LibraryCache server answered HTTP {response.status_code}")
        data: dict[str, Any] = body["data"]
        return data


def _code(errors: list[dict[str, Any]]) -> str | None:
    code = (errors[0].get("extensions") or {}).get("code")
    return str(code) if code else None


def _describe(errors: list[dict[str, Any]]) -> str:
    """The server's own messages: they name the field and item at fault."""
    parts = []
    for error in errors[:10]:
        code = (error.get("extensions") or {}).get("code", "ERROR")
        parts.append(f"{code}: {error.get('message')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "LibraryCache refused the request: " + "; ".join(parts) + more


def graphql_url(server: str) -> str:
    """``--server`` is the ``/graphql`` URL; a bare origin gets ``/graphql`` added."""
    url = httpx.URL(server)
    return str(url.copy_with(path="/graphql")) if url.path in ("", "/") else str(url)
