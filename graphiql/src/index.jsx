// Entry point of the GraphiQL bundle that LibraryCache serves at /graphql.
//
// Built by scripts/build-graphiql into server/static/graphiql/graphiql.{js,css}.
// Everything (React, GraphiQL, CodeMirror 5, fonts as data: URIs) is in those two
// files, so the page makes no request outside the app's own origin.
import React, { useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import "graphiql/graphiql.css";

// The headers typed in GraphiQL's Headers tab (a JSON object, e.g.
// {"Authorization": "Bearer ..."}) are kept in this browser's localStorage under this
// key, put back in the Headers tab on the next load, and sent with every request.
const HEADERS_KEY = "librarycache.graphiql.headers";
// Headers are saved, and the schema fetched again, once typing pauses this long.
const SETTLE_MS = 400;

const container = document.getElementById("graphiql");
// The server says whether it wants a bearer token (data-auth="bearer").
const AUTH_REQUIRED = container.dataset.auth === "bearer";
const TOKEN = /^Bearer\s+\S+/i;

// A JSON object of string values, or null for anything else (half-typed JSON included).
function parseHeaders(text) {
  if (!text || !text.trim()) return {};
  try {
    const parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return null;
    return parsed;
  } catch {
    return null;
  }
}

function storedHeaders() {
  try {
    const parsed = parseHeaders(window.localStorage.getItem(HEADERS_KEY));
    return parsed && Object.keys(parsed).length ? parsed : null;
  } catch {
    return null; // storage refused (private mode, quota): start empty
  }
}

function storeHeaders(headers) {
  try {
    if (Object.keys(headers).length) {
      window.localStorage.setItem(HEADERS_KEY, JSON.stringify(headers));
    } else {
      window.localStorage.removeItem(HEADERS_KEY);
    }
  } catch {
    // Not kept across reloads then; they are still sent.
  }
}

function hasToken(headers) {
  return Object.entries(headers).some(
    ([name, value]) => name.toLowerCase() === "authorization" && TOKEN.test(String(value)),
  );
}

const INITIAL = storedHeaders() ?? (AUTH_REQUIRED ? { Authorization: "Bearer " } : {});
const INITIAL_TEXT = Object.keys(INITIAL).length ? JSON.stringify(INITIAL, null, 2) : undefined;

const DEFAULT_QUERY = `# Welcome to LibraryCache GraphiQL.
#
# Type a query here and press Ctrl-Enter (or the run button) to execute it.
${
  AUTH_REQUIRED
    ? `# This server needs a token: in the "Headers" tab below, put
#   {"Authorization": "Bearer <JWT>"}
# The schema is fetched once it is there, and the headers are kept in this browser.`
    : `# Headers (e.g. Authorization) go in the "Headers" tab below; they are kept in this browser.`
}
{
  __typename
}
`;

function App() {
  const [headers, setHeaders] = useState(INITIAL);
  const [typed, setTyped] = useState(null);

  // Save and apply the headers once the typing pauses and the text is a JSON object.
  useEffect(() => {
    if (typed === null) return undefined;
    const timer = window.setTimeout(() => {
      const parsed = parseHeaders(typed);
      if (parsed === null) return;
      storeHeaders(parsed);
      setHeaders((previous) =>
        JSON.stringify(previous) === JSON.stringify(parsed) ? previous : parsed,
      );
    }, SETTLE_MS);
    return () => window.clearTimeout(timer);
  }, [typed]);

  // A new fetcher when the headers change makes GraphiQL fetch the schema again, with them.
  const fetcher = useMemo(
    () => createGraphiQLFetcher({ url: window.location.pathname, headers }),
    [headers],
  );
  // null: no introspection at all, rather than an UNAUTHENTICATED error nobody asked for.
  const schema = AUTH_REQUIRED && !hasToken(headers) ? null : undefined;

  return (
    <GraphiQL
      fetcher={fetcher}
      schema={schema}
      defaultQuery={DEFAULT_QUERY}
      headers={INITIAL_TEXT}
      onEditHeaders={setTyped}
      isHeadersEditorEnabled={true}
      defaultEditorToolsVisibility={AUTH_REQUIRED && !hasToken(INITIAL) ? "headers" : undefined}
    />
  );
}

createRoot(container).render(<App />);
