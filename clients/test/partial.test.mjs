// Partial results through a client: one refused field beside a good one.
// Run by tests/e2e/test_clients.py against a server with authentication on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";

import { GRAPHQL } from "./library.mjs";

test("the good field's data arrives; the refused one is null with its code and path", async () => {
  const apollo = new ApolloClient({
    link: new HttpLink({ uri: GRAPHQL, headers: { authorization: `Bearer ${process.env.ALICE_TOKEN}` } }),
    cache: new InMemoryCache(),
  });

  const result = await apollo.query({
    query: gql`
      query Both($mine: ID!, $theirs: ID!) {
        mine: library(userId: $mine) { id userId }
        theirs: library(userId: $theirs) { id userId }
      }
    `,
    variables: { mine: "user:alice", theirs: "user:bob" },
    errorPolicy: "all",
  });

  assert.equal(result.data.mine.userId, "user:alice");
  assert.equal(result.data.theirs, null);
  assert.ok(CombinedGraphQLErrors.is(result.error), String(result.error));
  assert.equal(result.error.errors.length, 1);
  const [error] = result.error.errors;
  assert.equal(error.extensions.code, "FORBIDDEN");
  assert.deepEqual(error.path, ["theirs"]);
});
