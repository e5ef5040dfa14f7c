"""``librarycache``: run the server, or export the schema.

Every setting is a flag of ``serve`` (derived from ``Settings`` by ``server._flags``):
each flag, when given, is passed to the server processes as its variable, so a worker
builds the very same ``Settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from resolvers.schema import schema_sdl
from server._flags import add_setting_flags, export_given_flags
from server.embedded import EmbeddedMongo, EmbeddedMongoError, Supervisor
from server.logging import LogFormat, configure_logging, log_config
from server.settings import Settings
from sources.spotify import cli as spotify_cli

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
    if args.command == "spotify":
        return spotify_cli.run(args)
    return _serve(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="librarycache", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the GraphQL server",
        description="Run the GraphQL server. Every setting is a flag and a variable.",
    )
    serve.add_argument(
        "--insecure-open",
        action="store_true",
        help="allow listening beyond loopback with no JWT secret set (anyone may write)",
    )
    add_setting_flags(serve)

    export = sub.add_parser("export-schema", help="write the sorted schema (SDL)")
    export.add_argument("output", nargs="?", default="schema.graphql", help="- for stdout")
    export.add_argument(
        "--check", action="store_true", help="exit non-zero if the file differs instead"
    )
    spotify_cli.add_parser(sub)
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
    export_given_flags(args)
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
    log_format = _log_format(settings)
    configure_logging(settings.log_level, log_format)

    # The app itself logs that authentication is off, once per worker at start-up.
    if settings.jwt_secret is None and not _is_loopback(settings.host) and not args.insecure_open:
        _complain(
            f"librarycache: refusing to listen on {settings.host} with authentication off: "
            "set LIBRARYCACHE_JWT_SECRET, or pass --insecure-open to accept that anyone "
            "who can reach this port may read and overwrite every library"
        )
        return EXIT_CONFIG

    if busy := _port_in_use(settings.host, settings.port):
        _complain(
            f"librarycache: port {settings.port} on {settings.host} is in use ({busy}): "
            "stop what holds it (another librarycache serve?) or pass --port"
        )
        return EXIT_CONFIG

    _announce(settings)
    if settings.mongodb_uri is not None:
        _run_uvicorn(settings, log_format)
        return EXIT_OK
    # One embedded store for all workers: started here, handed to them as MONGODB_URI.
    # uvicorn re-raises SIGTERM once it has shut down; with the default handler that would
    # end this process before it stops the store it started. Installed before the store
    # starts: a SIGTERM during its start unwinds through start(), which stops it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    embedded = EmbeddedMongo(settings.data_dir)
    try:
        try:
            uri = asyncio.run(embedded.start())
        except EmbeddedMongoError as error:
            _complain(f"librarycache: the embedded store did not start: {error}")
            return EXIT_STORE
        log.info("embedded store at %s, data in %s", uri, settings.data_dir.resolve())
        os.environ["MONGODB_URI"] = uri
        # If the store dies, this process restarts it (on the same port, which the workers
        # know); if it cannot, the server shuts down and exits non-zero for its process
        # manager to start it afresh.
        supervisor = Supervisor(embedded, lambda _reason: os.kill(os.getpid(), signal.SIGTERM))
        watcher = threading.Thread(
            target=asyncio.run, args=(supervisor.run(),), name="embedded-supervisor", daemon=True
        )
        watcher.start()
        try:
            _run_uvicorn(settings, log_format)
        except SystemExit:
            if supervisor.gave_up is None:
                raise
        finally:
            supervisor.stop()
            watcher.join(timeout=5)
        if supervisor.gave_up is not None:
            _complain(f"librarycache: {supervisor.gave_up}")
            return EXIT_STORE
    finally:
        _stop_store(embedded)
    return EXIT_OK


def _stop_store(embedded: EmbeddedMongo) -> None:
    """Stop the store whatever signals follow: a second SIGTERM or Ctrl-C arriving here
    would otherwise end this process before the store got its own SIGTERM, leaving it
    running (and holding its data dir) until the next start reclaims it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(embedded.stop())


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _announce(settings: Settings) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    where = f"http://{host}:{settings.port}/graphql"
    ide = " (GraphiQL: open it in a browser)" if settings.graphiql_enabled else ""
    log.info("serving GraphQL at %s%s", where, ide, extra={"url": where})


def _run_uvicorn(settings: Settings, log_format: LogFormat) -> None:
    with _metrics_dir(settings):
        uvicorn.run(
            "server.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=log_config(settings.log_level, log_format),
            access_log=False,  # server.logging.AccessLogMiddleware writes one with the duration
            proxy_headers=True,
            server_header=False,
            # HTTP limits: see server.http_protocol for those uvicorn lacks.
            http="server.http_protocol:LimitedHttpToolsProtocol",
            limit_concurrency=settings.max_connections,
            timeout_keep_alive=settings.keep_alive_seconds,
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


def _log_format(settings: Settings) -> LogFormat:
    """As set; unset, readable lines for a person at a terminal and JSON for collectors."""
    if settings.log_format is not None:
        return settings.log_format
    return "text" if sys.stderr.isatty() else "json"


def _port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, checked before anything is started.

    uvicorn would find out only after the embedded store started, and say so in a log
    line; binding here (as uvicorn will, with SO_REUSEADDR) gives a plain message.
    """
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "address already in use"
            return None  # not ours to judge here: uvicorn reports it
    return None


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
