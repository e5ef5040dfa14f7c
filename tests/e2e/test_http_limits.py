"""HTTP limits, with real sockets against a real ``librarycache serve``.

Header size and count, the time to send headers and body, idle keep-alive and concurrent
connections: each is set small here, broken on purpose, and the server must answer (or
drop the connection) within its limit, keep serving a probe, and log no 500.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serve_process import serve

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LIMITS = {
    "LIBRARYCACHE_MAX_HEADER_BYTES": "4096",
    "LIBRARYCACHE_MAX_HEADERS": "20",
    "LIBRARYCACHE_HEADER_TIMEOUT_SECONDS": "1",
    "LIBRARYCACHE_BODY_TIMEOUT_SECONDS": "1",
    "LIBRARYCACHE_KEEP_ALIVE_SECONDS": "1",
    "LIBRARYCACHE_LOG_FORMAT": "json",
}
LIMIT_SECONDS = 1.0
SLACK_SECONDS = 6.0
"""How much later than its limit a refusal may come on a busy machine."""
PROBE_SECONDS = 1.0
PROBE = {"query": "{ __typename }"}


@dataclass
class Server:
    base: str
    log: Path
    host: str
    port: int

    def connect(self) -> socket.socket:
        return socket.create_connection(
            (self.host, self.port), timeout=LIMIT_SECONDS + SLACK_SECONDS
        )

    def probe(self) -> None:
        """A ``{ __typename }`` answered within a second, whatever else is going on."""
        started = time.perf_counter()
        response = httpx.post(f"{self.base}/graphql", json=PROBE, timeout=10)
        waited = time.perf_counter() - started
        assert response.json() == {"data": {"__typename": "Query"}}
        assert waited < PROBE_SECONDS, f"the probe waited {waited:.2f}s"

    def log_text(self) -> str:
        return self.log.read_text()


def _server(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limits") / "data"
    with serve(data_dir, env=env) as base:
        url = urlsplit(base)
        assert url.hostname is not None
        assert url.port is not None
        yield Server(base, data_dir.parent / f"serve-{url.port}.log", url.hostname, url.port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, LIMITS)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and everything the server sent until it closed the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    if not received:
        return 0, b""  # closed without an answer
    return int(received.split(b" ", 2)[1]), received


def read_one_response(sock: socket.socket) -> bytes:
    """One whole response on a connection that stays open: its head, then the body its
    Content-Length announces (the two may arrive in separate segments)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection inside a body"
        body += chunk
    return head + b"\r\n\r\n" + body


def request_head(*headers: str, method: str = "GET", path: str = "/healthz") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode()


def assert_no_500(server: Server) -> None:
    text = server.log_text()
    assert "unhandled error" not in text
    assert '"status":500' not in text


def test_a_request_within_the_limits_is_served(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request_head("X-Fine: yes", "Connection: close"))
        status, _ = read_response(sock)

    assert status == 200


@pytest.mark.parametrize(
    "headers",
    [
        ("X-Big: " + "a" * 8000,),
        tuple(f"X-Many-{i}: 1" for i in range(50)),
    ],
    ids=["an 8 KB header", "50 headers"],
)
def test_too_large_a_header_block_gets_431(server: Server, headers: tuple[str, ...]) -> None:
    with server.connect() as sock:
        sock.sendall(request_head(*headers))
        status, answer = read_response(sock)

    assert status == 431
    assert b"connection: close" in answer.lower()
    server.probe()


def test_a_1_mb_header_is_not_read_whole(server: Server) -> None:
    with server.connect() as sock:
        # refused and closed, perhaps while it was still being sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request_head("X-Huge: " + "a" * 1024 * 1024))
        status, _ = read_response(sock)

    assert status in {431, 0}
    server.probe()


