"""Limits MongoDB enforces, checked before anything is written; long ids round-trip.

Spotify local-file URIs (``spotify:local:artist:album:title:secs``, URL-encoded) are longer
than the 256 characters ids were once limited to: one such file made a whole library
unsyncable. A playlist is one document with its entries embedded, and MongoDB stores at
most 16 MiB per document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from persistence import MAX_ID_LENGTH, InvalidInput, LibrarySnapshot, LibraryStore, Limits
from tests.factories import BASE, make_library, snapshot, track


def local_file_uri(length: int) -> str:
    """A Spotify local-file URI of exactly ``length`` characters."""
    title = quote("Ünïcödé tïtlé ", safe="") * (length // 40 + 1)
    uri = f"spotify:local:{quote('Artist Name')}:{quote('Album')}:{title}"
    return uri[: length - 4] + ":215"


@pytest.mark.parametrize("length", [1024, MAX_ID_LENGTH])
async def test_ids_of_local_files_round_trip(store: LibraryStore, length: int) -> None:
    long_id = local_file_uri(length)
    assert len(long_id) == length
    library = make_library(likes=2, playlists=1, entries=2)
    library["tracks"].append(track(long_id, title="A local file", artists=["Artist"]))
    library["likes"].append({"trackId": long_id, "addedAt": BASE.isoformat()})
    library["playlists"][0]["entries"].append({"trackId": long_id})
    library["playlists"][0]["playlistId"] = "p:" + long_id[2:]
    await store.ingest(snapshot(library))

    view = await store.view("user:alice")
    liked = await view.liked(first=2)
    rest = await view.liked(after=liked.end_cursor)
    assert long_id in [like.track_id for like in [*liked.items, *rest.items]]
    assert (await store.tracks([long_id]))[long_id].title == "A local file"
    entries = await view.playlist_entries("p:" + long_id[2:])
    assert entries.items[-1].track_id == long_id
    # And a sync that changes nothing writes nothing: the long ids compare as stored.
    assert (await store.sync(snapshot(library))).documents_written == 0


def test_an_id_past_the_limit_is_refused_by_name() -> None:
    library = make_library(likes=1)
    library["likes"][0]["trackId"] = "t" * (MAX_ID_LENGTH + 1)
    with pytest.raises(InvalidInput) as refused:
        snapshot(library)
    assert [p.field for p in refused.value.problems] == ["likes[0].trackId"]


async def test_ids_in_reads_are_bounded_by_name(store: LibraryStore) -> None:
    too_long = "x" * (MAX_ID_LENGTH + 1)
    with pytest.raises(InvalidInput, match=f"userId: is {MAX_ID_LENGTH + 1} characters"):
        await store.view(too_long)
    with pytest.raises(InvalidInput, match="trackId:"):
        await store.tracks(["track:0", too_long])
    with pytest.raises(InvalidInput, match="userId:"):
        await store.liked("u" * 10_000_000)  # a 10 MB id never travels to the store
    assert await store.tracks(["x" * MAX_ID_LENGTH]) == {}


async def test_a_playlist_over_16_mib_is_refused_by_name_and_nothing_is_written(
    store: LibraryStore,
) -> None:
    long_id = local_file_uri(MAX_ID_LENGTH)
    library: dict[str, Any] = make_library(likes=1, playlists=2, entries=1)
    library["tracks"].append(track(long_id, title="Local", artists=["Artist"]))
    # 9,000 entries of a 2,048-character id: about 18 MiB as one document.
    library["playlists"][1]["entries"] = [{"trackId": long_id}] * 9_000
    with pytest.raises(InvalidInput) as refused:
        LibrarySnapshot.parse(library, Limits(entries_per_playlist=10_000))
    (problem,) = refused.value.problems
    assert problem.field == "playlists[1]"
    assert "MiB; MongoDB stores at most 16 MiB" in problem.message
    assert await store.last_sync("user:alice") is None
    assert await store.tracks([long_id]) == {}

    # Just under the limit, the same playlist is stored whole.
    library["playlists"][1]["entries"] = [{"trackId": long_id}] * 7_000
    accepted = LibrarySnapshot.parse(library, Limits(entries_per_playlist=10_000))
    await store.ingest(accepted)
    view = await store.view("user:alice")
    entries = await view.playlist_entries("playlist:user:alice:1", last=2)
    assert entries.total == 7_000
    assert [e.position for e in entries.items] == [6_998, 6_999]
