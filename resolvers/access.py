"""Who may read and write which library.

The caller is established by the HTTP layer (``server.auth``); the decisions are
made here, next to the resolvers they guard, so they hold for every transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from persistence.errors import LibraryCacheError

SYNC_SCOPE = "library:sync"


class Unauthenticated(LibraryCacheError):
    code = "UNAUTHENTICATED"


class Forbidden(LibraryCacheError):
    code = "FORBIDDEN"


@dataclass(frozen=True)
class Caller:
    """The identity behind a request. ``subject=None`` with ``open=True``: auth is off."""

    subject: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    open: bool = False

    @property
    def may_sync(self) -> bool:
        return self.open or SYNC_SCOPE in self.scopes

    def ensure_may_read(self, user_id: str) -> None:
        # The message is the same whether or not the library exists, so a refusal
        # reveals nothing about other users.
        if not (self.may_sync or self.subject == user_id):
            raise Forbidden("this token may read only its own library (userId must equal sub)")

    def ensure_may_sync(self) -> None:
        if not self.may_sync:
            raise Forbidden(f"ingest and sync need a token with the {SYNC_SCOPE!r} scope")


OPEN = Caller(open=True)
