"""``librarycache spotify pull`` and ``librarycache spotify import-history``.

Exit codes: 0 done; 1 Spotify or the history failed (nothing submitted); 2 a usage or
token-file problem; 5 the LibraryCache server refused the library or was unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from sources.spotify.cache import CacheClient, CachedLibrary, graphql_url
from sources.spotify.client import DEFAULT_ACCOUNTS_URL, DEFAULT_API_URL, SpotifyClient
from sources.spotify.errors import CacheError, OutFileError, SpotifyMirrorError, TokenFileError
from sources.spotify.history import read_history
from sources.spotify.importer import build_import
from sources.spotify.pull import Puller
from sources.spotify.report import Progress, Report
from sources.spotify.submit import submit_merged
from sources.spotify.tokens import TokenFile

EXIT_OK = 0
EXIT_SOURCE = 1
EXIT_USAGE = 2
EXIT_CACHE = 5

# A large library takes a while to write: wait as long as the server's sync timeout.
_CACHE_TIMEOUT = httpx.Timeout(10.0, read=660.0)
_API_TIMEOUT = httpx.Timeout(30.0)


def add_parser(commands: Any) -> None:
    """Register the ``spotify`` command group on ``librarycache``'s subparsers."""
    spotify = commands.add_parser("spotify", help="fill the cache from Spotify")
    sub = spotify.add_subparsers(dest="spotify_command", required=True)

    pull = sub.add_parser("pull", help="mirror a user's Spotify library into the cache")
    pull.add_argument("--user", required=True, help="LibraryCache userId to write")
    pull.add_argument("--token-file", required=True, type=Path, help="the user's Spotify tokens")
    _server_flags(pull, required=False)
    pull.add_argument(
        "--api-url", type=_http_url, default=DEFAULT_API_URL, help="Spotify Web API base URL"
    )
    pull.add_argument(
        "--accounts-url", type=_http_url, default=DEFAULT_ACCOUNTS_URL, help="accounts service URL"
    )
    pull.add_argument("--out", type=Path, help="also write the LibraryInput JSON to this file")
    pull.add_argument("--dry-run", action="store_true", help="fetch and report; submit nothing")
    pull.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        help="seconds the whole run may spend waiting on 429s and retries (default 300)",
    )

    history = sub.add_parser("import-history", help="load the extended streaming history")
    history.add_argument("--user", required=True, help="LibraryCache userId to write")
    _server_flags(history, required=True)
    history.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files, folder, ZIP")


def _server_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--server", type=_http_url, required=required, help="the server's /graphql URL"
    )
    parser.add_argument(
        "--server-token", help="JWT with scope library:sync (default: $LIBRARYCACHE_TOKEN)"
    )


def _http_url(value: str) -> str:
    # Checked here: a URL without a scheme would otherwise be retried as a network error.
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value


def run(args: argparse.Namespace) -> int:
    report = Report()
    progress = Progress(report)
    started = time.monotonic()
    try:
        if args.spotify_command == "pull":
            code = _pull(args, report, progress)
        else:
            code = _import_history(args, report, progress)
        if code != EXIT_OK:
            return code
    except (TokenFileError, OutFileError) as error:
        return _fail(progress, report, str(error), EXIT_USAGE)
    except CacheError as error:
        return _fail(progress, report, str(error), EXIT_CACHE)
    except SpotifyMirrorError as error:
        return _fail(progress, report, f"{error}; nothing was submitted", EXIT_SOURCE)
    progress.done()
    print(report.summary())
    print(f"time: {time.monotonic() - started:.1f} s")
    return code


def _pull(args: argparse.Namespace, report: Report, progress: Progress) -> int:
    if args.server is None and args.out is None and not args.dry_run:
        _complain("give --server (to submit), --out (to write a file) or --dry-run")
        return EXIT_USAGE
    with httpx.Client(timeout=_API_TIMEOUT) as api, _cache_http(args) as cache_http:
        spotify = SpotifyClient(
            api,
            TokenFile(args.token_file),
            report,
            progress,
            api_url=args.api_url,
            accounts_url=args.accounts_url,
            max_wait=args.max_wait,
        )
        cache = None if args.server is None else CacheClient(cache_http, graphql_url(args.server))
        cached = CachedLibrary() if cache is None else cache.read(args.user)
        puller = Puller(spotify, report, progress)
        fetched = puller.fetch(cached)

        def build(current: CachedLibrary) -> dict[str, Any]:
            library = puller.assemble(args.user, fetched, current)
            if args.out is not None:  # before submitting: a file that fails stops the run
                _write_out(args.out, library)
            return library

        if cache is None or args.dry_run:
            build(cached)
        else:
            progress.update("submitting", force=True)
            _print_sync(submit_merged(cache, args.user, cached, build, report))
    if args.dry_run:
        print("dry run: nothing was submitted")
    return EXIT_OK


def _write_out(path: Path, library: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(library, indent=1))
    except OSError as error:
        raise OutFileError(f"cannot write {path}: {error.strerror}") from None


def _import_history(args: argparse.Namespace, report: Report, progress: Progress) -> int:
    history = read_history(args.paths, report, progress)
    with _cache_http(args) as http:
        cache = CacheClient(http, graphql_url(args.server))
        cached = cache.read(args.user, likes=True)

        def build(current: CachedLibrary) -> dict[str, Any]:
            return build_import(args.user, history, current, report)

        progress.update("submitting", force=True)
        _print_sync(submit_merged(cache, args.user, cached, build, report, read_likes=True))
    return EXIT_OK


def _cache_http(args: argparse.Namespace) -> httpx.Client:
    headers = {"Accept": "application/json"}
    token = args.server_token or os.environ.get("LIBRARYCACHE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(headers=headers, timeout=_CACHE_TIMEOUT)


def _print_sync(sync: dict[str, Any]) -> None:
    print(
        f"{sync['kind'].lower()} {sync['userId']}: version {sync['version']}, "
        + ", ".join(
            f"{k} {sync[k]}"
            for k in ("totalLikes", "totalPlays", "totalPlaylists", "documentsWritten")
        )
    )


def _fail(progress: Progress, report: Report, message: str, code: int) -> int:
    progress.done()
    _complain(message)
    sys.stderr.write(report.summary() + "\n")
    return code


def _complain(message: str) -> None:
    sys.stderr.write(f"librarycache spotify: {message}\n")
