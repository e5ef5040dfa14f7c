"""The domain error tree.

Every error carries a machine-readable ``code``; the GraphQL boundary
(``resolvers.errors``) is the one place that turns them into client errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class LibraryCacheError(Exception):
    """Base of every error a client may be told about."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: ``field`` is a path like ``likes[3].trackId``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(LibraryCacheError):
    """The request was refused as a whole; nothing was written."""

    code = "BAD_USER_INPUT"

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls([Problem(field, message)])


class AlreadyIngested(LibraryCacheError):
    code = "ALREADY_INGESTED"

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(
            f'userId "{user_id}" is already ingested; use the sync mutation to refresh it'
        )


class SyncConflict(LibraryCacheError):
    code = "CONFLICT"

    def __init__(
        self, user_id: str, reason: str = "another sync of this user is in progress"
    ) -> None:
        self.user_id = user_id
        super().__init__(f'userId "{user_id}": {reason}; nothing was changed, retry later')


class SnapshotExpired(SyncConflict):
    """A view's snapshot was garbage-collected while it was read: read again."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id, "the library changed while it was being read")


class StoreUnavailable(LibraryCacheError):
    """The store failed transiently, and still did after bounded retries; the detail is
    logged, never shown to clients. Retrying later is safe: a sync that did not commit
    changed nothing readers see."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, during: str = "the request") -> None:
        self.during = during
        super().__init__(
            "the library store is unavailable at the moment; nothing was changed, "
            "retry in a few seconds"
        )