def test_headers_sent_too_slowly_get_408(server: Server) -> None:
    with ExitStack() as stack:
        slow = [stack.enter_context(server.connect()) for _ in range(20)]
        for sock in slow:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: test\r\n")  # and never the rest
        server.probe()
        started = time.perf_counter()
        statuses = {read_response(sock)[0] for sock in slow}

    assert statuses == {408}
    assert time.perf_counter() - started < LIMIT_SECONDS + SLACK_SECONDS


def test_a_silent_connection_is_closed(server: Server) -> None:
    with server.connect() as sock:
        started = time.perf_counter()
        status, _ = read_response(sock)

    assert status == 0
    assert time.perf_counter() - started < LIMIT_SECONDS + SLACK_SECONDS


def partial_body() -> bytes:
    """A POST whose Content-Length promises 1,000 bytes, of which only a few follow."""
    head = request_head(
        "Content-Type: application/json", "Content-Length: 1000", method="POST", path="/graphql"
    )
    return head + b'{"query": "{ __typ'


def test_a_body_promised_and_never_sent_gets_408_and_no_500(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(partial_body())
        server.probe()
        started = time.perf_counter()
        status, answer = read_response(sock)

    assert status == 408
    assert b'"code":"REQUEST_TIMEOUT"' in answer
    assert time.perf_counter() - started < LIMIT_SECONDS + SLACK_SECONDS
    assert_no_500(server)


def test_a_client_leaving_mid_body_logs_no_500(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(partial_body())
    deadline = time.monotonic() + LIMIT_SECONDS + SLACK_SECONDS
    while "client left" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)

    assert "client left" in server.log_text()
    assert_no_500(server)


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request_head())
        first = read_one_response(sock)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.perf_counter()
        status, _ = read_response(sock)  # nothing more asked: the server closes

    assert status == 0
    assert time.perf_counter() - started < LIMIT_SECONDS + SLACK_SECONDS


@pytest.fixture(scope="module")
def few_connections(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, {"LIBRARYCACHE_MAX_CONNECTIONS": "6"})


def test_connections_beyond_the_limit_get_503(few_connections: Server) -> None:
    with ExitStack() as stack:
        # uvicorn counts the asking connection too: 5 held, the 6th is one too many.
        held = [stack.enter_context(few_connections.connect()) for _ in range(5)]
        for sock in held:
            sock.sendall(request_head())  # served, then held open by keep-alive
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        refused = httpx.get(f"{few_connections.base}/healthz", timeout=10)

    assert refused.status_code == 503
    served = httpx.get(f"{few_connections.base}/healthz", timeout=10)
    assert served.status_code == 200


@pytest.fixture(scope="module")
def two_in_flight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory, {"LIBRARYCACHE_MAX_IN_FLIGHT": "2"})


def test_requests_beyond_the_in_flight_limit_get_a_coded_503_and_health_still_answers(
    two_in_flight: Server,
) -> None:
    with ExitStack() as stack:
        # Two requests whose bodies are still coming: in hand, until their clients go.
        held = [stack.enter_context(two_in_flight.connect()) for _ in range(2)]
        for sock in held:
            sock.sendall(partial_body())
        deadline = time.monotonic() + SLACK_SECONDS
        while True:
            refused = httpx.post(f"{two_in_flight.base}/graphql", json=PROBE, timeout=10)
            if refused.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the held requests may not have reached the app yet
        health = httpx.get(f"{two_in_flight.base}/healthz", timeout=10)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "OVERLOADED"}
    assert "LIBRARYCACHE_MAX_IN_FLIGHT" in error["message"]
    assert health.status_code == 200
    # The clients left: their requests end, and the worker takes new ones again.
    deadline = time.monotonic() + SLACK_SECONDS
    while (
        answer := httpx.post(f"{two_in_flight.base}/graphql", json=PROBE, timeout=10)
    ).status_code == 503:
        assert time.monotonic() < deadline, "the worker never took requests again"
        time.sleep(0.05)
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert_no_500(two_in_flight)
