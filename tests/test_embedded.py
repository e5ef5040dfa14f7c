"""EmbeddedMongo: the nx-27017 child process that stands in for mongod in development and tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from server.embedded import EmbeddedMongo, EmbeddedMongoError, pid_alive
from tests.wire_server import wire_server


async def _insert(uri: str, *docs: dict[str, Any]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        await client.probe.items.insert_many(list(docs))
    finally:
        await client.close()


async def _ids(uri: str) -> list[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        return [doc["_id"] async for doc in client.probe.items.find().sort("_id", 1)]
    finally:
        await client.close()


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _dead_pid() -> int:
    """A pid that surely belonged to a process that has exited (until the kernel reuses it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_start_answers_and_stop_releases_everything(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "srv")
    uri = await server.start()
    port = server.port
    assert port is not None
    assert uri == f"mongodb://127.0.0.1:{port}/"
    pid = server.pid
    assert pid is not None
    assert server.pid_path.read_text().strip() == str(pid)
    await _insert(uri, {"_id": "a"})

    await server.stop()

    assert server.pid is None
    assert not server.pid_path.exists()
    assert not _accepts(port)
    await server.stop()  # idempotent


async def test_context_manager_yields_uri_and_stops(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path)
    async with server as uri:
        await _insert(uri, {"_id": "a"})
        assert await _ids(uri) == ["a"]
    assert server.pid is None


async def test_data_survives_restart_of_the_same_and_of_a_new_instance(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path)
    uri = await server.start()
    await _insert(uri, {"_id": "a"}, {"_id": "b"})
    await server.stop()

    assert await server.start() == uri  # the port is kept, so clients' URIs stay valid
    await _insert(uri, {"_id": "c"})
    await server.stop()

    async with EmbeddedMongo(tmp_path) as other_uri:
        assert await _ids(other_uri) == ["a", "b", "c"]


async def test_start_after_the_server_was_killed(tmp_path: Path) -> None:
    killed = EmbeddedMongo(tmp_path)
    uri = await killed.start()
    await _insert(uri, {"_id": "acknowledged"})
    pid = killed.pid  # the property turns None once the child is seen to have exited
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # leaves its pid file behind, and a zombie until reaped
    while pid_alive(pid):  # noqa: ASYNC110 - a signal is delivered asynchronously
        await asyncio.sleep(0.01)
    try:
        async with EmbeddedMongo(tmp_path) as new_uri:
            assert await _ids(new_uri) == ["acknowledged"]
    finally:
        await killed.stop()


@pytest.mark.parametrize(
    "recorded_pid",
    [
        pytest.param(_dead_pid, id="dead-process"),
        pytest.param(os.getpid, id="pid-reused-by-another-process"),
        pytest.param(lambda: "not a pid", id="garbage"),
    ],
)
async def test_stale_pid_file_does_not_prevent_start(
    tmp_path: Path, recorded_pid: Callable[[], object]
) -> None:
    server = EmbeddedMongo(tmp_path)
    server.pid_path.write_text(str(recorded_pid()))
    async with server:
        assert server.pid_path.read_text().strip() == str(server.pid)


async def test_refuses_a_second_server_on_a_live_servers_data_dir(tmp_path: Path) -> None:
    async with EmbeddedMongo(tmp_path) as uri:
        with pytest.raises(EmbeddedMongoError, match="already runs"):
            await EmbeddedMongo(tmp_path).start()
        assert await _ids(uri) == []  # the running server was left alone


async def test_two_instances_in_different_dirs_run_at_once(tmp_path: Path) -> None:
    first, second = EmbeddedMongo(tmp_path / "one"), EmbeddedMongo(tmp_path / "two")
    uri_one, uri_two = await asyncio.gather(first.start(), second.start())
    try:
        assert uri_one != uri_two
        await _insert(uri_one, {"_id": "only-in-one"})
        await _insert(uri_two, {"_id": "only-in-two"})
        assert await _ids(uri_one) == ["only-in-one"]
        assert await _ids(uri_two) == ["only-in-two"]
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_taken_port_fails_with_the_servers_log_tail(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = EmbeddedMongo(tmp_path, port=port)
        with pytest.raises(EmbeddedMongoError) as raised:
            await server.start()
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message
    assert "address already in use" in message.lower()  # from the child's own traceback
    assert str(server.log_path) in message
    assert server.pid is None
    assert not server.pid_path.exists()


async def test_port_held_by_another_server_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    async with wire_server(tmp_path / "first") as first:
        port = first.port
        with pytest.raises(EmbeddedMongoError, match="address already in use"):
            await EmbeddedMongo(tmp_path / "second", port=port).start()
        assert first.pid is not None


async def test_startup_timeout_names_the_log_and_leaves_no_process(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path, startup_timeout=0)
    with pytest.raises(EmbeddedMongoError, match="did not answer") as raised:
        await server.start()
    assert str(server.log_path) in str(raised.value)
    assert server.pid is None
    async with EmbeddedMongo(tmp_path) as uri:  # nothing left behind blocks a normal start
        assert await _ids(uri) == []


def test_a_server_left_by_a_killed_owner_is_reclaimed(tmp_path: Path) -> None:
    """The owner (here a child Python process) dies by SIGKILL and cannot stop its store."""
    data_dir = tmp_path / "store"
    script = (
        "import asyncio, time\n"
        "from pathlib import Path\n"
        "from server.embedded import EmbeddedMongo\n"
        f"print(asyncio.run(EmbeddedMongo(Path({str(data_dir)!r})).start()), flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as owner:
        assert owner.stdout is not None
        assert owner.stdout.readline().startswith(b"mongodb://")
        orphan_pid = int((data_dir / "nx-27017.pid").read_text())
        owner.kill()

    server = EmbeddedMongo(data_dir)
    try:
        asyncio.run(server.start())
        assert server.pid != orphan_pid
    finally:
        asyncio.run(server.stop())
    # Reparented away from us, it may linger as a zombie until init reaps it.
    assert not pid_alive(orphan_pid)


_DEAF_ONCE = """
import signal, sys, time
heard = []
def on_term(signum, frame):
    heard.append(signum)
    if len(heard) > 1:
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def _deaf_once() -> subprocess.Popen[bytes]:
    deaf = subprocess.Popen([sys.executable, "-c", _DEAF_ONCE], stdout=subprocess.PIPE)
    assert deaf.stdout is not None
    assert deaf.stdout.readline() == b"ready\n"
    return deaf


async def test_stop_sends_sigterm_again_when_one_does_not_take(tmp_path: Path) -> None:
    """A server that lets one SIGTERM pass still stops cleanly, and is not killed."""
    server = EmbeddedMongo(tmp_path)
    deaf = _deaf_once()
    server._proc = deaf  # the child stop() manages; a stand-in that ignores one SIGTERM

    await server.stop()

    assert deaf.returncode == 0  # its own clean exit, not SIGKILL (-9)
    assert deaf.stdout is not None
    deaf.stdout.close()
