"""Deterministic libraries for the benchmark, as GraphQL input and as store documents.

Library L of issue 5: 10,000 tracks, 10,000 likes, 2,000 plays, 50 playlists of 100 entries.
The same data is produced in three shapes: the ``LibraryInput`` a client sends (camelCase,
ISO timestamps), the documents the store writes (for the bare-pymongo baseline), and
documents for seeding other users straight into the store's collections.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from persistence._documents import LIVE, TRACK_DOC_KEYS, doc_id

BASE = datetime(2024, 1, 1, tzinfo=UTC)
_WORDS = [
    "blue",
    "night",
    "river",
    "static",
    "echo",
    "paper",
    "glass",
    "summer",
    "ghost",
    "velvet",
    "neon",
    "amber",
    "hollow",
    "signal",
    "silver",
    "golden",
    "quiet",
    "electric",
    "wild",
    "broken",
]


@dataclass(frozen=True)
class Shape:
    tracks: int = 10_000
    likes: int = 10_000
    plays: int = 2_000
    playlists: int = 50
    entries: int = 100

    @property
    def documents(self) -> int:
        return self.tracks + self.likes + self.plays + self.playlists


L = Shape()


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS).capitalize() for _ in range(rng.randint(1, 4)))


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_input(
    user_id: str, shape: Shape = L, *, prefix: str = "t", seed: int = 5
) -> dict[str, Any]:
    """A whole library as the ``LibraryInput`` variable of an ingest or sync."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    ids = [f"{prefix}:{i:07d}" for i in range(shape.tracks)]
    tracks = [
        {
            "trackId": t,
            "title": _title(rng),
            "artists": [_title(rng) for _ in range(rng.randint(1, 3))],
            "album": _title(rng),
            "durationMs": rng.randint(60_000, 600_000),
            "isrc": f"US{rng.randint(0, 10**10 - 1):010d}",
            "explicit": rng.random() < 0.1,
            "available": True,
            "tempo": round(rng.uniform(60, 200), 3),
            "energy": round(rng.random(), 3),
            "valence": round(rng.random(), 3),
        }
        for t in ids
    ]
    return {
        "userId": user_id,
        "tracks": tracks,
        "likes": [
            {"trackId": ids[i % len(ids)], "addedAt": _iso(BASE + timedelta(minutes=i))}
            for i in range(shape.likes)
        ],
        "plays": [
            {"trackId": ids[i % len(ids)], "lastPlayedAt": _iso(BASE + timedelta(hours=i))}
            for i in range(shape.plays)
        ],
        "playlists": [
            {
                "playlistId": f"pl:{user_id}:{p}",
                "name": f"Playlist {p} {_title(rng)}",
                "description": "made by the benchmark",
                "snapshotId": f"snap-{p}-1",
                "entries": [
                    {
                        "trackId": ids[rng.randrange(len(ids))],
                        "addedAt": _iso(BASE + timedelta(minutes=p * 1000 + e)),
                    }
                    for e in range(shape.entries)
                ],
            }
            for p in range(shape.playlists)
        ],
    }


