"""A TypeScript client generated from ``schema.graphql`` queries a real server.

``codegen/`` holds a pinned ``@graphql-codegen/cli`` setup (client preset: one typed document
per operation) and ``src/liked.ts``, which reads typed fields of ``library { liked }``: a
connection of ``Track`` nodes with global ids. This test
installs it with ``npm ci`` when ``node_modules`` is missing (``scripts/install`` does that
beforehand), generates the client from the committed schema, type-checks and compiles it with
``tsc``, then runs it under Node against ``librarycache serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.factories import make_library
from tests.serve_process import serve

ROOT = Path(__file__).resolve().parents[1]
CODEGEN = ROOT / "codegen"
USER = "user:codegen"
INGEST = "mutation Ingest($input: LibraryInput!) { ingest(input: $input) { version } }"

pytestmark = [
    pytest.mark.node,
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="needs Node.js 20+ and npm (apt-get install -y nodejs npm)",
    ),
]


def npm(*args: str, timeout: float = 120) -> str:
    """Run an npm command in codegen/; fail the test with its output if it fails."""
    done = subprocess.run(
        ["npm", *args],
        cwd=CODEGEN,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "NO_UPDATE_NOTIFIER": "1", "NPM_CONFIG_FUND": "false"},
    )
    if done.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def client_built() -> Path:
    """Install (if needed), generate from ../schema.graphql, type-check and compile."""
    if not (CODEGEN / "node_modules" / ".bin" / "graphql-codegen").exists():
        npm("ci", "--no-audit", "--loglevel=error", timeout=300)
    npm("run", "generate")
    npm("run", "build")
    return CODEGEN / "dist" / "liked.js"


def test_generated_types_follow_the_schema(client_built: Path) -> None:
    generated = (CODEGEN / "src" / "gql" / "graphql.ts").read_text()
    # The operation's result type, field by field, from the schema's own types; root and
    # refusable fields are nullable (partial results), edges and their nodes are not.
    assert "export type LikedQuery = { library: { id: string, userId: string, liked: {" in generated
    assert "trackIds: Array<string>" in generated
    assert "node: { id: string, title: string, artists: Array<string> } }>" in generated
    assert "} | null } | null };" in generated
    # DateTime is typed as the RFC 3339 string it arrives as, never any/unknown
    # (codegen.yml maps it; strictScalars fails generation for an unmapped scalar).
    assert "addedAt: string," in generated
    # Variables: userId is required (ID!), first is optional (Int).
    variables = generated[generated.index("export type LikedQueryVariables") :]
    assert "userId: string;" in variables
    assert "first?: number | null | undefined;" in variables


def test_generated_client_queries_a_real_server(client_built: Path, tmp_path: Path) -> None:
    library = make_library(USER, likes=3)
    with serve(tmp_path / "data") as base:
        response = httpx.post(
            f"{base}/graphql",
            json={"query": INGEST, "variables": {"input": library}},
            timeout=30,
        )
        assert response.json() == {"data": {"ingest": {"version": 1}}}, response.text

        done = subprocess.run(
            ["node", str(client_built), f"{base}/graphql", USER, "2"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    library_id, node_ids = result.pop("libraryId"), result.pop("trackNodeIds")
    assert len({library_id, *node_ids}) == 3  # global ids: opaque, distinct
    assert USER not in library_id
    assert result == {
        "userId": USER,
        "trackIds": ["track:2", "track:1"],  # newest first, first: 2
        "totalCount": 3,
        "titles": ["Title of track:2", "Title of track:1"],
        "newest": "2024-01-01T00:02:00+00:00",
        "hasNextPage": True,
    }


def test_generated_client_reports_server_errors(client_built: Path, tmp_path: Path) -> None:
    with serve(tmp_path / "data") as base:
        done = subprocess.run(
            ["node", str(client_built), f"{base}/graphql", USER, "-1"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "BAD_USER_INPUT" in done.stderr
