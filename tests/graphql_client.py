"""A tiny GraphQL-over-HTTP client for tests: one place that posts and unpacks."""

from __future__ import annotations

from typing import Any

import httpx

INGEST = """
mutation Ingest($input: LibraryInput!) {
  ingest(input: $input) { userId kind version likesAdded likesRemoved documentsWritten }
}"""
SYNC = """
mutation Sync($input: LibraryInput!) {
  sync(input: $input) { userId kind version likesAdded likesRemoved tracksUpserted }
}"""
LIBRARY = """
query Library($userId: ID!) {
  liked(userId: $userId) { trackIds totalCount }
  plays(userId: $userId) { trackIds }
  playlists(userId: $userId) {
    playlistId name entries { position trackId addedAt track { trackId title } }
  }
  lastSync(userId: $userId) { version kind }
}"""


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST an operation and return the JSON body, whatever the status."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST an operation that must succeed; fail with its errors otherwise."""
    body = await post(client, query, variables)
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result
