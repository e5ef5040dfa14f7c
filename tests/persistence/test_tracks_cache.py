"""The global tracks cache: new tracks inserted, changed ones updated, and a track another
sync cached between our read and our write written over, not lost or refused."""

from __future__ import annotations

from typing import Any

from persistence import Track
from persistence._tracks import Tracks
from persistence.client import Client


def _track(track_id: str, title: str) -> Track:
    return Track(track_id=track_id, title=title, artists=["A"], tempo=120.0)


async def _stored(client: Client, db_name: str) -> dict[str, dict[str, Any]]:
    found = await client[db_name]["tracks"].find({}).to_list(None)
    return {d["_id"]: d for d in found}


async def test_new_tracks_are_inserted_and_changed_ones_updated(
    mongo_client: Client, db_name: str
) -> None:
    tracks = Tracks(mongo_client[db_name]["tracks"], batch=2)
    assert await tracks.upsert([_track("t:1", "One"), _track("t:2", "Two")]) == 2
    # t:1 unchanged, t:2 changed, t:3 new: two written, in batches of two.
    written = await tracks.upsert(
        [_track("t:1", "One"), _track("t:2", "Two, remastered"), _track("t:3", "Three")]
    )
    assert written == 2
    stored = await _stored(mongo_client, db_name)
    assert {k: d["title"] for k, d in stored.items()} == {
        "t:1": "One",
        "t:2": "Two, remastered",
        "t:3": "Three",
    }
    assert stored["t:3"]["tempo"] == 120.0


async def test_a_track_cached_by_another_sync_since_our_read_is_written_over(
    mongo_client: Client, db_name: str
) -> None:
    """Between our read (the track is new) and our insert, another sync caches it: the
    duplicate-key refusal is turned into upserts of ours, for the whole batch."""
    collection = mongo_client[db_name]["tracks"]
    tracks = Tracks(collection, batch=10)
    ours = [_track("t:1", "Ours"), _track("t:2", "Ours too")]
    original_find = tracks._find

    async def find_then_race(ids: list[str], projection: Any = None) -> list[dict[str, Any]]:
        found = await original_find(ids, projection)
        await collection.insert_one({"_id": "t:1", "title": "Theirs", "artists": []})
        return found

    tracks._find = find_then_race  # type: ignore[method-assign]
    assert await tracks.upsert(ours) == 2
    stored = await _stored(mongo_client, db_name)
    assert {k: (d["title"], d["artists"]) for k, d in stored.items()} == {
        "t:1": ("Ours", ["A"]),
        "t:2": ("Ours too", ["A"]),
    }