def change_one_percent(library: dict[str, Any], *, prefix: str = "n") -> dict[str, Any]:
    """A copy of ``library`` with 1% of its items changed, the rest untouched.

    1% of likes removed and as many new ones (with new tracks) added, 1% of plays
    replayed, and 1% of playlists (at least one) given one more entry and a new snapshotId.
    """
    likes = list(library["likes"])
    plays = [dict(p) for p in library["plays"]]
    playlists = [dict(p) for p in library["playlists"]]
    n_likes = max(1, len(likes) // 100)
    start = datetime.fromisoformat(likes[-1]["addedAt"]) + timedelta(days=1)
    new_tracks = [
        {"trackId": f"{prefix}:{i:07d}", "title": f"New {i}", "artists": ["New Artist"]}
        for i in range(n_likes)
    ]
    likes = likes[n_likes:] + [
        {"trackId": t["trackId"], "addedAt": _iso(start + timedelta(minutes=i))}
        for i, t in enumerate(new_tracks)
    ]
    for i in range(max(1, len(plays) // 100)):
        plays[i]["lastPlayedAt"] = _iso(start + timedelta(hours=i))
    for i in range(max(1, len(playlists) // 100)):
        entry = {"trackId": new_tracks[0]["trackId"], "addedAt": _iso(start)}
        playlists[i]["entries"] = [*playlists[i]["entries"], entry]
        playlists[i]["snapshotId"] = f"{playlists[i]['snapshotId']}-changed"
    return {
        **library,
        "tracks": library["tracks"] + new_tracks,
        "likes": likes,
        "plays": plays,
        "playlists": playlists,
    }


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def store_documents(library: dict[str, Any], version: int = 1) -> dict[str, list[dict[str, Any]]]:
    """The documents the store keeps for ``library``, per collection, as it writes them."""
    user = library["userId"]
    return {
        "tracks": [
            {"_id": t["trackId"], **{k: t.get(k) for k in TRACK_DOC_KEYS}}
            for t in library["tracks"]
        ],
        "likes": [
            {
                "_id": doc_id(user, like["trackId"], version),
                "userId": user,
                "trackId": like["trackId"],
                "addedAt": _at(like["addedAt"]),
                "from": version,
                "to": LIVE,
            }
            for like in library["likes"]
        ],
        "plays": [
            {
                "_id": doc_id(user, play["trackId"], version),
                "userId": user,
                "trackId": play["trackId"],
                "lastPlayedAt": _at(play["lastPlayedAt"]),
                "from": version,
                "to": LIVE,
            }
            for play in library["plays"]
        ],
        "playlists": [
            {
                "_id": doc_id(user, p["playlistId"], version),
                "userId": user,
                "playlistId": p["playlistId"],
                "index": i,
                "name": p["name"],
                "description": p.get("description"),
                "snapshotId": p.get("snapshotId"),
                "entryCount": len(p["entries"]),
                "entries": [
                    {"trackId": e["trackId"], "addedAt": _at(e["addedAt"])} for e in p["entries"]
                ],
                "from": version,
                "to": LIVE,
            }
            for i, p in enumerate(library["playlists"])
        ],
    }


def library_document(library: dict[str, Any], version: int = 1) -> dict[str, Any]:
    """The ``libraries`` document of a user whose snapshot ``version`` is committed."""
    return {
        "_id": library["userId"],
        "version": version,
        "nextVersion": version,
        "floor": 0,
        "counts": {
            "likes": len(library["likes"]),
            "plays": len(library["plays"]),
            "playlists": len(library["playlists"]),
        },
    }


def seed_documents(
    user_id: str, track_ids: list[str], *, likes: int, playlists: int, entries: int
) -> dict[str, list[dict[str, Any]]]:
    """Another user's committed snapshot (version 1) in the store's format, built cheaply.

    For seeding the store straight through the driver: the likes and playlists refer to
    ``track_ids`` already cached by an ingest, so no track documents are needed.
    """
    n = len(track_ids)
    return {
        "likes": [
            {
                "_id": doc_id(user_id, track_ids[i % n], 1),
                "userId": user_id,
                "trackId": track_ids[i % n],
                "addedAt": BASE + timedelta(minutes=i),
                "from": 1,
                "to": LIVE,
            }
            for i in range(likes)
        ],
        "playlists": [
            {
                "_id": doc_id(user_id, f"pl:{user_id}:{p}", 1),
                "userId": user_id,
                "playlistId": f"pl:{user_id}:{p}",
                "index": p,
                "name": f"Playlist {p}",
                "description": None,
                "snapshotId": f"snap-{p}",
                "entryCount": entries,
                "entries": [
                    {"trackId": track_ids[(p * entries + e) % n], "addedAt": BASE}
                    for e in range(entries)
                ],
                "from": 1,
                "to": LIVE,
            }
            for p in range(playlists)
        ],
        "libraries": [
            {
                "_id": user_id,
                "version": 1,
                "nextVersion": 1,
                "floor": 0,
                "counts": {"likes": likes, "plays": 0, "playlists": playlists},
            }
        ],
    }
