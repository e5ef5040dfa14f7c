"""``librarycache spotify import-history``: Spotify's extended streaming history export.

Rows look like ``{"ts": "2021-03-14T12:34:56Z", "ms_played": 215000,
"spotify_track_uri": "spotify:track:…", "master_metadata_track_name": …,
"master_metadata_album_artist_name": …, "master_metadata_album_album_name": …,
"spotify_episode_uri": null, …}`` in ``Streaming_History_Audio_*.json`` (older exports:
``endsong_*.json``), given as files, a folder or the ZIP as downloaded.
"""

from __future__ import annotations

import fnmatch
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from sources.spotify.errors import HistoryError
from sources.spotify.report import Progress, Report

MIN_MS_PLAYED = 30_000  # Spotify's own rule: a stream counts as a play from 30 s on
PATTERNS = ("Streaming_History_Audio_*.json", "endsong_*.json")


class HistoryRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    ts: AwareDatetime
    ms_played: int
    spotify_track_uri: str | None = None
    spotify_episode_uri: str | None = None
    master_metadata_track_name: str | None = None
    master_metadata_album_artist_name: str | None = None
    master_metadata_album_album_name: str | None = None


@dataclass
class History:
    """Latest play per track URI, and each track's metadata from its latest row."""

    plays: dict[str, datetime] = field(default_factory=dict)
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)


def history_files(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every history file among ``paths``, in a stable order."""
    for path in paths:
        if path.is_dir():
            found = sorted(p for pattern in PATTERNS for p in path.rglob(pattern) if p.is_file())
            if not found:
                raise HistoryError(f"{path}: no {' or '.join(PATTERNS)} files in this folder")
            for file in found:
                yield str(file), file.read_bytes()
        elif zipfile.is_zipfile(path):
            yield from _zip_members(path)
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            raise HistoryError(f"{path}: no such file or folder")


def _zip_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            name
            for name in archive.namelist()
            if any(fnmatch.fnmatch(PurePosixPath(name).name, p) for p in PATTERNS)
        )
        if not names:
            raise HistoryError(f"{path}: no {' or '.join(PATTERNS)} files in this ZIP")
        for name in names:
            yield f"{path}:{name}", archive.read(name)


def read_history(paths: list[Path], report: Report, progress: Progress) -> History:
    history = History()
    for name, content in history_files(paths):
        try:
            rows = json.loads(content)
        except ValueError as error:
            raise HistoryError(f"{name}: not JSON ({error})") from None
        if not isinstance(rows, list):
            raise HistoryError(f"{name}: expected a JSON array of streams")
        report.items["history files"] += 1
        for index, raw in enumerate(rows):
            try:
                row = HistoryRow.model_validate(raw)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(map(str, first["loc"])) or "(row)"
                raise HistoryError(f"{name}[{index}].{where}: {first['msg']}") from None
            _add(history, row, report)
        report.items["history rows"] += len(rows)
        progress.update("reading history")
    report.items["plays in the history"] = len(history.plays)
    return history


def _add(history: History, row: HistoryRow, report: Report) -> None:
    if row.spotify_episode_uri:
        report.skip("episode streams")
        return
    uri = row.spotify_track_uri
    if not uri:
        report.skip("streams without a track URI")
        return
    if row.ms_played < MIN_MS_PLAYED:
        report.skip("streams under 30 s")
        return
    seen = history.plays.get(uri)
    if seen is not None and seen >= row.ts:
        return
    history.plays[uri] = row.ts
    if row.master_metadata_track_name:
        artist = row.master_metadata_album_artist_name
        track: dict[str, Any] = {
            "trackId": uri,
            "title": row.master_metadata_track_name,
            "artists": [artist] if artist else [],
        }
        if row.master_metadata_album_album_name:
            track["album"] = row.master_metadata_album_album_name
        history.tracks[uri] = track
