"""Structured logs: one JSON object per line, with the request id, the access line and extras."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from server.logging import AccessLogMiddleware, JsonFormatter, TextFormatter
from server.request_id import RequestIdMiddleware, current_request_id
from tests.factories import make_library
from tests.graphql_client import INGEST, data

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Everything logged at info and above during the test, as the JSON objects written."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _record(message: str = "hello %s", *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("librarycache.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_object_with_its_extra_fields() -> None:
    line = JsonFormatter().format(_record("sync %s", "user:1", userId="user:1", phase="likes"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry.pop("time").endswith("+00:00")
    assert entry == {
        "level": "info",
        "logger": "librarycache.test",
        "message": "sync user:1",
        "userId": "user:1",
        "phase": "likes",
    }


def test_the_request_id_comes_from_the_request_being_handled() -> None:
    token = current_request_id.set("req-42")
    try:
        entry = json.loads(JsonFormatter().format(_record()))
    finally:
        current_request_id.reset(token)
    assert entry["requestId"] == "req-42"
    assert "requestId" not in json.loads(JsonFormatter().format(_record()))  # outside requests


def test_exceptions_and_odd_values_stay_on_one_line() -> None:
    try:
        raise ValueError("boom\nwith a second line")
    except ValueError:
        record = _record(exc_info=sys.exc_info(), path=object(), big=2**70, level="spoofed")
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert "ValueError: boom" in entry["exception"]
    assert entry["path"].startswith("<object object")
    assert entry["big"] == 2**70
    assert entry["level"] == "info"  # extra fields never overwrite the fixed ones


def test_text_format_keeps_the_same_fields_readable() -> None:
    token = current_request_id.set("req-7")
    try:
        line = TextFormatter().format(_record("sync done", userId="user:1", version=3))
    finally:
        current_request_id.reset(token)
    assert line.endswith("INFO    librarycache.test sync done [req-7] userId=user:1 version=3")


def test_uvicorn_loggers_write_json_through_the_served_config() -> None:
    code = (
        "import logging; from server.logging import configure_logging;"
        "configure_logging('info', 'json');"
        "logging.getLogger('uvicorn.error').info('Started server process', extra={'pid': 1});"
        "logging.getLogger('librarycache.store').debug('not at info level')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == ""
    (entry,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert entry["logger"] == "uvicorn.error"
    assert entry["message"] == "Started server process"
    assert entry["pid"] == 1


async def test_one_access_line_per_request_with_its_id(
    app_client: httpx.AsyncClient, json_lines: Lines
) -> None:
    response = await app_client.post(
        "/graphql",
        json={"query": 'query Liked { liked(userId: "user:1") { trackIds } }'},
        headers={"X-Request-ID": "from-the-balancer-1"},
    )
    assert response.headers["x-request-id"] == "from-the-balancer-1"
    await app_client.get("/healthz")  # successful probes are logged at debug level only

    (access,) = [e for e in json_lines() if e["logger"] == "librarycache.access"]
    assert access["requestId"] == "from-the-balancer-1"
    assert access["method"] == "POST"
    assert access["path"] == "/graphql"
    assert access["status"] == 200
    assert isinstance(access["durationMs"], float)
    assert access["operations"] == ["query Liked"]
    assert access["message"].startswith("POST /graphql 200 in ")


async def test_sync_progress_lines_carry_user_phase_and_request(
    app_client: httpx.AsyncClient, json_lines: Lines
) -> None:
    await data(app_client, INGEST, {"input": make_library("user:1", likes=4)})

    entries = json_lines()
    progress = [e for e in entries if e["logger"] == "librarycache.store"]
    assert [e["phase"] for e in progress] == ["tracks", "likes", "plays", "playlists", "committed"]
    access = next(e for e in entries if e["logger"] == "librarycache.access")
    for entry in progress:
        assert entry["userId"] == "user:1"
        assert entry["version"] == 1
        assert entry["requestId"] == access["requestId"]
    assert progress[1]["added"] == 4
    assert progress[-1]["documents_written"] > 0


async def _boom(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug nobody caught")


async def test_an_uncaught_error_is_logged_and_answered_with_its_request_id(
    json_lines: Lines,
) -> None:
    app = RequestIdMiddleware(AccessLogMiddleware(_boom))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        response = await c.get("/anything", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error (request id req-500)",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
    }
    error, access = [e for e in json_lines() if e["logger"] == "librarycache.access"]
    assert error["level"] == "error"
    assert error["requestId"] == "req-500"
    assert "RuntimeError: a bug nobody caught" in error["exception"]
    assert (access["status"], access["level"], access["requestId"]) == (500, "error", "req-500")
