"""Merge an imported history into the cached library: plays only, the rest as it is."""

from __future__ import annotations

from typing import Any

from sources.spotify.cache import CachedLibrary, CachedPlaylist
from sources.spotify.history import History
from sources.spotify.mapping import merge_plays, plays_input, timestamp
from sources.spotify.report import Report


def build_import(
    user_id: str, history: History, cached: CachedLibrary, report: Report
) -> dict[str, Any]:
    """The user's cached likes and playlists unchanged, plays merged with the history.

    Track metadata is sent only for tracks this library does not reference yet: a
    history row knows title, artist and album only, and sending it for a cached track
    would overwrite the duration and ISRC a pull stored.
    """
    known = set(cached.plays) | {track_id for track_id, _ in cached.likes}
    for playlist in cached.playlists.values():
        known.update(entry.track_id for entry in playlist.entries)
    imported = {}
    unknown = 0
    for uri, played_at in history.plays.items():
        if uri in known or uri in history.tracks:
            imported[uri] = played_at
        else:
            unknown += 1
    if unknown:
        report.skipped["plays of tracks with no metadata in the history"] = unknown
    plays = merge_plays(cached.plays, imported)
    report.items["plays (merged with the cache)"] = len(plays)
    return {
        "userId": user_id,
        "tracks": [history.tracks[uri] for uri in imported if uri not in known],
        "likes": [
            {"trackId": track_id, "addedAt": timestamp(added_at)}
            for track_id, added_at in cached.likes
        ],
        "plays": plays_input(plays),
        "playlists": [_playlist(p) for p in cached.playlists.values()],
    }


def _playlist(playlist: CachedPlaylist) -> dict[str, Any]:
    return {
        "playlistId": playlist.playlist_id,
        "name": playlist.name,
        "description": playlist.description,
        "snapshotId": playlist.snapshot_id,
        "entries": [
            {
                "trackId": e.track_id,
                "addedAt": None if e.added_at is None else timestamp(e.added_at),
            }
            for e in playlist.entries
        ],
    }
