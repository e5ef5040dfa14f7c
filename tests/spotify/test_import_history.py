"""``librarycache spotify import-history`` against a real LibraryCache server."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.cli import main
from tests.spotify.conftest import Run, gql, library, sync_token

pytestmark = pytest.mark.e2e

T0 = datetime(2020, 1, 1, tzinfo=UTC)
SEED = """mutation($input: LibraryInput!) { sync(input: $input) { version } }"""


def row(n: int, at: datetime, ms: int = 200_000, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "linux",
        "ms_played": ms,
        "conn_country": "NL",
        "master_metadata_track_name": f"History Song {n}",
        "master_metadata_album_artist_name": f"History Artist {n % 10}",
        "master_metadata_album_album_name": f"History Album {n % 20}",
        "spotify_track_uri": f"spotify:track:h{n:06d}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "incognito_mode": False,
    }
    value.update(overrides)
    return value


def episode_row(at: datetime) -> dict[str, Any]:
    return row(
        0,
        at,
        spotify_track_uri=None,
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        master_metadata_album_album_name=None,
        episode_name="An Episode",
        episode_show_name="A Show",
        spotify_episode_uri="spotify:episode:x1",
    )


def _import(cache_url: str, user: str, capsys: pytest.CaptureFixture[str], *paths: Path) -> Run:
    capsys.readouterr()
    code = main(
        [
            "spotify", "import-history", "--user", user, "--server", cache_url,
            "--server-token", sync_token(), *map(str, paths),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _seed(cache_url: str, user: str) -> None:
    """A library with a like, a playlist and two plays, one newer than the history's."""
    tracks = [
        {"trackId": "spotify:track:h000001", "title": "Rich", "artists": ["X"],
         "durationMs": 1234, "isrc": "ISRC1"},
        {"trackId": "spotify:track:old", "title": "Old", "artists": ["Y"]},
    ]  # fmt: skip
    gql(
        cache_url,
        SEED,
        input={
            "userId": user,
            "tracks": tracks,
            "likes": [{"trackId": "spotify:track:old", "addedAt": "2019-01-01T00:00:00Z"}],
            "plays": [
                {"trackId": "spotify:track:old", "lastPlayedAt": "2018-01-01T00:00:00Z"},
                {"trackId": "spotify:track:h000001", "lastPlayedAt": "2030-01-01T00:00:00Z"},
            ],
            "playlists": [
                {
                    "playlistId": "spotify:playlist:p",
                    "name": "P",
                    "snapshotId": "s",
                    "entries": [{"trackId": "spotify:track:old"}, {"trackId": "spotify:track:old"}],
                }
            ],
        },
    )


@pytest.mark.parametrize("layout", ["files", "folder", "zip"])
def test_history_merges_into_the_plays_and_leaves_the_rest(
    cache_url: str, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    _seed(cache_url, user)
    export = tmp_path / "Spotify Extended Streaming History"
    export.mkdir()
    audio = [
        row(1, T0),  # older than the cached play of h1: the cached one stays
        row(2, T0),
        row(2, T0 + timedelta(days=3)),  # the latest ts per URI wins
        row(2, T0 + timedelta(days=1)),
        row(3, T0, ms=29_999),  # under 30 s: not a play
        row(4, T0, spotify_track_uri=None),
        episode_row(T0),
    ]
    old = [row(5, T0 - timedelta(days=400))]
    (export / "Streaming_History_Audio_2020.json").write_text(json.dumps(audio))
    (export / "endsong_0.json").write_text(json.dumps(old))
    (export / "Streaming_History_Video_2020.json").write_text("[]")  # not audio: ignored
    paths = {
        "files": [export / "Streaming_History_Audio_2020.json", export / "endsong_0.json"],
        "folder": [export],
        "zip": [_zip(export, tmp_path / "my_spotify_data.zip")],
    }[layout]

    run = _import(cache_url, user, capsys, *paths)
    assert run.code == 0, run.err

    cached = library(cache_url, user)
    plays = {p["trackId"]: p["lastPlayedAt"] for p in cached["plays"]["items"]}
    assert plays == {
        "spotify:track:old": "2018-01-01T00:00:00+00:00",
        "spotify:track:h000001": "2030-01-01T00:00:00+00:00",
        "spotify:track:h000002": "2020-01-04T00:00:00+00:00",
        "spotify:track:h000005": "2018-11-27T00:00:00+00:00",
    }
    assert cached["liked"]["trackIds"] == ["spotify:track:old"]
    assert [e["trackId"] for e in cached["playlists"][0]["entries"]] == ["spotify:track:old"] * 2
    assert cached["playlists"][0]["snapshotId"] == "s"
    tracks = gql(
        cache_url,
        """{ rich: track(trackId: "spotify:track:h000001") { title durationMs isrc }
             new: track(trackId: "spotify:track:h000002") { title artists album } }""",
    )
    assert tracks["rich"] == {"title": "Rich", "durationMs": 1234, "isrc": "ISRC1"}
    assert tracks["new"] == {
        "title": "History Song 2", "artists": ["History Artist 2"], "album": "History Album 2",
    }  # fmt: skip
    assert "1 episode streams" in run.out
    assert "1 streams under 30 s" in run.out
    assert "1 streams without a track URI" in run.out


def _zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in folder.iterdir():
            archive.write(file, f"Spotify Extended Streaming History/{file.name}")
    return target


def test_a_new_user_is_ingested_from_the_history(
    cache_url: str, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "Streaming_History_Audio_2021.json"
    file.write_text(json.dumps([row(n, T0 + timedelta(minutes=n)) for n in range(10)]))
    run = _import(cache_url, user, capsys, file)
    assert run.code == 0, run.err
    assert "ingest " in run.out
    assert library(cache_url, user)["lastSync"] == {"version": 1, "kind": "INGEST"}


def test_100k_rows_import_in_one_atomic_step(
    cache_url: str, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(cache_url, user)
    export = tmp_path / "export"
    export.mkdir()
    for part in range(4):  # Spotify splits the export into files of about 25,000 rows
        rows = [
            row(n % 20_000, T0 + timedelta(minutes=n))
            for n in range(part * 25_000, (part + 1) * 25_000)
        ]
        (export / f"Streaming_History_Audio_{2020 + part}.json").write_text(json.dumps(rows))
    run = _import(cache_url, user, capsys, _zip(export, tmp_path / "export.zip"))
    assert run.code == 0, run.err
    assert "100000 history rows" in run.out
    cached = gql(
        cache_url,
        """query($u: ID!) { plays(userId: $u, first: 1) { totalCount items { trackId } }
           lastSync(userId: $u) { version } }""",
        u=user,
    )
    assert cached["plays"]["totalCount"] == 20_001  # 20,000 from the history + "old"
    assert cached["lastSync"]["version"] == 2  # the seed, then one sync


def test_a_broken_row_is_named_and_nothing_is_submitted(
    cache_url: str, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(cache_url, user)
    file = tmp_path / "Streaming_History_Audio_2020.json"
    file.write_text(json.dumps([row(1, T0), {"ts": "yesterday", "ms_played": 1}]))
    run = _import(cache_url, user, capsys, file)
    assert run.code == 1
    assert f"{file}[1].ts" in run.err
    assert library(cache_url, user)["lastSync"]["version"] == 1


def test_a_folder_without_history_files_is_refused(
    cache_url: str, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _import(cache_url, user, capsys, tmp_path)
    assert run.code == 1
    assert "no Streaming_History_Audio_*.json or endsong_*.json files" in run.err
