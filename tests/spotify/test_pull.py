"""``librarycache spotify pull`` against the fake Spotify API and a real LibraryCache server."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from persistence.models import MAX_ID_LENGTH
from tests.serve_process import CLI, free_port
from tests.spotify.conftest import Puller, gql, library, sync_token, write_tokens
from tests.spotify.factories import (
    EPOCH,
    entry,
    episode,
    local_track,
    played,
    playlist,
    saved,
    track,
)
from tests.spotify.fake_api import FakeSpotify, Fault

pytestmark = pytest.mark.e2e


def _small_library(fake: FakeSpotify) -> None:
    """120 likes (3 pages), an own playlist with a local file, an episode, a null item and
    a duplicate, one in the older ``track`` shape, a followed playlist refused with 403
    and one of Spotify's own whose items answer 404."""
    fake.likes = [saved(n) for n in range(120)]
    fake.likes.insert(7, {"added_at": "2024-01-01T00:00:00Z", "track": None})
    fake.set_playlist(
        playlist("mix", "mix-s1", "Mix"),
        [
            entry(track(1), minute=1),
            entry(local_track("Demo")),
            entry(episode(5), minute=2),
            entry(None),
            entry(track(2), minute=3),
            entry(track(1), minute=4),
        ],
    )
    fake.set_playlist(playlist("old", "old-s1"), [entry(track(200), key="track")])
    fake.set_playlist(playlist("followed", "f-s1", "Followed", owner="other"), [])
    fake.forbidden.add("followed")
    fake.playlists.append(playlist("editorial", "e-s1", "Editorial", owner="spotify"))  # 404
    fake.playlists.insert(1, None)
    fake.recent = [played(track(n), EPOCH + timedelta(hours=n)) for n in range(300, 305)]


def test_pull_mirrors_the_library(pull: Puller, fake: FakeSpotify, cache_url: str) -> None:
    _small_library(fake)
    run = pull()
    assert run.code == 0, run.err

    cached = library(cache_url, pull.user)
    assert cached["lastSync"] == {"version": 1, "kind": "INGEST"}
    assert cached["liked"]["trackIds"] == [f"spotify:track:t{n:06d}" for n in range(120)]
    playlists = {p["playlistId"]: p for p in cached["playlists"]}
    assert set(playlists) == {"spotify:playlist:mix", "spotify:playlist:old"}
    mix = playlists["spotify:playlist:mix"]
    assert mix["snapshotId"] == "mix-s1"
    # The null item is skipped; the duplicate stays, in order; local file and episode by URI.
    assert [e["trackId"] for e in mix["entries"]] == [
        "spotify:track:t000001",
        "spotify:local:Local+Artist:Local+Album:Demo:215",
        "spotify:episode:e5",
        "spotify:track:t000002",
        "spotify:track:t000001",
    ]
    assert [e["trackId"] for e in playlists["spotify:playlist:old"]["entries"]] == [
        "spotify:track:t000200"
    ]
    assert [p["trackId"] for p in cached["plays"]["items"]] == [
        f"spotify:track:t{n:06d}" for n in range(304, 299, -1)
    ]

    tracks = gql(
        cache_url,
        """{ a: track(trackId: "spotify:track:t000002") {
               title artists album durationMs explicit isrc }
             l: track(trackId: "spotify:local:Local+Artist:Local+Album:Demo:215") { title album }
             e: track(trackId: "spotify:episode:e5") { title artists album } }""",
    )
    assert tracks["a"] == {
        "title": "Song 2", "artists": ["Artist 2"], "album": "Album 2",
        "durationMs": 180_002, "explicit": True, "isrc": "USRC10000002",
    }  # fmt: skip
    assert tracks["l"] == {"title": "Demo", "album": "Local Album"}
    assert tracks["e"] == {"title": "Episode 5", "artists": ["A Publisher"], "album": "A Podcast"}

    assert "1 null saved tracks" in run.out
    assert "1 null playlist items" in run.out
    assert "1 null playlists" in run.out
    assert (
        "playlists skipped (refused by the API, not cached): 2: "
        "Followed (403 forbidden), Editorial (404 not found)"
    ) in run.out


