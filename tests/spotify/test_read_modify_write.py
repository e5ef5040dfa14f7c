"""A sync that lands between our read and our write is merged with, not overwritten."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sources.spotify.cache import CacheClient, CachedLibrary
from sources.spotify.client import SpotifyClient
from sources.spotify.errors import CacheError
from sources.spotify.history import History
from sources.spotify.importer import build_import
from sources.spotify.pull import Puller as SpotifyPuller
from sources.spotify.report import Progress, Report
from sources.spotify.submit import submit_merged
from sources.spotify.tokens import TokenFile
from tests.serve_process import free_port
from tests.spotify.conftest import Puller, gql, library, sync_token
from tests.spotify.factories import entry, playlist, track
from tests.spotify.fake_api import FakeSpotify

SYNC = "mutation($input: LibraryInput!) { sync(input: $input) { version } }"


def _library(user: str, plays: dict[str, str]) -> dict[str, Any]:
    return {
        "userId": user,
        "tracks": [{"trackId": t, "title": t, "artists": []} for t in plays],
        "likes": [],
        "plays": [{"trackId": t, "lastPlayedAt": at} for t, at in plays.items()],
        "playlists": [],
    }


@pytest.mark.e2e
def test_a_sync_in_between_is_read_again_and_kept(cache_url: str, user: str) -> None:
    gql(cache_url, SYNC, input=_library(user, {"spotify:track:a": "2024-01-01T00:00:00Z"}))
    headers = {"Authorization": f"Bearer {sync_token()}"}
    with httpx.Client(headers=headers, timeout=60) as http:
        cache = CacheClient(http, cache_url)
        cached = cache.read(user, likes=True)
        history = History(
            plays={"spotify:track:h": datetime(2024, 2, 1, tzinfo=UTC)},
            tracks={"spotify:track:h": {"trackId": "spotify:track:h", "title": "H", "artists": []}},
        )
        report = Report()
        built: list[CachedLibrary] = []

        def build(current: CachedLibrary) -> dict[str, Any]:
            if not built:  # another job syncs this user while we are building
                gql(
                    cache_url,
                    SYNC,
                    input=_library(
                        user,
                        {
                            "spotify:track:a": "2024-01-01T00:00:00Z",
                            "spotify:track:b": "2024-03-01T00:00:00Z",
                        },
                    ),
                )
            built.append(current)
            return build_import(user, history, current, report)

        result = submit_merged(cache, user, cached, build, report, read_likes=True)

    assert len(built) == 2
    assert report.cache_rereads == 1
    assert result["version"] == 3
    plays = [p["trackId"] for p in library(cache_url, user)["plays"]["items"]]
    assert plays == ["spotify:track:b", "spotify:track:h", "spotify:track:a"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_rewritten_line_on_a_terminal_only() -> None:
    report = Report(pages=3)
    report.items["likes"] = 150
    terminal = _Terminal()
    progress = Progress(report, terminal, every=0)
    progress.update("saved tracks")
    report.pages = 4
    progress.update("saved tracks")
    progress.done()
    assert terminal.getvalue().count("\r") == 2
    assert "saved tracks: 4 pages, 150 items, 0 retries, waited 0 s\n" in terminal.getvalue()

    pipe = io.StringIO()
    quiet = Progress(report, pipe, every=0)
    quiet.update("saved tracks")
    quiet.done()
    assert pipe.getvalue() == ""


@pytest.mark.e2e
def test_a_playlist_the_cache_no_longer_holds_is_fetched_after_all(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    fake.set_playlist(playlist("p", "s1"), [entry(track(1))])
    assert pull().code == 0
    headers = {"Authorization": f"Bearer {sync_token()}"}
    report = Report()
    progress = Progress(report, io.StringIO())
    with httpx.Client(timeout=30) as api, httpx.Client(headers=headers, timeout=60) as http:
        spotify = SpotifyClient(
            api,
            TokenFile(pull.token_file),
            report,
            progress,
            api_url=f"{fake.base_url}/v1",
            accounts_url=fake.base_url,
        )
        cache = CacheClient(http, cache_url)
        puller = SpotifyPuller(spotify, report, progress)
        cached = cache.read(pull.user)
        fetched = puller.fetch(cached)
        assert fake.item_requests("p") == 1  # only the first pull's: s1 is cached

        # Another job rewrites the playlist before this pull submits.
        other = {
            "userId": pull.user,
            "tracks": [],
            "likes": [],
            "plays": [],
            "playlists": [
                {"playlistId": "spotify:playlist:p", "name": "p", "snapshotId": "elsewhere",
                 "entries": [{"trackId": "spotify:track:t000001"}] * 3}
            ],
        }  # fmt: skip
        gql(cache_url, SYNC, input=other)
        fake.set_playlist(playlist("p", "s1"), [entry(track(2))])

        def build(current: CachedLibrary) -> dict[str, Any]:
            return puller.assemble(pull.user, fetched, current)

        submit_merged(cache, pull.user, cached, build, report)

    assert fake.item_requests("p") == 2
    entries = library(cache_url, pull.user)["playlists"][0]["entries"]
    assert [e["trackId"] for e in entries] == ["spotify:track:t000002"]


def test_an_unreachable_server_is_retried_then_named() -> None:
    closed = f"http://127.0.0.1:{free_port()}/graphql"
    waits: list[float] = []
    with httpx.Client(timeout=5) as http:
        cache = CacheClient(http, closed, sleep=waits.append, first_delay=0.5)
        with pytest.raises(CacheError) as refused:
            cache.read("user:nobody")
    assert refused.value.code == "SERVICE_UNAVAILABLE"
    assert str(refused.value) == "cannot reach the LibraryCache server: ConnectError"
    assert len(waits) == 4  # five attempts, backing off between them
    assert waits[-1] > waits[0]
