"""End-to-end servers never use the developer's database.

``MONGODB_URI=... scripts/test`` used to point every ``librarycache serve`` the tests
started at that database, where they collided (``ALREADY_INGESTED``). The tests' own
MongoDB is ``LIBRARYCACHE_TEST_MONGODB_URI``; servers get their embedded store.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.serve_process import serve

pytestmark = pytest.mark.e2e


def test_a_served_app_ignores_the_shells_mongodb_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens there: a server that inherited it would never be ready.
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500")
    monkeypatch.setenv("LIBRARYCACHE_DB", "the_developers_database")
    data_dir = tmp_path / "data"
    with serve(data_dir, startup_timeout=30) as base:
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert (data_dir / "db").is_dir()  # its own embedded store
    assert not list((data_dir / "db").glob("the_developers_database*"))