def test_second_pull_reuses_unchanged_playlists_and_accumulates_plays(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    fake.likes = [saved(n) for n in range(3)]
    fake.set_playlist(playlist("same", "same-1"), [entry(track(n)) for n in range(60)])
    fake.set_playlist(playlist("moves", "moves-1"), [entry(track(100))])
    fake.set_playlist(playlist("locked", "locked-1"), [entry(track(101)), entry(track(102))])
    fake.recent = [played(track(1), EPOCH), played(track(2), EPOCH + timedelta(hours=1))]
    assert pull().code == 0

    # Between the pulls: one playlist changes, one becomes refused, older plays leave the
    # API's 50-play window and track 2 is played again.
    fake.set_playlist(playlist("moves", "moves-2"), [entry(track(103)), entry(track(100))])
    fake.set_playlist(playlist("locked", "locked-2"), [])
    fake.forbidden.add("locked")
    fake.recent = [played(track(2), EPOCH + timedelta(days=2)), played(track(3), EPOCH)]
    fake.requests.clear()
    run = pull()
    assert run.code == 0, run.err

    assert fake.item_requests("same") == 0  # unchanged snapshot_id: not fetched again
    assert fake.item_requests("moves") == 1
    assert "playlists reused by snapshot_id: 1" in run.out
    assert "playlists kept from the cache (refused by the API): 1" in run.out
    cached = library(cache_url, pull.user)
    assert cached["lastSync"]["version"] == 2
    entries = {p["playlistId"]: [e["trackId"] for e in p["entries"]] for p in cached["playlists"]}
    assert entries["spotify:playlist:same"] == [f"spotify:track:t{n:06d}" for n in range(60)]
    assert entries["spotify:playlist:moves"] == ["spotify:track:t000103", "spotify:track:t000100"]
    assert entries["spotify:playlist:locked"] == ["spotify:track:t000101", "spotify:track:t000102"]
    plays = {p["trackId"]: p["lastPlayedAt"] for p in cached["plays"]["items"]}
    assert plays == {
        "spotify:track:t000001": "2025-01-01T00:00:00+00:00",
        "spotify:track:t000002": "2025-01-03T00:00:00+00:00",
        "spotify:track:t000003": "2025-01-01T00:00:00+00:00",
    }


def test_rate_limits_and_server_errors_are_waited_out(pull: Puller, fake: FakeSpotify) -> None:
    fake.likes = [saved(n) for n in range(120)]
    fake.set_playlist(playlist("p", "p-1"), [entry(track(n)) for n in range(10)])
    fake.fail("/v1/me/tracks", Fault(429, {"Retry-After": "1"}, offset=50))
    fake.fail("/v1/playlists/p/items", Fault(503), Fault(502))
    started = time.monotonic()
    run = pull()
    assert run.code == 0, run.err
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert "retries: 3" in run.out
    assert fake.requests.count("/v1/me/tracks?limit=50&offset=50") == 2


def test_a_source_that_keeps_failing_submits_nothing(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    fake.likes = [saved(n) for n in range(3)]
    assert pull().code == 0
    fake.likes = []  # a cut-short read must never reach the cache as an empty library
    fake.fail("/v1/me/playlists", *[Fault(500) for _ in range(50)])
    run = pull(max_wait=3)
    assert run.code == 1
    assert "GET /v1/me/playlists: HTTP 500" in run.err
    assert "--max-wait 3" in run.err
    assert "nothing was submitted" in run.err
    cached = library(cache_url, pull.user)
    assert cached["lastSync"]["version"] == 1
    assert cached["liked"]["totalCount"] == 3


def test_network_errors_back_off_within_max_wait(pull: Puller, fake: FakeSpotify) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    started = time.monotonic()
    run = pull("--api-url", closed, max_wait=2)
    assert run.code == 1
    assert "GET /v1/me/tracks: ConnectError; giving up" in run.err
    assert "--max-wait 2" in run.err
    assert time.monotonic() - started < 10


def test_a_long_rate_limit_ends_the_run_at_once(pull: Puller, fake: FakeSpotify) -> None:
    fake.fail("/v1/me/tracks", Fault(429, {"Retry-After": "3600"}))
    started = time.monotonic()
    run = pull(max_wait=60)
    assert run.code == 1
    assert "429 rate limited (Retry-After 3600 s)" in run.err
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("how", ["expired", "refused", "expired-pkce"])
def test_the_access_token_is_refreshed_and_the_rotated_tokens_saved(
    pull: Puller, fake: FakeSpotify, how: str
) -> None:
    fake.likes = [saved(n) for n in range(60)]
    if how.startswith("expired"):
        write_tokens(pull.token_file, fake, expires_at=time.time() - 10, pkce=how.endswith("pkce"))
    fake.revoke_access()  # the old access token gets 401 either way
    pull.token_file.chmod(0o644)
    run = pull()
    assert run.code == 0, run.err
    assert fake.refreshes == 1
    saved_tokens = json.loads(pull.token_file.read_text())
    assert saved_tokens["access_token"] == "access-1"
    assert saved_tokens["refresh_token"] == "refresh-1"  # rotated by the accounts service
    assert saved_tokens["expires_at"] > time.time() + 3000
    assert saved_tokens["client_id"] == "fake-client"
    assert ("client_secret" in saved_tokens) == (how != "expired-pkce")
    assert stat.S_IMODE(pull.token_file.stat().st_mode) == 0o600
    assert [p.name for p in pull.token_file.parent.iterdir()] == ["tokens.json"]
    for secret in ("access-1", "refresh-1", "refresh-0", "fake-secret"):
        assert secret not in run.out + run.err


def test_a_revoked_refresh_token_fails_clearly_without_leaking_it(
    pull: Puller, fake: FakeSpotify
) -> None:
    write_tokens(pull.token_file, fake, expires_at=time.time() - 10)
    fake.refresh_token = "something-else"
    run = pull()
    assert run.code == 1
    assert "refused the refresh token (HTTP 400 invalid_grant: Refresh token revoked)" in run.err
    assert "authorize again" in run.err
    assert "refresh-0" not in run.err + run.out
    assert "access-0" not in run.err + run.out


def test_a_token_file_without_a_refresh_token_is_a_usage_error(
    pull: Puller, fake: FakeSpotify
) -> None:
    pull.token_file.write_text(json.dumps({"access_token": "secret-value", "expires_at": 1}))
    run = pull()
    assert run.code == 2
    assert "refresh_token" in run.err
    assert "client_id" in run.err
    assert "secret-value" not in run.err


def test_a_large_library_is_read_page_by_page(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    fake.likes = [saved(n) for n in range(5_000)]
    big = [entry(track(10_000 + n % 1_500), minute=n) for n in range(2_000)]
    fake.set_playlist(playlist("big", "big-1"), big)
    run = pull()
    assert run.code == 0, run.err
    assert sum(r.startswith("/v1/me/tracks") for r in fake.requests) == 100
    assert fake.item_requests("big") == 40
    cached = gql(
        cache_url,
        """query($u: ID!) { liked(userId: $u) { totalCount }
           playlist(userId: $u, playlistId: "spotify:playlist:big") { entryCount
             entries(first: 3, after: "1498") { trackId } } }""",
        u=pull.user,
    )
    assert cached["liked"]["totalCount"] == 5_000
    assert cached["playlist"]["entryCount"] == 2_000
    assert [e["trackId"] for e in cached["playlist"]["entries"]] == [
        "spotify:track:t011499", "spotify:track:t010000", "spotify:track:t010001",
    ]  # fmt: skip


def test_ids_are_never_shortened_and_a_refused_one_is_named(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    prefix, suffix = "spotify:local:", ":::Long:215"
    fits = prefix + "a" * (MAX_ID_LENGTH - len(prefix) - len(suffix)) + suffix
    assert len(fits) == MAX_ID_LENGTH
    fake.set_playlist(playlist("ok", "ok-1"), [entry(local_track("Long", fits))])
    assert pull().code == 0
    cached = library(cache_url, pull.user)
    assert cached["playlists"][0]["entries"][0]["trackId"] == fits

    too_long = "spotify:local:" + "b" * MAX_ID_LENGTH + ":::Longer:215"
    fake.set_playlist(playlist("ok", "ok-2"), [entry(local_track("Longer", too_long))])
    run = pull()
    assert run.code == 5
    assert "BAD_USER_INPUT" in run.err
    assert "playlists[0].entries[0].trackId" in run.err or "tracks[0].trackId" in run.err
    assert library(cache_url, pull.user)["lastSync"]["version"] == 1


def test_dry_run_writes_the_library_file_and_submits_nothing(
    pull: Puller, fake: FakeSpotify, cache_url: str, tmp_path: Path
) -> None:
    fake.likes = [saved(n) for n in range(2)]
    out = tmp_path / "library.json"
    run = pull("--dry-run", "--out", str(out))
    assert run.code == 0, run.err
    assert "dry run: nothing was submitted" in run.out
    written = json.loads(out.read_text())
    assert written["userId"] == pull.user
    assert [like["trackId"] for like in written["likes"]] == [
        "spotify:track:t000000", "spotify:track:t000001",
    ]  # fmt: skip
    assert library(cache_url, pull.user)["lastSync"] is None


def test_out_alone_needs_no_server_and_an_unwritable_out_submits_nothing(
    pull: Puller, fake: FakeSpotify, cache_url: str, tmp_path: Path
) -> None:
    fake.likes = [saved(1)]
    out = tmp_path / "alone.json"
    run = pull("--out", str(out), server=False)
    assert run.code == 0, run.err
    assert json.loads(out.read_text())["likes"][0]["trackId"] == "spotify:track:t000001"

    run = pull("--out", str(tmp_path / "missing" / "library.json"))
    assert run.code == 2
    assert "cannot write" in run.err
    assert library(cache_url, pull.user)["lastSync"] is None


@pytest.mark.parametrize("flag", ["--api-url", "--accounts-url", "--server"])
def test_a_url_without_a_scheme_is_a_usage_error(
    pull: Puller, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        pull(flag, "api.example/v1")
    assert exited.value.code == 2
    assert f"argument {flag}: 'api.example/v1' is not an http(s) URL" in capsys.readouterr().err


def test_the_server_token_is_required_and_its_refusal_is_clear(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    run = pull("--server-token", sync_token(scope="library:read"))
    assert run.code == 5
    assert "FORBIDDEN" in run.err


def test_the_installed_command_runs_end_to_end(
    pull: Puller, fake: FakeSpotify, cache_url: str
) -> None:
    """The console script, as cron runs it: no terminal, so no progress line, and a summary."""
    fake.likes = [saved(n) for n in range(51)]
    done = subprocess.run(
        [
            CLI, "spotify", "pull", "--user", pull.user, "--token-file", str(pull.token_file),
            "--server", cache_url, "--api-url", f"{fake.base_url}/v1",
            "--accounts-url", fake.base_url,
        ],
        env={"LIBRARYCACHE_TOKEN": sync_token(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "ingest " in done.stdout
    assert "51 likes" in done.stdout
    assert library(cache_url, pull.user)["liked"]["totalCount"] == 51
