"""``librarycache spotify pull``: fetch the whole library, then build one ``LibraryInput``.

Fetching comes first and completes before anything is submitted: a run that fails
part-way submits nothing, so the cache keeps its last whole snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sources.spotify.cache import CachedLibrary
from sources.spotify.client import SpotifyClient
from sources.spotify.errors import Forbidden, NotFound
from sources.spotify.mapping import TrackTable, merge_plays, plays_input, timestamp
from sources.spotify.models import (
    CursorPaging,
    Paging,
    PlayHistory,
    PlaylistItem,
    SavedTrack,
    SimplifiedPlaylist,
)
from sources.spotify.report import Progress, Report

PAGE_SIZE = 50  # the largest limit each of these endpoints takes


@dataclass
class FetchedPlaylist:
    playlist: SimplifiedPlaylist
    # None: not fetched, because the cache holds the same snapshot_id (or the API refused).
    entries: list[dict[str, Any]] | None = None
    refused: str | None = None  # why the API refused its items

    @property
    def playlist_id(self) -> str:
        return self.playlist.uri


@dataclass
class Fetched:
    likes: list[dict[str, str]] = field(default_factory=list)
    playlists: list[FetchedPlaylist] = field(default_factory=list)
    plays: dict[str, datetime] = field(default_factory=dict)
    tracks: TrackTable = field(default_factory=TrackTable)


class Puller:
    def __init__(self, spotify: SpotifyClient, report: Report, progress: Progress) -> None:
        self._spotify = spotify
        self._report = report
        self._progress = progress

    def fetch(self, cached: CachedLibrary) -> Fetched:
        fetched = Fetched()
        self._likes(fetched)
        self._playlists(fetched, cached)
        self._recently_played(fetched)
        self._report.items["tracks"] = len(fetched.tracks)
        self._progress.update("fetched", force=True)
        return fetched

    def assemble(self, user_id: str, fetched: Fetched, cached: CachedLibrary) -> dict[str, Any]:
        """The ``LibraryInput`` to submit: fetched items, plus what the cache contributes."""
        report = self._report
        report.playlists_reused = 0
        report.playlists_kept, report.playlists_skipped = [], []
        playlists = []
        for item in fetched.playlists:
            old = cached.playlists.get(item.playlist_id)
            entries = item.entries
            if entries is None and item.refused is None:
                if old is not None and old.snapshot_id == item.playlist.snapshot_id:
                    report.playlists_reused += 1
                    entries = _cached_entries(old.entries)
                else:  # the cache moved since the fetch began: read this one after all
                    self._fetch_items(item, fetched.tracks)
                    entries = item.entries
            if entries is None:  # the API refused its items
                if old is None:
                    report.playlists_skipped.append(f"{item.playlist.name} ({item.refused})")
                    continue
                # Keep what the cache holds, under its own snapshot_id, never an empty list.
                report.playlists_kept.append(f"{item.playlist.name} ({item.refused})")
                playlists.append(
                    _playlist_input(item.playlist, _cached_entries(old.entries), old.snapshot_id)
                )
                continue
            playlists.append(_playlist_input(item.playlist, entries, item.playlist.snapshot_id))
        plays = merge_plays(cached.plays, fetched.plays)
        report.items["plays (merged with the cache)"] = len(plays)
        return {
            "userId": user_id,
            "tracks": fetched.tracks.inputs(),
            "likes": fetched.likes,
            "plays": plays_input(plays),
            "playlists": playlists,
        }

    def _likes(self, fetched: Fetched) -> None:
        seen: set[str] = set()
        for page in self._spotify.pages(
            "/me/tracks", Paging[SavedTrack | None], {"limit": PAGE_SIZE}
        ):
            for saved in page.items:
                if saved is None or saved.track is None:
                    self._report.skip("null saved tracks")
                    continue
                track_id = fetched.tracks.add(saved.track)
                if track_id in seen:
                    self._report.skip("saved tracks listed twice")
                    continue
                seen.add(track_id)
                fetched.likes.append({"trackId": track_id, "addedAt": timestamp(saved.added_at)})
            self._report.items["likes"] = len(fetched.likes)
            self._progress.update("saved tracks")

    def _playlists(self, fetched: Fetched, cached: CachedLibrary) -> None:
        listed: list[SimplifiedPlaylist] = []
        seen: set[str] = set()
        pages = self._spotify.pages(
            "/me/playlists", Paging[SimplifiedPlaylist | None], {"limit": PAGE_SIZE}
        )
        for page in pages:
            for playlist in page.items:
                if playlist is None:
                    self._report.skip("null playlists")
                elif playlist.uri in seen:
                    self._report.skip("playlists listed twice")
                else:
                    seen.add(playlist.uri)
                    listed.append(playlist)
            self._progress.update("playlists")
        self._report.items["playlists"] = len(listed)
        for playlist in listed:
            item = FetchedPlaylist(playlist)
            old = cached.playlists.get(item.playlist_id)
            unchanged = (
                old is not None
                and playlist.snapshot_id is not None
                and old.snapshot_id == playlist.snapshot_id
            )
            if not unchanged:
                self._fetch_items(item, fetched.tracks)
            fetched.playlists.append(item)

    def _fetch_items(self, item: FetchedPlaylist, tracks: TrackTable) -> None:
        try:
            item.entries = self._entries(item, tracks)
        except Forbidden:
            item.refused = "403 forbidden"
        except NotFound:
            item.refused = "404 not found"

    def _entries(self, item: FetchedPlaylist, tracks: TrackTable) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        pages = self._spotify.pages(
            f"/playlists/{item.playlist.id}/items",
            Paging[PlaylistItem | None],
            {"limit": PAGE_SIZE, "additional_types": "track,episode"},
        )
        for page in pages:
            for entry in page.items:
                playable = entry.playable if entry is not None else None
                if playable is None:
                    self._report.skip("null playlist items")
                    continue
                # The same track twice stays twice, in the playlist's order.
                value: dict[str, Any] = {"trackId": tracks.add(playable)}
                if entry is not None and entry.added_at is not None:
                    value["addedAt"] = timestamp(entry.added_at)
                entries.append(value)
            self._report.items["playlist entries fetched"] += len(page.items)
            self._progress.update("playlist items")
        return entries

    def _recently_played(self, fetched: Fetched) -> None:
        pages = self._spotify.pages(
            "/me/player/recently-played", CursorPaging[PlayHistory], {"limit": PAGE_SIZE}
        )
        for page in pages:
            for played in page.items:
                if played.track is None:
                    self._report.skip("recent plays without a track")
                    continue
                track_id = fetched.tracks.add(played.track)
                seen = fetched.plays.get(track_id)
                if seen is None or played.played_at > seen:
                    fetched.plays[track_id] = played.played_at
                self._report.items["recent plays"] += 1
            self._progress.update("recently played")
            if not page.items:
                break


def _cached_entries(entries: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in entries:
        value: dict[str, Any] = {"trackId": entry.track_id}
        if entry.added_at is not None:
            value["addedAt"] = timestamp(entry.added_at)
        out.append(value)
    return out


def _playlist_input(
    playlist: SimplifiedPlaylist, entries: list[dict[str, Any]], snapshot_id: str | None
) -> dict[str, Any]:
    return {
        "playlistId": playlist.uri,
        "name": playlist.name,
        "description": playlist.description or None,
        "snapshotId": snapshot_id,
        "entries": entries,
    }
