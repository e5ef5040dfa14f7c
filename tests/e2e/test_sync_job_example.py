"""examples/sync_job.py: ingest first, sync after, retry conflicts; against a real server."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jwt
import pytest

from tests.factories import make_library
from tests.serve_process import serve

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "sync_job.py"
SECRET = "sync-job-example-secret-long-enough-for-hs256"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_job", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_job = _load_example()


def _run(base: str, library: Path, token: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(library)],
        env={"LIBRARYCACHE_URL": base, "LIBRARYCACHE_TOKEN": token, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.e2e
def test_first_run_ingests_and_the_next_syncs(tmp_path: Path) -> None:
    token = jwt.encode(
        {"sub": "sync-job", "scope": "library:sync", "exp": int(time.time()) + 600},
        SECRET,
        algorithm="HS256",
    )
    library = tmp_path / "library.json"
    library.write_text(json.dumps(make_library("user:job", likes=4)))
    with serve(tmp_path / "data", env={"LIBRARYCACHE_JWT_SECRET": SECRET}) as base:
        first = _run(base, library, token)
        library.write_text(json.dumps(make_library("user:job", likes=6)))
        second = _run(base, library, token)
    assert (first["kind"], first["version"], first["likesAdded"]) == ("INGEST", 1, 4)
    assert (second["kind"], second["version"], second["likesAdded"]) == ("SYNC", 2, 2)


def _answers(*codes: str | None) -> httpx.MockTransport:
    """A server answering each request with the next code's error (None: a report)."""
    pending = list(codes)

    def handle(request: httpx.Request) -> httpx.Response:
        code = pending.pop(0)
        if code is None:
            mutation = "ingest" if "ingest(" in json.loads(request.content)["query"] else "sync"
            return httpx.Response(200, json={"data": {mutation: {"kind": mutation.upper()}}})
        if code == "503":
            return httpx.Response(503, text="upstream restarting")
        if code == "STORE_DOWN":  # the server's own answer to a store outage
            error = {"message": "unavailable", "extensions": {"code": "SERVICE_UNAVAILABLE"}}
            return httpx.Response(
                503,
                json={"data": None, "errors": [error]},
                headers={"content-type": "application/graphql-response+json", "retry-after": "1"},
            )
        error = {"message": f"refused: {code}", "extensions": {"code": code}}
        return httpx.Response(200, json={"data": None, "errors": [error]})

    return httpx.MockTransport(handle)


def test_conflicts_are_retried_with_growing_delays() -> None:
    delays: list[float] = []
    transport = _answers("ALREADY_INGESTED", "CONFLICT", "503", "CONFLICT", None)
    with httpx.Client(transport=transport, base_url="http://lc") as client:
        report = sync_job.push(client, {"userId": "u"}, sleep=delays.append)
    assert report == {"kind": "SYNC"}
    assert len(delays) == 3
    assert delays[0] < delays[2]  # 1 s, 2 s, 4 s, each with +-50 % jitter


def test_a_store_outage_is_retried() -> None:
    """SERVICE_UNAVAILABLE, as HTTP 503 (graphql-response+json) or inside a 200 body."""
    delays: list[float] = []
    transport = _answers("STORE_DOWN", "SERVICE_UNAVAILABLE", None)
    with httpx.Client(transport=transport, base_url="http://lc") as client:
        report = sync_job.push(client, {"userId": "u"}, sleep=delays.append)
    assert report == {"kind": "INGEST"}
    assert len(delays) == 2


def test_refusals_that_retrying_cannot_fix_end_the_job() -> None:
    transport = _answers("BAD_USER_INPUT")
    with (
        httpx.Client(transport=transport, base_url="http://lc") as client,
        pytest.raises(sync_job.SyncJobError, match="refused: BAD_USER_INPUT"),
    ):
        sync_job.push(client, {"userId": "u"}, sleep=lambda _: None)


def test_conflicts_are_not_retried_forever() -> None:
    transport = _answers(*["CONFLICT"] * 3)
    with (
        httpx.Client(transport=transport, base_url="http://lc") as client,
        pytest.raises(sync_job.SyncJobError, match="CONFLICT"),
    ):
        sync_job.push(client, {"userId": "u"}, attempts=3, sleep=lambda _: None)
