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

LIBRARY_LIKED_PAGE = """query LibraryLikedPage($userId: ID!, $first: Int) {
  library(userId: $userId) {
    id
    liked(first: $first) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor addedAt
        node { id trackId title artists album durationMs explicit }
      }
    }
  }
}"""

PLAYLISTS_ENTRIES = """query PlaylistsEntries($userId: ID!) {
  playlists(userId: $userId) {
    playlistId name snapshotId entryCount
    entries(first: 100) {
      position trackId addedAt track { trackId title artists album durationMs }
    }
  }
}"""
