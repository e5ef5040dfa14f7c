"""``librarycache``: run the server, or export the schema.

Flags mirror settings: each flag, when given, is passed to the server processes as
its ``LIBRARYCACHE_*`` variable, so a worker builds the very same ``Settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from resolvers.schema import schema_sdl
from server.embedded import EmbeddedMongo, EmbeddedMongoError, Supervisor
from server.logging import configure_logging, log_config
from server.settings import Settings

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_STORE = 3
EXIT_DRIFT = 4

_SHUTDOWN_MARGIN_SECONDS = 5
"""Added to ``sync_timeout_seconds`` for the graceful shutdown: a sync that began just before
SIGTERM gets its whole timeout, plus time to release its lease, before uvicorn cancels it."""

log = logging.getLogger("librarycache")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "export-schema":
        return _export_schema(args.output, check=args.check)
    return _serve(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="librarycache", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the GraphQL server")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--data-dir", help="embedded store's folder (default ./.librarycache)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument(
        "--insecure-open",
        action="store_true",
        help="allow listening beyond loopback with no JWT secret set (anyone may write)",
    )

    export = sub.add_parser("export-schema", help="write the sorted schema (SDL)")
    export.add_argument("output", nargs="?", default="schema.graphql", help="- for stdout")
    export.add_argument(
        "--check", action="store_true", help="exit non-zero if the file differs instead"
    )
    return parser


def _export_schema(output: str, *, check: bool) -> int:
    sdl = schema_sdl()
    if output == "-":
        sys.stdout.write(sdl)
        return EXIT_OK
    path = Path(output)
    if check:
        if not path.exists() or path.read_text() != sdl:
            _complain(f"{path} differs from the served schema: run librarycache export-schema")
            return EXIT_DRIFT
        return EXIT_OK
    path.write_text(sdl)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    flags = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "workers": args.workers,
    }
    for name, value in flags.items():
        if value is not None:
            os.environ[f"LIBRARYCACHE_{name.upper()}"] = str(value)
    try:
        settings = Settings.from_env()
    except ValidationError as error:
        # Each problem without the input: pydantic would echo the settings, secrets too.
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors(include_url=False, include_input=False)
        )
        _complain(f"librarycache: invalid configuration:\n{problems}")
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)

    # The app itself logs that authentication is off, once per worker at start-up.
    if settings.jwt_secret is None and not _is_loopback(settings.host) and not args.insecure_open:
        _complain(
            f"librarycache: refusing to listen on {settings.host} with authentication off: "
            "set LIBRARYCACHE_JWT_SECRET, or pass --insecure-open to accept that anyone "
            "who can reach this port may read and overwrite every library"
        )
        return EXIT_CONFIG

    if settings.mongodb_uri is not None:
        _run_uvicorn(settings)
        return EXIT_OK
    # One embedded store for all workers: started here, handed to them as MONGODB_URI.
    embedded = EmbeddedMongo(settings.data_dir)
    try:
        uri = asyncio.run(embedded.start())
    except EmbeddedMongoError as error:
        _complain(f"librarycache: the embedded store did not start: {error}")
        return EXIT_STORE
    log.info("embedded store at %s, data in %s", uri, settings.data_dir.resolve())
    os.environ["MONGODB_URI"] = uri
    # uvicorn re-raises SIGTERM once it has shut down; with the default handler that
    # would end this process before it stops the store it started.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # If the store dies, this process restarts it (on the same port, which the workers
    # know); if it cannot, the server shuts down and exits non-zero for its process
    # manager to start it afresh.
    supervisor = Supervisor(embedded, lambda _reason: os.kill(os.getpid(), signal.SIGTERM))
    watcher = threading.Thread(
        target=asyncio.run, args=(supervisor.run(),), name="embedded-supervisor", daemon=True
    )
    watcher.start()
    try:
        _run_uvicorn(settings)
    except SystemExit:
        if supervisor.gave_up is None:
            raise
    finally:
        supervisor.stop()
        watcher.join(timeout=5)
        asyncio.run(embedded.stop())
    if supervisor.gave_up is not None:
        _complain(f"librarycache: {supervisor.gave_up}")
        return EXIT_STORE
    return EXIT_OK


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_uvicorn(settings: Settings) -> None:
    with _metrics_dir(settings):
        uvicorn.run(
            "server.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=log_config(settings.log_level, settings.log_format),
            access_log=False,  # server.logging.AccessLogMiddleware writes one with the duration
            proxy_headers=True,
            server_header=False,
            timeout_graceful_shutdown=math.ceil(settings.sync_timeout_seconds)
            + _SHUTDOWN_MARGIN_SECONDS,
        )


@contextmanager
def _metrics_dir(settings: Settings) -> Iterator[None]:
    """With several workers, one folder they all write metrics to (prometheus_client's
    multiprocess mode, which reads ``PROMETHEUS_MULTIPROC_DIR`` when it is imported)."""
    folder, made = settings.metrics_dir, False
    if folder is None and settings.workers > 1:
        folder, made = Path(tempfile.mkdtemp(prefix="librarycache-metrics-")), True
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # an earlier run's counts would be added to this one's
        stale.unlink()
    os.environ["LIBRARYCACHE_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        yield
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


def _complain(message: str) -> None:
    sys.stderr.write(message.removeprefix("librarycache: ").join(("librarycache: ", "\n")))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
