"""Run nx-27017, a MongoDB wire-protocol server on SQLite, as a child process.

Development machines and CI have no ``mongod``. nx-27017 speaks the wire protocol over real TCP,
so the real drivers (Motor and PyMongo's ``AsyncMongoClient``) can be exercised end to end
against it. It is a stand-in, not MongoDB: see ``docs/nx-27017-probes.md`` for where it differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger("librarycache.embedded")

_STOP_GRACE_SECONDS = 30.0
_RESEND_SECONDS = 2.0
"""How long one SIGTERM is given before another is sent (see ``EmbeddedMongo._terminate``)."""
_POLL_SECONDS = 0.05
_LOG_TAIL_CHARS = 2000
_PORT_ATTEMPTS = 3


log = logging.getLogger("librarycache.embedded")


class EmbeddedMongoError(RuntimeError):
    """The embedded server could not be started or is not ours to start."""


class EmbeddedMongo:
    """One nx-27017 server owning ``data_dir``: data in ``db/``, plus its pid and log files.

    The pid and log paths are always passed explicitly because nx-27017's defaults are shared
    files under ``/tmp``, and a second instance refuses to start while another's pid file exists.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        startup_timeout: float = 30.0,
    ) -> None:
        # Absolute, because the child runs with data_dir as its working directory.
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.startup_timeout = startup_timeout
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def db_dir(self) -> Path:
        return self.data_dir / "db"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "nx-27017.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nx-27017.log"

    @property
    def port(self) -> int | None:
        """The port in use; once chosen it is kept, so a restart keeps every client's URI valid."""
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def uri(self) -> str:
        if self._port is None:
            raise EmbeddedMongoError("the embedded server has not been started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mongodb://{host}:{self._port}/"

    async def start(self) -> str:
        """Start the server (a no-op if this instance already runs it) and return its URI.

        Returns only once the child itself answers a command, so callers never race its startup.
        A port picked here may be taken by someone else before the child binds it; then another
        is tried. A port the caller chose, or one already handed out, is never silently changed.
        """
        if self.pid is not None:
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_dir.mkdir(exist_ok=True)
        await self._stop_orphan()
        self._clear_stale_pid_file()
        if self._port is not None:
            await self._launch(self._port)
            return self.uri
        for _ in range(_PORT_ATTEMPTS - 1):
            with contextlib.suppress(_PortTakenError):
                return await self._launch_on_free_port()
        return await self._launch_on_free_port()

    async def stop(self) -> None:
        """Stop the server, politely first so SQLite closes cleanly; safe to call repeatedly."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            await self._terminate(proc)
        # nx-27017 removes its pid file on SIGTERM; after a SIGKILL it would be left behind.
        if _read_pid(self.pid_path) == proc.pid:
            self.pid_path.unlink(missing_ok=True)
        self._proc = None

    async def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM, repeated until it takes: one can be lost or slow to take effect.

        nx-27017 turns SIGTERM into ``sys.exit`` in its event loop, and then waits for the
        commands running in its executor threads. Measured: a SIGTERM that lands while
        clients are busy can take 30 s to end it, or none; a second one ends the wait at
        once (SQLite's journal keeps an unfinished write out, as after any crash). Only
        a server that outlives every SIGTERM is killed, with a warning.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STOP_GRACE_SECONDS
        sent = 0
        while proc.poll() is None and loop.time() < deadline:
            proc.send_signal(signal.SIGTERM)
            sent += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_RESEND_SECONDS):
                    await _wait_exit(proc)
        if sent > 1:
            log.info("the embedded store stopped after %d SIGTERMs", sent)
        if proc.poll() is None:
            log.warning(
                "the embedded store did not stop within %gs of SIGTERM: killed",
                _STOP_GRACE_SECONDS,
            )
            proc.kill()
            await _wait_exit(proc)

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _launch_on_free_port(self) -> str:
        port = _free_port(self.host)
        await self._launch(port)
        self._port = port
        return self.uri

    async def _launch(self, port: int) -> None:
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [
            *_server_command(),
            *("--data-dir", str(self.db_dir), "--host", self.host, "-p", str(port)),
            *("--pid-file", str(self.pid_path)),
            # nx-27017 logs both to stderr and to --log-file, and a crash traceback goes only to
            # stderr. Its stderr is our log file, so its own log file would only duplicate lines.
            *("--log-file", os.devnull),
        ]
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.to_thread(
                subprocess.Popen,
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self.owner_path.write_text(f"{os.getpid()}\n")
        try:
            await self._wait_until_ready(self._proc, port, log_offset)
        except BaseException:
            await self.stop()
            raise

    async def _wait_until_ready(
        self, proc: subprocess.Popen[bytes], port: int, offset: int
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.host, port, directConnection=True, serverSelectionTimeoutMS=1000
        )
        try:
            while True:
                if (code := proc.poll()) is not None:
                    tail = self._log_tail(offset)
                    message = (
                        f"nx-27017 exited with code {code} during startup on {self.host}:{port}"
                        f" (log {self.log_path}):\n{tail}"
                    )
                    taken = "address already in use" in tail.lower()
                    raise (_PortTakenError if taken else EmbeddedMongoError)(message)
                if loop.time() > deadline:
                    raise EmbeddedMongoError(
                        f"nx-27017 (pid {proc.pid}) did not answer on {self.host}:{port} within"
                        f" {self.startup_timeout:g} s (log {self.log_path}):\n"
                        f"{self._log_tail(offset)}"
                    )
                # serverStatus rather than ping: its pid proves the answer comes from our child and
                # not from another server that already held the port.
                if await _tcp_accepts(self.host, port) and await _answering_pid(client) == proc.pid:
                    return
                await asyncio.sleep(_POLL_SECONDS)
        finally:
            await client.close()

    @property
    def owner_path(self) -> Path:
        return self.data_dir / "owner.pid"

    async def _stop_orphan(self) -> None:
        """Stop a server whose owner was killed (SIGKILL, OOM) before it could stop it.

        The server runs in a session of its own, so that Ctrl-C or a signal to the owner's
        process group reaches only the owner, which then drains requests before stopping the
        store; the price is that a killed owner leaves it running, which this reclaims.
        """
        pid, owner = _read_pid(self.pid_path), _read_pid(self.owner_path)
        if (
            pid is None
            or owner is None
            or pid_alive(owner)
            or not _is_server_for(pid, self.pid_path)
        ):
            return
        os.kill(pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(_STOP_GRACE_SECONDS):
                while _is_server_for(pid, self.pid_path):  # noqa: ASYNC110 - not our child
                    await asyncio.sleep(_POLL_SECONDS)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)

    def _clear_stale_pid_file(self) -> None:
        """Remove a pid file left by a killed run, which nx-27017 would take as a live server.

        nx-27017 only checks that the recorded pid exists, and after a kill that pid is often
        reused by an unrelated process; so the file is stale unless the process is a server
        started with this very pid file.
        """
        pid = _read_pid(self.pid_path)
        if pid is not None and _is_server_for(pid, self.pid_path):
            raise EmbeddedMongoError(
                f"an nx-27017 server (pid {pid}) already runs on {self.data_dir};"
                f" stop it or use another data_dir"
            )
        self.pid_path.unlink(missing_ok=True)

    def _log_tail(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return text[-_LOG_TAIL_CHARS:].strip() or "(log empty)"


class Supervisor:
    """Restarts the embedded store when its process dies, on the same port and data.

    If it cannot be started ``attempts`` times in a row, the supervisor gives up and calls
    ``on_give_up`` with the reason: the server cannot recover by itself, so it should say so
    (``/healthz``) or exit, and let its process manager start it afresh.
    """

    def __init__(
        self,
        embedded: EmbeddedMongo,
        on_give_up: Callable[[str], None],
        *,
        interval: float = 0.5,
        attempts: int = 3,
    ) -> None:
        self.embedded = embedded
        self.restarts = 0
        self.gave_up: str | None = None
        self._on_give_up = on_give_up
        self._interval = interval
        self._attempts = attempts
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Stop watching (before the store is stopped on purpose); safe from any thread."""
        self._stopping.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            await asyncio.sleep(self._interval)
            if self._stopping.is_set() or self.embedded.pid is not None:
                continue
            log.error("the embedded store is not running; restarting it")
            try:
                await self.embedded.start()
            except (EmbeddedMongoError, OSError) as error:  # OSError: e.g. its data dir
                failures += 1
                log.error(
                    "the embedded store did not restart (%d of %d): %s",
                    failures,
                    self._attempts,
                    error,
                )
                if failures >= self._attempts:
                    self.gave_up = f"the embedded store died and could not be restarted: {error}"
                    self._on_give_up(self.gave_up)
                    return
                await asyncio.sleep(self._interval * 2**failures)
                continue
            failures = 0
            self.restarts += 1
            log.warning("the embedded store was restarted", extra={"restarts": self.restarts})


class _PortTakenError(EmbeddedMongoError):
    """Another process holds the port; worth retrying only when we picked the port."""


def _server_command() -> list[str]:
    """Prefer the server of the running interpreter's environment over whatever is on PATH."""
    script = Path(sys.executable).parent / "nx-27017"
    if script.is_file():
        return [str(script)]
    if importlib.util.find_spec("nx_27017") is not None:
        return [sys.executable, "-m", "nx_27017.nx_27017"]
    found = shutil.which("nx-27017")
    if found is None:
        raise EmbeddedMongoError(
            "the embedded store is not installed: install the `embedded` extra "
            "(pip install 'librarycache[embedded]', as scripts/install does), "
            "or set MONGODB_URI to a MongoDB deployment"
        )
    return [found]


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _tcp_accepts(host: str, port: int) -> bool:
    """A cheap probe that lets startup poll quickly, before the driver's slower retry cadence."""
    # A socket of our own, closed however the probe ends: a cancelled open_connection
    # could leave its socket to the garbage collector (a ResourceWarning in tests).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(1.0):
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()
    return True


async def _answering_pid(client: AsyncMongoClient[dict[str, Any]]) -> int | None:
    try:
        status = await client.admin.command("serverStatus")
    except PyMongoError:
        return None
    pid = status.get("pid")
    return pid if isinstance(pid, int) else None


async def _wait_exit(proc: subprocess.Popen[bytes]) -> None:
    """Poll rather than ``proc.wait()`` in a thread, so cancellation and timeouts take effect.

    The child is a plain ``Popen`` rather than an asyncio subprocess so that it is not tied to the
    event loop that started it (a session fixture may stop it from another loop).
    """
    while proc.poll() is None:  # noqa: ASYNC110 - a Popen exit has no awaitable to wait on
        await asyncio.sleep(_POLL_SECONDS)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _is_server_for(pid: int, pid_path: Path) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive and someone else's: not ours to judge or remove
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        # Without /proc (macOS) a live pid cannot be told apart; refusing is the safe side.
        return not Path("/proc/self").exists()
    except OSError:
        return True
    # A zombie has an empty cmdline, so it counts as gone.
    return str(pid_path).encode() in cmdline
