/**
 * Reads a user's liked tracks through the client generated from ../schema.graphql.
 *
 *   npm run generate && npm run build
 *   node dist/liked.js http://127.0.0.1:8000/graphql user:alice [first]
 *
 * Prints the typed result as one JSON line. LIBRARYCACHE_TOKEN, when set, is sent as a bearer
 * token. Each field read below is typed from the schema: if the schema drops or retypes one,
 * `npm run build` fails instead of this script misbehaving at run time.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import { graphql } from "./gql/index.js";

export const Liked = graphql(`
  query Liked($userId: ID!, $first: Int) {
    library(userId: $userId) {
      id
      userId
      liked(first: $first) {
        totalCount
        trackIds
        edges {
          cursor
          addedAt
          node {
            id
            title
            artists
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

interface GraphQLResponse<TResult> {
  data?: TResult | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** POST one typed operation; resolve with its data, or reject with the server's errors. */
export async function execute<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<TResult> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json;q=0.9",
  };
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as GraphQLResponse<TResult>;
  if (body.errors?.length || body.data == null) {
    const reasons = (body.errors ?? []).map((e) => `${e.extensions?.code ?? "?"}: ${e.message}`);
    throw new Error(`HTTP ${response.status}: ${reasons.join("; ") || "no data"}`);
  }
  return body.data;
}

async function main(argv: string[]): Promise<void> {
  const [url, userId, first] = argv;
  if (!url || !userId) {
    throw new Error("usage: node dist/liked.js GRAPHQL_URL USER_ID [FIRST]");
  }
  const data = await execute(
    url,
    Liked,
    { userId, first: first === undefined ? null : Number(first) },
    process.env.LIBRARYCACHE_TOKEN,
  );
  // Nullable: a refused or failing field is null with its error, beside its siblings.
  const library = data.library;
  const liked = library?.liked;
  if (!library || !liked) {
    throw new Error("no library in the response");
  }
  const totalCount: number = liked.totalCount;
  const titles: string[] = liked.edges.map((edge) => edge.node.title);
  const newest: string | undefined = liked.edges[0]?.addedAt;
  const trackNodeIds: string[] = liked.edges.map((edge) => edge.node.id);
  console.log(
    JSON.stringify({
      userId: library.userId,
      libraryId: library.id,
      trackNodeIds,
      trackIds: liked.trackIds,
      totalCount,
      titles,
      newest,
      hasNextPage: liked.pageInfo.hasNextPage,
    }),
  );
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
