"""Every field of a Track comes back as it was sent, on every backend."""

from __future__ import annotations

from persistence import LibrarySnapshot, LibraryStore, Track
from persistence._documents import TRACK_FIELDS


async def test_every_track_field_round_trips(store: LibraryStore) -> None:
    full = Track(
        track_id="track:full",
        title="Título",
        artists=["A", "B feat. C"],
        album="Album",
        duration_ms=2**31 - 1,
        isrc="USRC17607839",
        explicit=True,
        available=False,
        tempo=123.456,
        energy=0.0,
        valence=1.0,
    )
    bare = Track(track_id="track:bare", title="Only a title", artists=[])
    # Every field of the model is set on ``full``, and the store maps each of them.
    assert set(Track.model_fields) - {"track_id"} == set(TRACK_FIELDS)
    assert all(getattr(full, name) is not None for name in Track.model_fields)
    library = LibrarySnapshot(
        user_id="user:alice", tracks=[full, bare], likes=[], plays=[], playlists=[]
    )
    await store.ingest(library)

    assert await store.tracks(["track:full", "track:bare"]) == {
        "track:full": full,
        "track:bare": bare,
    }
    # A reader's own objects get the same fields, by the model's names.
    assert await store.tracks(["track:full"], build=dict) == {"track:full": full.model_dump()}
