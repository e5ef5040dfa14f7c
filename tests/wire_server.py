"""The nx-27017 wire server for tests that need real drivers over real TCP.

Fixtures start one per session (startup takes about 0.1 s, but each server is a process and
a port) and give each test its own database name instead of its own server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from server.embedded import EmbeddedMongo


async def start_wire_server(tmp_path: Path) -> EmbeddedMongo:
    """Start a server whose data, log and pid file live under ``tmp_path/nx-27017``.

    The caller owns it and must ``await server.stop()``; its URI is ``server.uri``.
    """
    server = EmbeddedMongo(tmp_path / "nx-27017")
    await server.start()
    return server


@asynccontextmanager
async def wire_server(tmp_path: Path) -> AsyncIterator[EmbeddedMongo]:
    """Like :func:`start_wire_server`, stopping the server however the block ends."""
    server = await start_wire_server(tmp_path)
    try:
        yield server
    finally:
        await server.stop()
