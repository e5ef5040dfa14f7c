// urql with Graphcache and relayPagination(): the same walk as Apollo's.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, fetchExchange, gql } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { relayPagination } from "@urql/exchange-graphcache/extras";

import { GRAPHQL, SYNC, countingFetch, makeLibrary, post, wholeLiked } from "./library.mjs";

const LIKED = gql`
  query Liked($userId: ID!, $first: Int!, $after: String) {
    library(userId: $userId) {
      id
      liked(first: $first, after: $after) {
        edges { cursor addedAt node { id trackId title } }
        pageInfo { hasNextPage endCursor }
        totalCount
      }
    }
  }
`;
const PLAYLIST = gql`
  query Playlist($userId: ID!, $playlistId: ID!, $first: Int!, $after: String) {
    library(userId: $userId) {
      id
      playlist(playlistId: $playlistId) {
        id
        name
        tracks(first: $first, after: $after) {
          edges { cursor position addedAt node { id trackId } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
  }
`;

function client() {
  const fetch = countingFetch();
  const urql = new Client({
    url: GRAPHQL,
    fetch,
    exchanges: [
      cacheExchange({
        // Edges, connections and pageInfo have no identity of their own: embedded.
        keys: Object.fromEntries(EMBEDDED.map((name) => [name, () => null])),
        resolvers: {
          Library: { liked: relayPagination() },
          Playlist: { tracks: relayPagination() },
        },
      }),
      fetchExchange,
    ],
  });
  return { urql, fetch };
}

const EMBEDDED = [
  "PageInfo",
  "LikedTrack",
  "LikedTracks",
  "PlaylistEntry",
  "PlaylistTrackConnection",
  "SyncReport",
];

async function walk(urql, query, variables, pick) {
  let after = null;
  for (;;) {
    const result = await urql.query(query, { ...variables, after }).toPromise();
    assert.equal(result.error, undefined);
    const { pageInfo } = pick(result.data);
    if (!pageInfo.hasNextPage) return pick(result.data);
    after = pageInfo.endCursor;
  }
}

test("walking liked page by page yields the whole list in order", async () => {
  const userId = "urql:walker";
  await post(SYNC, { input: makeLibrary(userId, { likes: 23, tie: 4 }) });
  const { urql } = client();

  const last = await walk(urql, LIKED, { userId, first: 5 }, (d) => d.library.liked);

  const expected = await wholeLiked(userId);
  assert.equal(expected.length, 23);
  // relayPagination merges every page into the field: the last result holds them all.
  assert.deepEqual(last.edges.map((e) => e.node.trackId), expected);
  assert.equal(last.totalCount, 23);
});

// Not with a track repeated: relayPagination() keeps one edge per node across pages (it
// dedupes by the node's key), so urql would show a repeated track once. Apollo keeps both.
test("a playlist's tracks page through in playlist order", async () => {
  const userId = "urql:listener";
  await post(SYNC, { input: makeLibrary(userId, { likes: 1, entries: 5, repeat: false }) });
  const { urql } = client();

  const last = await walk(urql, PLAYLIST, { userId, playlistId: `playlist:${userId}`, first: 2 }, (d) => d.library.playlist.tracks);

  assert.deepEqual(last.edges.map((e) => e.position), [0, 1, 2, 3, 4]);
  assert.deepEqual(
    last.edges.map((e) => e.node.trackId),
    [0, 1, 2, 3, 4].map((i) => `${userId}:track:${i}`),
  );
});

test("after a sync that selects the library, a cache-first liked query shows the new list", async () => {
  const userId = "urql:syncer";
  const library = makeLibrary(userId, { likes: 3 });
  await post(SYNC, { input: library });
  const { urql, fetch } = client();
  const before = await urql.query(LIKED, { userId, first: 50, after: null }).toPromise();
  assert.equal(before.data.library.liked.totalCount, 3);

  library.tracks.push({ trackId: `${userId}:track:new`, title: "Brand new", artists: ["Artist"] });
  library.likes.push({ trackId: `${userId}:track:new`, addedAt: "2025-01-01T00:00:00Z" });
  const synced = await urql
    .mutation(
      gql`
        mutation Sync($input: LibraryInput!) {
          sync(input: $input) {
            version
            library {
              id
              liked(first: 50) {
                edges { cursor addedAt node { id trackId title } }
                pageInfo { hasNextPage endCursor }
                totalCount
              }
            }
          }
        }
      `,
      { input: library },
    )
    .toPromise();
  assert.equal(synced.error, undefined);
  const requests = fetch.requests;

  const after = await urql.query(LIKED, { userId, first: 50, after: null }, { requestPolicy: "cache-first" }).toPromise();

  assert.equal(fetch.requests, requests, "answered from the cache");
  assert.equal(after.data.library.liked.totalCount, 4);
  assert.deepEqual(
    after.data.library.liked.edges.map((e) => e.node.trackId),
    ["new", "2", "1", "0"].map((i) => `${userId}:track:${i}`),
  );
});
