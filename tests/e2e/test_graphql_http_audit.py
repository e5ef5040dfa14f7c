"""graphql-http's third-party audit of the GraphQL over HTTP specification, against a real
``librarycache serve`` (the protocol details are in tests/http/test_graphql_over_http.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.serve_process import serve

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance"


@pytest.mark.e2e
@pytest.mark.node
@pytest.mark.skipif(
    not (CONFORMANCE / "node_modules").is_dir() or shutil.which("node") is None,
    reason="needs Node.js and `npm ci` in conformance/ (scripts/install does it)",
)
def test_graphql_http_audit_passes_without_warnings(tmp_path: Path) -> None:
    with serve(tmp_path / "data") as base:
        run = subprocess.run(
            ["node", str(CONFORMANCE / "audit.mjs"), f"{base}/graphql"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) > 50
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not_ok == []
