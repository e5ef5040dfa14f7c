"""Bare-driver baselines, run in the bench process with synchronous pymongo.

CPU is ``time.process_time()`` of this process around the work only (the store
server's own CPU is not counted on either side).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pymongo import MongoClient, UpdateOne
from pymongo.database import Database

from bench.library import store_documents
from persistence._dialect import MongoDialect


def _visible(user_id: str, version: int) -> dict[str, Any]:
    """The production filter of a user's snapshot (a user with no dead versions)."""
    return MongoDialect().snapshot_filters(user_id, version, ())[0]


BATCH = 1000

Db = Database[dict[str, Any]]


def connect(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, tz_aware=True, socketTimeoutMS=600_000, connectTimeoutMS=20_000)


def write_documents(db: Db, documents: dict[str, list[dict[str, Any]]]) -> None:
    """What a hand-written ingest sends: tracks upserted by ``_id``, the rest inserted."""
    tracks = documents.get("tracks", [])
    for start in range(0, len(tracks), BATCH):
        ops = [
            UpdateOne(
                {"_id": t["_id"]}, {"$set": {k: v for k, v in t.items() if k != "_id"}}, upsert=True
            )
            for t in tracks[start : start + BATCH]
        ]
        db.tracks.bulk_write(ops, ordered=False)
    for name in ("likes", "plays", "playlists", "libraries"):
        docs = documents.get(name, [])
        for start in range(0, len(docs), BATCH):
            db[name].insert_many(docs[start : start + BATCH], ordered=False)


def ingest_cpu(db: Db, body: bytes) -> tuple[float, float]:
    """CPU of the equivalent of one ingest, and of its writes alone.

    Equivalent work: decode the same request body, build the same documents, write them.
    """
    start = time.process_time()
    library = orjson.loads(body)["variables"]["input"]
    documents = store_documents(library)
    built = time.process_time()
    write_documents(db, documents)
    end = time.process_time()
    return end - start, end - built


def liked_ids_cpu(
    db: Db, user_id: str, repeat: int, batch_size: int | None = None
) -> tuple[float, int]:
    """CPU per bare indexed find of all of a user's liked track ids, newest first.

    ``batch_size`` as the store sets it; ``None``: the driver's default (101 documents
    first, which nx-27017 also returns per later batch: 100 round trips for 10,000).
    """
    version = db.libraries.find_one({"_id": user_id}, {"version": 1})["version"]  # type: ignore[index]
    extra = {} if batch_size is None else {"batch_size": batch_size}
    count = 0
    start = time.process_time()
    for _ in range(repeat):
        cursor = db.likes.find(
            _visible(user_id, version),
            {"_id": 0, "trackId": 1},
            **extra,
        )
        ids = [d["trackId"] for d in cursor.sort([("addedAt", -1), ("trackId", -1)])]
        count = len(ids)
    return (time.process_time() - start) / repeat, count


def seed(db: Db, documents: dict[str, list[dict[str, Any]]]) -> None:
    """Insert documents as they are, in large unordered batches."""
    for name, docs in documents.items():
        for start in range(0, len(docs), 5000):
            db[name].insert_many(docs[start : start + 5000], ordered=False)


def sync_cpu(db: Db, body: bytes, version: int) -> float:
    """CPU of a bare sync of a whole library by delete-then-insert, as the peer does it.

    Decode the body, build the documents, upsert the tracks, delete the user's likes,
    plays and playlists and insert the new ones.
    """
    start = time.process_time()
    library = orjson.loads(body)["variables"]["input"]
    documents = store_documents(library, version)
    user = library["userId"]
    for name in ("likes", "plays", "playlists"):
        db[name].delete_many({"userId": user})
    documents.pop("libraries", None)
    write_documents(db, documents)
    db.libraries.update_one({"_id": user}, {"$set": {"version": version}}, upsert=True)
    return time.process_time() - start


_PLAYLIST_TRACK = {"title": 1, "artists": 1, "album": 1, "durationMs": 1}


def playlists_cpu(db: Db, user_id: str, repeat: int, first: int = 100) -> tuple[float, int]:
    """CPU per bare read of a user's playlists with their entries and the entries' tracks.

    The committed version, the playlists of its snapshot in order (``first`` entries of
    each), their tracks by one ``$in``, and the answer as JSON bytes (what
    ``PLAYLISTS_ENTRIES`` asks for).
    """
    entries = 0
    start = time.process_time()
    for _ in range(repeat):
        version = db.libraries.find_one({"_id": user_id}, {"version": 1})["version"]  # type: ignore[index]
        playlists = list(db.playlists.find(_visible(user_id, version)).sort("index", 1))
        ids = list({e["trackId"] for p in playlists for e in p["entries"][:first]})
        tracks = {t["_id"]: t for t in db.tracks.find({"_id": {"$in": ids}}, _PLAYLIST_TRACK)}
        answer = [
            {
                "playlistId": p["playlistId"],
                "name": p["name"],
                "snapshotId": p["snapshotId"],
                "entryCount": p["entryCount"],
                "entries": [
                    {
                        "position": i,
                        "trackId": e["trackId"],
                        "addedAt": e["addedAt"].isoformat(),
                        "track": {"trackId": e["trackId"], **tracks[e["trackId"]]},
                    }
                    for i, e in enumerate(p["entries"][:first])
                ],
            }
            for p in playlists
        ]
        orjson.dumps({"data": {"playlists": answer}})
        entries = sum(len(p["entries"]) for p in answer)
    return (time.process_time() - start) / repeat, entries
