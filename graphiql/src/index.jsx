// Entry point of the GraphiQL bundle that LibraryCache serves at /graphql.
//
// Built by scripts/build-graphiql into server/static/graphiql/graphiql.{js,css}.
// Everything (React, GraphiQL, CodeMirror 5, fonts as data: URIs) is in those two
// files, so the page makes no request outside the app's own origin.
import React from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import "graphiql/graphiql.css";

// Headers stored in this browser (a JSON object, e.g. {"Authorization": "Bearer ..."})
// are put in GraphiQL's headers editor on load, so they are both visible and sent.
// Set them from the console with:
//   localStorage.setItem("librarycache.graphiql.headers",
//                        JSON.stringify({ Authorization: "Bearer <token>" }))
const HEADERS_KEY = "librarycache.graphiql.headers";

function storedHeaders() {
  try {
    const raw = window.localStorage.getItem(HEADERS_KEY);
    if (!raw) return undefined;
    const parsed = JSON.parse(raw);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      return undefined;
    }
    return JSON.stringify(parsed, null, 2);
  } catch {
    return undefined;
  }
}

const fetcher = createGraphiQLFetcher({ url: window.location.pathname });

const DEFAULT_QUERY = `# Welcome to LibraryCache GraphiQL.
#
# Type a query here and press Ctrl-Enter (or the run button) to execute it.
# Put an Authorization header in the "Headers" tab below if the API needs one.
{
  __typename
}
`;

const container = document.getElementById("graphiql");
createRoot(container).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={DEFAULT_QUERY}
    headers={storedHeaders()}
    isHeadersEditorEnabled={true}
  />,
);
