// graphql-ws against two server processes on one store: a sync through one is heard on the
// other. Run by tests/e2e/test_clients.py, which starts both with authentication on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { SYNC, makeLibrary, post } from "./library.mjs";

const [LISTENER, WRITER] = process.env.LIBRARYCACHE_URLS.split(",");
const { ALICE_TOKEN, ADMIN_TOKEN } = process.env;
const WS_URL = `${LISTENER.replace(/^http/, "ws")}/graphql`;
const SYNCED = `subscription Synced($userId: ID) { librarySynced(userId: $userId) { userId kind version totalLikes } }`;

function client(connectionParams) {
  return createClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
}

/** The first event, or the error or close that ends the subscription instead. */
function first(ws, variables) {
  return new Promise((resolve, reject) => {
    const dispose = ws.subscribe(
      { query: SYNCED, variables },
      {
        next: (value) => {
          dispose();
          resolve(value);
        },
        error: reject,
        complete: () => reject(new Error("completed without an event")),
      },
    );
  });
}

const within = (ms, promise) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`nothing in ${ms} ms`)), ms))]);

test("librarySynced arrives within seconds of a sync made through another server process", async () => {
  const ws = client({ authorization: `Bearer ${ALICE_TOKEN}` });
  const event = first(ws, {}); // no userId: the token's own library
  let heard = null;
  event.then((value) => (heard = value), () => {});
  // The protocol does not say when the server has subscribed: sync until it hears one,
  // every two seconds, each sync with a different number of likes to tell them apart.
  const sentAt = new Map();
  for (let likes = 1; heard === null && likes <= 8; likes += 1) {
    sentAt.set(likes, Date.now());
    await post(SYNC, { input: makeLibrary("user:alice", { likes }) }, { token: ADMIN_TOKEN, url: `${WRITER}/graphql` });
    await Promise.race([event.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000))]);
  }

  const { data } = await within(10_000, event);
  const { userId, kind, totalLikes } = data.librarySynced;
  assert.equal(userId, "user:alice");
  assert.equal(kind, "SYNC");
  const latency = Date.now() - sentAt.get(totalLikes);
  assert.ok(latency < 10_000, `heard ${latency} ms after its sync`);
  console.log(`# librarySynced heard ${latency} ms after its sync was sent (another process)`);
  await ws.dispose();
});

test("a connection without a token is closed with 4401 and the reason", async () => {
  const ws = client({});
  await assert.rejects(first(ws, { userId: "user:alice" }), (event) => {
    assert.equal(event.code, 4401);
    assert.match(event.reason, /Authorization: Bearer <JWT>/);
    return true;
  });
  await ws.dispose();
});

test("following another user's library is refused with FORBIDDEN at the field's path", async () => {
  const ws = client({ authorization: `Bearer ${ALICE_TOKEN}` });
  await assert.rejects(first(ws, { userId: "user:bob" }), (errors) => {
    assert.equal(errors.length, 1);
    assert.equal(errors[0].extensions.code, "FORBIDDEN");
    assert.deepEqual(errors[0].path, ["librarySynced"]);
    return true;
  });
  await ws.dispose();
});

test("a bad token in the upgrade is refused with a JSON 401, not a bare 403", async () => {
  const socket = new WebSocket(WS_URL, "graphql-transport-ws", { headers: { authorization: "Bearer not.a.jwt" } });
  const { status, body } = await new Promise((resolve, reject) => {
    socket.on("unexpected-response", (_request, response) => {
      let text = "";
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body: JSON.parse(text) }));
    });
    socket.on("open", () => reject(new Error("the handshake was accepted")));
  });
  assert.equal(status, 401);
  assert.equal(body.errors[0].extensions.code, "UNAUTHENTICATED");
  assert.match(body.errors[0].message, /not a well-formed JWT/);
});
