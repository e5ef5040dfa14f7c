// The Apollo/Node peer of the benchmark: the operations the bench sends, written as an
// Apollo Server 5 user writes them. `@apollo/server` standalone, the official `mongodb`
// driver with its defaults, one `DataLoader` per request for tracks, and a sync that
// deletes the user's lists and inserts the new ones. No caching, no tuning.
//
//   MONGODB_URI=mongodb://... APOLLO_DB=apollo PORT=4000 node server.mjs
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import DataLoader from 'dataloader';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { MongoClient } from 'mongodb';

const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');
const client = new MongoClient(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017');
const db = client.db(process.env.APOLLO_DB ?? 'apollo');
const tracks = db.collection('tracks');
const likes = db.collection('likes');
const plays = db.collection('plays');
const playlists = db.collection('playlists');
const libraries = db.collection('libraries');
const MAX_PAGE = 500;

function badInput(message) {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function toDate(value) {
  const date = typeof value === 'string' ? new Date(value) : null;
  if (date === null || Number.isNaN(date.getTime())) {
    throw badInput(`DateTime cannot represent ${JSON.stringify(value)}`);
  }
  return date;
}

const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value : new Date(value)).toISOString(),
  parseValue: toDate,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput('DateTime must be a string');
    return toDate(ast.value);
  },
});

const encodeCursor = (addedAt, trackId) =>
  Buffer.from(`${addedAt.toISOString()}|${trackId}`).toString('base64');

function decodeCursor(cursor) {
  const [at, trackId] = Buffer.from(cursor, 'base64').toString('utf8').split('|');
  const addedAt = new Date(at);
  if (!trackId || Number.isNaN(addedAt.getTime())) throw badInput('after: not a cursor');
  return { addedAt, trackId };
}

const newestFirst = { addedAt: -1, trackId: -1 };

// LikedTracks is resolved field by field from { userId, first, after }; the page is read
// once per connection object (a memoised promise) whichever of its fields ask for it.
function likedConnection(userId, { first, after }) {
  const filter = { userId };
  if (after) {
    const { addedAt, trackId } = decodeCursor(after);
    filter.$or = [{ addedAt: { $lt: addedAt } }, { addedAt, trackId: { $lt: trackId } }];
  }
  const size = Math.min(first ?? MAX_PAGE, MAX_PAGE);
  if (size < 0) throw badInput('first: must not be negative');
  let page;
  return {
    userId,
    first,
    filter,
    page() {
      page ??= likes
        .find(filter, { projection: { _id: 0, trackId: 1, addedAt: 1 } })
        .sort(newestFirst)
        .limit(size + 1)
        .toArray()
        .then((docs) => ({ items: docs.slice(0, size), hasNextPage: docs.length > size }));
      return page;
    },
  };
}

