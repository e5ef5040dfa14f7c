"""A real ``librarycache serve`` for the session, a fake Spotify per test, and helpers."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from server.cli import main
from tests.serve_process import serve
from tests.spotify.fake_api import CLIENT_ID, CLIENT_SECRET, FakeSpotify, running

SECRET = "spotify-pull-tests-secret-long-enough-for-hs256"
_users = itertools.count()


def sync_token(scope: str = "library:sync") -> str:
    claims = {"sub": "spotify-job", "scope": scope, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="session")
def cache_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One LibraryCache server with authentication on; each test uses its own user."""
    data = tmp_path_factory.mktemp("spotify-cache") / "data"
    with serve(data, env={"LIBRARYCACHE_JWT_SECRET": SECRET}) as base:
        yield f"{base}/graphql"


@pytest.fixture
def user() -> str:
    return f"user:spotify-{next(_users)}-{time.time_ns()}"


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    spotify = FakeSpotify()
    with running(spotify):
        yield spotify


@pytest.fixture
def token_file(tmp_path: Path, fake: FakeSpotify) -> Path:
    path = tmp_path / "tokens.json"
    write_tokens(path, fake, expires_at=time.time() + 3600)
    return path


def write_tokens(path: Path, fake: FakeSpotify, *, expires_at: float, pkce: bool = False) -> None:
    tokens = {
        "access_token": fake.access_token,
        "refresh_token": fake.refresh_token,
        "expires_at": expires_at,
        "client_id": CLIENT_ID,
    }
    if not pkce:  # a PKCE client has no secret
        tokens["client_secret"] = CLIENT_SECRET
    path.write_text(json.dumps(tokens))
    path.chmod(0o600)


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Puller:
    """Runs ``librarycache spotify pull`` in this process against the fake and the server."""

    fake: FakeSpotify
    token_file: Path
    cache_url: str
    user: str
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *extra: str, server: bool = True, max_wait: float = 20) -> Run:
        args = [
            "spotify", "pull", "--user", self.user, "--token-file", str(self.token_file),
            "--api-url", f"{self.fake.base_url}/v1", "--accounts-url", self.fake.base_url,
            "--max-wait", str(max_wait),
        ]  # fmt: skip
        if server:
            args += ["--server", self.cache_url, "--server-token", sync_token()]
        self.capsys.readouterr()
        code = main([*args, *extra])
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)


@pytest.fixture
def pull(
    fake: FakeSpotify,
    token_file: Path,
    cache_url: str,
    user: str,
    capsys: pytest.CaptureFixture[str],
) -> Puller:
    return Puller(fake, token_file, cache_url, user, capsys)


def gql(cache_url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        cache_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {sync_token()}"},
        timeout=60,
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


LIBRARY = """query($u: ID!) {
  liked(userId: $u) { trackIds totalCount items { addedAt } }
  plays(userId: $u) { items { trackId lastPlayedAt } }
  playlists(userId: $u) { playlistId name snapshotId entries { trackId addedAt } }
  lastSync(userId: $u) { version kind }
}"""


def library(cache_url: str, user: str) -> dict[str, Any]:
    return gql(cache_url, LIBRARY, u=user)
