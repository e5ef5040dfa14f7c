"""Push one user's library to LibraryCache: ingest it the first time, sync it after that.

    LIBRARYCACHE_URL=http://127.0.0.1:8000 LIBRARYCACHE_TOKEN=eyJ... \\
        python examples/sync_job.py library.json

``library.json`` holds a ``LibraryInput`` as in ``schema.graphql``: ``userId``, ``tracks``,
``likes``, ``plays`` and ``playlists``. The token needs the ``library:sync`` scope (leave
``LIBRARYCACHE_TOKEN`` unset when the server runs without authentication).

The job tries ``ingest`` first; ``ALREADY_INGESTED`` means the user is known, so it sends the
same library as a ``sync``. ``CONFLICT`` (another sync of this user is running) and
unavailable-server answers are retried with exponential backoff and jitter; anything else is
reported and ends the job. A sync is all-or-nothing, so retrying one is always safe.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPORT = "userId kind version documentsWritten durationMs likesAdded likesRemoved"
MUTATIONS = {
    name: f"mutation($input: LibraryInput!) {{ {name}(input: $input) {{ {REPORT} }} }}"
    for name in ("ingest", "sync")
}
RETRIED = frozenset({"CONFLICT", "SERVICE_UNAVAILABLE", "TIMEOUT"})


class SyncJobError(Exception):
    """The server refused the library; the message says why."""


def push(
    client: httpx.Client,
    library: dict[str, Any],
    *,
    attempts: int = 6,
    first_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Ingest or sync ``library``; return the server's SyncReport."""
    mutation = "ingest"
    attempt = 0
    while True:
        body = _post(client, MUTATIONS[mutation], library)
        errors = body.get("errors") or []
        if not errors:
            report: dict[str, Any] = body["data"][mutation]
            return report
        code = errors[0].get("extensions", {}).get("code")
        if code == "ALREADY_INGESTED" and mutation == "ingest":
            mutation = "sync"
            continue
        attempt += 1
        if code not in RETRIED or attempt >= attempts:
            raise SyncJobError("; ".join(f"{e.get('message')}" for e in errors))
        delay = first_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
        print(f"{code}: retrying {mutation} in {delay:.1f} s", file=sys.stderr)
        sleep(delay)


def _post(client: httpx.Client, query: str, library: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post("/graphql", json={"query": query, "variables": {"input": library}})
    except httpx.TransportError as error:
        return _unavailable(f"{type(error).__name__}: {error}")
    if response.status_code in (502, 503, 504):  # a load balancer, or a server restarting
        return _unavailable(f"HTTP {response.status_code}")
    if not response.headers.get("content-type", "").startswith("application/"):
        response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _unavailable(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    library = json.loads(Path(argv[1]).read_text())
    headers = {"Accept": "application/graphql-response+json, application/json;q=0.9"}
    if token := os.environ.get("LIBRARYCACHE_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    base_url = os.environ.get("LIBRARYCACHE_URL", "http://127.0.0.1:8000")
    # A large library takes a while to write: wait as long as the server's sync timeout.
    timeout = httpx.Timeout(10.0, read=660.0)
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
        try:
            report = push(client, library)
        except SyncJobError as error:
            print(f"sync job failed: {error}", file=sys.stderr)
            return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
