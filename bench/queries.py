"""The GraphQL operations the benchmark sends."""

from __future__ import annotations

_REPORT = """{
    kind version documentsWritten tracksUpserted likesAdded likesRemoved
    playsAdded playsRemoved playlistsAdded playlistsRemoved playlistsUpdated
    playlistsUnchanged durationMs
}"""

INGEST = "mutation Ingest($input: LibraryInput!) { ingest(input: $input) " + _REPORT + " }"
SYNC = "mutation Sync($input: LibraryInput!) { sync(input: $input) " + _REPORT + " }"

LIKED_IDS = "query LikedIds($userId: ID!) { liked(userId: $userId) { trackIds } }"

LIKED_PAGE = """query LikedPage($userId: ID!, $first: Int) {
  liked(userId: $userId, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    items {
      trackId addedAt cursor
      track { trackId title artists album durationMs explicit }
    }
  }
}"""

PLAYLISTS = """query Playlists($userId: ID!) {
  playlists(userId: $userId) { playlistId name snapshotId entryCount }
}"""
