"""Transient store failures: which errors are, and the bounded retry of idempotent work.

A replica set stepping down, a primary that is not writable yet, a connection cut or a
server restarting are transient: the same command can succeed a moment later. Work that
is idempotent (every read; writes whose repeat changes nothing more) is retried a few
times with a short backoff; whatever still fails, and any transient failure of work that
is not idempotent, becomes ``StoreUnavailable``: the client is told to retry, never shown
an internal error. Server selection already waits ``serverSelectionTimeoutMS`` for a
usable server, so a selection timeout is not retried again here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from persistence.errors import StoreUnavailable

log = logging.getLogger("librarycache.store")
T = TypeVar("T")

ATTEMPTS: Final = 3
BACKOFF_SECONDS: Final = (0.05, 0.25)
"""Waits between attempts: a step-down elects a new primary in about a second or two
(MongoDB's ``electionTimeoutMillis`` is 10 s at most), and the driver waits for it during
server selection of the next attempt."""

QUICK_FAILURE_SECONDS: Final = 0.5
"""Only a failure this quick (a cut connection, a step-down error) is retried here."""

_TRANSIENT_CODES: Final = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        189,  # PrimarySteppedDown
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is an outage that may pass, rather than a refusal or a bug."""
    if isinstance(error, ConnectionFailure):  # network, NotPrimaryError, selection timeout
        return True
    if isinstance(error, PyMongoError) and (
        error.has_error_label("RetryableWriteError")
        or error.has_error_label("TransientTransactionError")
    ):
        return True
    return isinstance(error, OperationFailure) and error.code in _TRANSIENT_CODES


def unavailable(error: BaseException, what: str) -> StoreUnavailable:
    log.warning("store unavailable during %s: %s", what, type(error).__name__, exc_info=error)
    return StoreUnavailable(what)


async def retrying(what: str, work: Callable[[], Awaitable[T]]) -> T:
    """``work()``, again on a transient failure (it must be idempotent), at most
    ``ATTEMPTS`` times; ``StoreUnavailable`` if the store still fails."""
    for attempt in range(ATTEMPTS):
        started = time.monotonic()
        try:
            return await work()
        except PyMongoError as error:
            if not is_transient(error):
                raise
            # A slow failure means the driver already waited for a server (and retried
            # once itself): another attempt would only make an outage's answer later.
            slow = time.monotonic() - started > QUICK_FAILURE_SECONDS
            last = attempt == ATTEMPTS - 1
            if last or slow or isinstance(error, ServerSelectionTimeoutError):
                raise unavailable(error, what) from error
            log.info("retrying %s after %s", what, type(error).__name__)
            await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
    raise AssertionError("unreachable")


def only_duplicates(error: BulkWriteError, duplicate_key: int = 11000) -> bool:
    """Whether a bulk write failed only on ``_id``s already there (e.g. a retried insert
    whose first attempt was applied but its reply lost)."""
    errors = error.details.get("writeErrors", [])
    return bool(errors) and all(e.get("code") == duplicate_key for e in errors)