function createLoaders() {
  return {
    track: new DataLoader(async (ids) => {
      const docs = await tracks.find({ _id: { $in: ids } }).toArray();
      const byId = new Map(docs.map((doc) => [doc._id, doc]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

const resolvers = {
  DateTime,
  Query: {
    library: (_, { userId }) => ({ userId }),
    liked: (_, { userId, ...args }) => likedConnection(userId, args),
    playlists: (_, { userId }) => playlists.find({ userId }).sort({ index: 1 }).toArray(),
  },
  Library: {
    id: ({ userId }) => Buffer.from(`Library:${userId}`).toString('base64'),
    liked: ({ userId }, args) => likedConnection(userId, args),
  },
  LikedTracks: {
    totalCount: ({ userId }) => likes.countDocuments({ userId }),
    trackIds: async (connection) => {
      if (connection.first != null) {
        return (await connection.page()).items.map((like) => like.trackId);
      }
      const docs = await likes
        .find(connection.filter, { projection: { _id: 0, trackId: 1 } })
        .sort(newestFirst)
        .toArray();
      return docs.map((like) => like.trackId);
    },
    items: async (connection) => (await connection.page()).items,
    edges: async (connection) => (await connection.page()).items,
    nodes: async (connection, _, { loaders }) =>
      loaders.track.loadMany((await connection.page()).items.map((like) => like.trackId)),
    pageInfo: async (connection) => {
      const { items, hasNextPage } = await connection.page();
      const last = items.at(-1);
      const first = items.at(0);
      return {
        hasNextPage,
        hasPreviousPage: false,
        startCursor: first ? encodeCursor(first.addedAt, first.trackId) : null,
        endCursor: last ? encodeCursor(last.addedAt, last.trackId) : null,
      };
    },
  },
  LikedTrack: {
    cursor: (like) => encodeCursor(like.addedAt, like.trackId),
    track: (like, _, { loaders }) => loaders.track.load(like.trackId),
    node: (like, _, { loaders }) => loaders.track.load(like.trackId),
  },
  Track: {
    id: (track) => Buffer.from(`Track:${track._id}`).toString('base64'),
    trackId: (track) => track._id,
    artists: (track) => track.artists ?? [],
  },
  Playlist: {
    id: (playlist) => Buffer.from(`Playlist:${playlist.userId}:${playlist.playlistId}`).toString('base64'),
    entryCount: (playlist) => playlist.entries.length,
    entries: (playlist, { after, first }) => {
      const start = after ? Number(Buffer.from(after, 'base64').toString('utf8')) + 1 : 0;
      const end = first == null ? undefined : start + first;
      return playlist.entries
        .slice(start, end)
        .map((entry, i) => ({ ...entry, position: start + i }));
    },
  },
  PlaylistEntry: {
    cursor: (entry) => Buffer.from(String(entry.position)).toString('base64'),
    track: (entry, _, { loaders }) => loaders.track.load(entry.trackId),
    node: (entry, _, { loaders }) => loaders.track.load(entry.trackId),
  },
  Mutation: {
    ingest: (_, { input }) => write('INGEST', input),
    sync: (_, { input }) => write('SYNC', input),
  },
};

function documents(input) {
  const { userId } = input;
  return {
    tracks: input.tracks.map(({ trackId, ...fields }) => ({
      updateOne: { filter: { _id: trackId }, update: { $set: fields }, upsert: true },
    })),
    likes: input.likes.map(({ trackId, addedAt }) => ({ userId, trackId, addedAt })),
    plays: input.plays.map(({ trackId, lastPlayedAt }) => ({ userId, trackId, lastPlayedAt })),
    playlists: input.playlists.map((playlist, index) => ({ userId, index, ...playlist })),
  };
}

async function insert(collection, docs) {
  return docs.length ? (await collection.insertMany(docs)).insertedCount : 0;
}

// Ingest: refused if the user has a library. Sync: the user's likes, plays and playlists
// are deleted and the new ones inserted (delete-then-insert, as the design card reads).
async function write(kind, input) {
  const started = Date.now();
  const { userId } = input;
  const existing = await libraries.findOne({ _id: userId });
  if (kind === 'INGEST' && existing) {
    throw new GraphQLError(`${userId} is already ingested; use sync`, {
      extensions: { code: 'ALREADY_INGESTED' },
    });
  }
  const docs = documents(input);
  const upserts = docs.tracks.length ? await tracks.bulkWrite(docs.tracks) : null;
  const removed = { likes: 0, plays: 0, playlists: 0 };
  if (existing) {
    for (const [name, collection] of [['likes', likes], ['plays', plays], ['playlists', playlists]]) {
      removed[name] = (await collection.deleteMany({ userId })).deletedCount;
    }
  }
  const added = {
    likes: await insert(likes, docs.likes),
    plays: await insert(plays, docs.plays),
    playlists: await insert(playlists, docs.playlists),
  };
  const version = (existing?.version ?? 0) + 1;
  const syncedAt = new Date();
  await libraries.updateOne({ _id: userId }, { $set: { version, syncedAt } }, { upsert: true });
  const tracksUpserted = upserts ? upserts.upsertedCount + upserts.modifiedCount : 0;
  return {
    kind,
    userId,
    version,
    documentsWritten:
      tracksUpserted + added.likes + added.plays + added.playlists +
      removed.likes + removed.plays + removed.playlists,
    tracksUpserted,
    likesAdded: added.likes,
    likesRemoved: removed.likes,
    playsAdded: added.plays,
    playsRemoved: removed.plays,
    playlistsAdded: added.playlists,
    playlistsRemoved: removed.playlists,
    playlistsUpdated: 0,
    playlistsUnchanged: 0,
    durationMs: Date.now() - started,
    syncedAt,
  };
}

await client.connect();
await likes.createIndex({ userId: 1, addedAt: -1, trackId: -1 });
await plays.createIndex({ userId: 1, lastPlayedAt: -1, trackId: -1 });
await playlists.createIndex({ userId: 1, index: 1 });
// nx-27017 plans a sorted find through a compound index only when a field of the filter
// also has a single-field index (docs/nx-27017-probes.md, item 6); LibraryCache's store
// creates the same one on the stand-in. It costs the Node process nothing.
for (const collection of [likes, plays, playlists]) await collection.createIndex({ userId: 1 });

const server = new ApolloServer({ typeDefs, resolvers });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.PORT ?? 4000), host: '127.0.0.1' },
  context: async () => ({ loaders: createLoaders() }),
});
console.log(`apollo peer ready at ${url}`);
