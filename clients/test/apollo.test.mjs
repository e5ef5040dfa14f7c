// Apollo Client 4 with a default InMemoryCache and relayStylePagination(), against the server.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

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
          edges { cursor position addedAt node { id title } }
          pageInfo { hasNextPage endCursor }
          totalCount
        }
      }
    }
  }
`;

function client() {
  const fetch = countingFetch();
  const apollo = new ApolloClient({
    link: new HttpLink({ uri: GRAPHQL, fetch }),
    cache: new InMemoryCache({
      typePolicies: {
        Library: { fields: { liked: relayStylePagination() } },
        Playlist: { fields: { tracks: relayStylePagination() } },
      },
    }),
  });
  return { apollo, fetch };
}

/** Resolves with the first result of `observable` (now or later) that satisfies `ok`. */
function until(observable, ok) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the watched query never showed it")), 10_000);
    const subscription = observable.subscribe((result) => {
      if (result.data && ok(result.data)) {
        clearTimeout(timer);
        queueMicrotask(() => subscription.unsubscribe());
        resolve(result.data);
      }
    });
  });
}

/** Watch `query`, then fetchMore after each page's end cursor until there is no next page. */
async function walk(apollo, query, variables, pick) {
  const observable = apollo.watchQuery({ query, variables });
  let page = pick((await observable.refetch()).data);
  let pages = 1;
  while (page.pageInfo.hasNextPage) {
    page = pick((await observable.fetchMore({ variables: { after: page.pageInfo.endCursor } })).data);
    pages += 1;
  }
  // The watched query shows the pages merged (Apollo broadcasts the cache write async).
  const merged = await until(observable, (data) => pick(data).edges.length === page.totalCount);
  return { connection: pick(merged), pages };
}

test("fetchMore to the end yields the whole liked list in order, each track stored once", async () => {
  const userId = "apollo:walker";
  await post(SYNC, { input: makeLibrary(userId, { likes: 23, tie: 4 }) });
  const { apollo } = client();

  const { connection, pages } = await walk(apollo, LIKED, { userId, first: 5 }, (d) => d.library.liked);

  const expected = await wholeLiked(userId);
  assert.equal(expected.length, 23);
  assert.deepEqual(connection.edges.map((e) => e.node.trackId), expected);
  assert.equal(connection.totalCount, 23);
  assert.equal(pages, 5);

  const stored = Object.entries(apollo.cache.extract());
  const tracks = stored.filter(([key]) => key.startsWith("Track:"));
  assert.equal(tracks.length, 23, "each Track once, under its id");
  assert.deepEqual(tracks.map(([, track]) => track.trackId).sort(), [...expected].sort());
  // The edges hold references to those entries, not copies.
  const liked = Object.values(apollo.cache.extract()).find((entry) => entry.__typename === "Library");
  const edges = Object.entries(liked).find(([key]) => key.startsWith("liked"))[1].edges;
  assert.ok(edges.every((edge) => edge.node.__ref?.startsWith("Track:")));
});

test("a playlist's tracks page through, the same track twice at two positions", async () => {
  const userId = "apollo:listener";
  await post(SYNC, { input: makeLibrary(userId, { likes: 1, entries: 5 }) });
  const { apollo } = client();
  const variables = { userId, playlistId: `playlist:${userId}`, first: 2 };

  const { connection, pages } = await walk(apollo, PLAYLIST, variables, (d) => d.library.playlist.tracks);

  assert.equal(pages, 3);
  assert.deepEqual(connection.edges.map((e) => e.position), [0, 1, 2, 3, 4, 5]);
  assert.equal(connection.edges[5].node.id, connection.edges[0].node.id);
  assert.equal(connection.edges[5].node.title, `Title of ${userId}:track:0`);
});

test("two users' playlists of one playlistId stay apart in the cache", async () => {
  const playlistId = "playlist:followed-by-both";
  for (const userId of ["apollo:alice", "apollo:bob"]) {
    await post(SYNC, { input: makeLibrary(userId, { likes: 1, entries: 2, playlistId, name: `${userId}'s copy` }) });
  }
  const { apollo } = client();

  for (const userId of ["apollo:alice", "apollo:bob"]) {
    await apollo.query({ query: PLAYLIST, variables: { userId, playlistId, first: 10 } });
  }

  for (const userId of ["apollo:alice", "apollo:bob"]) {
    const { data } = await apollo.query({
      query: PLAYLIST,
      variables: { userId, playlistId, first: 10 },
      fetchPolicy: "cache-only",
    });
    assert.equal(data.library.playlist.name, `${userId}'s copy`);
    assert.equal(data.library.playlist.tracks.edges[0].node.title, `Title of ${userId}:track:0`);
  }
  const playlists = Object.keys(apollo.cache.extract()).filter((key) => key.startsWith("Playlist:"));
  assert.equal(playlists.length, 2);
});

test("a sync whose payload selects the library updates the cached list with no refetch", async () => {
  const userId = "apollo:syncer";
  const library = makeLibrary(userId, { likes: 3 });
  await post(SYNC, { input: library });
  const { apollo, fetch } = client();
  const observable = apollo.watchQuery({ query: LIKED, variables: { userId, first: 50 } });
  await until(observable, (data) => data.library.liked.totalCount === 3);
  const requests = fetch.requests;

  const newer = { trackId: `${userId}:track:new`, title: "Brand new", artists: ["Artist"] };
  library.tracks.push(newer);
  library.likes.push({ trackId: newer.trackId, addedAt: "2025-01-01T00:00:00Z" });
  await apollo.mutate({
    mutation: gql`
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
    variables: { input: library },
  });

  const shown = await until(observable, (data) => data.library.liked.totalCount === 4);
  assert.equal(shown.library.liked.edges[0].node.title, "Brand new");
  assert.equal(shown.library.liked.edges.length, 4);
  assert.equal(fetch.requests - requests, 1, "the mutation only: no refetch");
});
