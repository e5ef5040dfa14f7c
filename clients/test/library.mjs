// Shared by the client tests: the server under test, its libraries and a counting fetch.

export const BASE_URL = process.env.LIBRARYCACHE_URL ?? "http://127.0.0.1:8000";
export const GRAPHQL = `${BASE_URL}/graphql`;

const BASE = Date.parse("2024-01-01T00:00:00Z");

/**
 * A library as the API's LibraryInput. Likes come in runs of `tie` at one timestamp, so a
 * page boundary falls inside a run; the playlist holds `entries` tracks, and (`repeat`) the
 * first one again at the end.
 */
export function makeLibrary(userId, { likes = 23, tie = 4, entries = 5, repeat = true, playlistId, name } = {}) {
  const ids = Array.from({ length: Math.max(likes, entries) }, (_, i) => `${userId}:track:${i}`);
  const at = (minutes) => new Date(BASE + minutes * 60_000).toISOString();
  const playlistEntries = ids.slice(0, entries).map((trackId, i) => ({ trackId, addedAt: at(i) }));
  if (repeat) playlistEntries.push({ trackId: ids[0], addedAt: at(entries) });
  return {
    userId,
    tracks: ids.map((trackId) => ({ trackId, title: `Title of ${trackId}`, artists: ["Artist"] })),
    likes: ids.slice(0, likes).map((trackId, i) => ({ trackId, addedAt: at(Math.floor(i / tie)) })),
    plays: [],
    playlists: [
      {
        playlistId: playlistId ?? `playlist:${userId}`,
        name: name ?? `Playlist of ${userId}`,
        entries: playlistEntries,
      },
    ],
  };
}

/** POST one operation with plain fetch (setup and checks, not the client under test). */
export async function post(query, variables = {}, { token, url = GRAPHQL } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export const SYNC = `mutation Sync($input: LibraryInput!) { sync(input: $input) { version } }`;

/** The whole liked list, newest first, as the seed's `liked { trackIds }` gives it. */
export async function wholeLiked(userId, options) {
  const data = await post(`query ($u: ID!) { library(userId: $u) { liked { trackIds } } }`, { u: userId }, options);
  return data.library.liked.trackIds;
}

/** A fetch that counts the requests it sends. */
export function countingFetch() {
  const counted = (input, init) => {
    counted.requests += 1;
    return fetch(input, init);
  };
  counted.requests = 0;
  return counted;
}
