"""Read-modify-write of one user's library, guarded against a sync in between.

The server's ``sync`` replaces the whole library, and there is no compare-and-set on
its version, so merging (plays that accumulate, playlists reused from the cache) reads
first and writes later. Before writing, the user's ``lastSync.version`` is read again:
if another sync committed in between, the cache is re-read and the library rebuilt
from it. A ``CONFLICT`` (another sync is running right now) is retried the same way.
What is left is the short window between that check and the server taking our sync's
lease; a second sync started inside it would be overwritten by ours.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from sources.spotify.cache import CacheClient, CachedLibrary
from sources.spotify.errors import CacheError
from sources.spotify.report import Report

_ATTEMPTS = 6


def submit_merged(
    cache: CacheClient,
    user_id: str,
    cached: CachedLibrary,
    build: Callable[[CachedLibrary], dict[str, Any]],
    report: Report,
    *,
    read_likes: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    first_delay: float = 1.0,
) -> dict[str, Any]:
    """Build the library from the cache and submit it; rebuild if the cache moved."""
    for attempt in range(1, _ATTEMPTS + 1):
        library = build(cached)
        if cache.version(user_id) == cached.version:
            try:
                return cache.submit(library, new_user=cached.version is None)
            except CacheError as error:
                if error.code != "CONFLICT":
                    raise
                # Another sync of this user is running: let it finish, then merge with it.
                sleep(first_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
        report.cache_rereads += 1
        cached = cache.read(user_id, likes=read_likes)
    raise CacheError(
        f"{user_id}'s library kept changing on the server during {_ATTEMPTS} attempts; "
        "nothing was submitted: run again later",
        "CONFLICT",
    )
