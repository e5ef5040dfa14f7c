"""Connection arguments (Relay Cursor Connections) and the ``PageInfo`` of a store page.

The store pages by keyset and issues the cursors; this module only checks the
arguments a client sent and bounds what a page may hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.relay import PageInfo

from persistence import models
from persistence.errors import InvalidInput


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def sized(self) -> bool:
        """Whether the client asked for a page size; if not, a list may be read whole."""
        return self.first is not None or self.last is not None

    def bounded(self, page_size: int) -> PageArgs:
        """These arguments, with ``first: page_size`` when they name no size.

        A page of objects is never unbounded; a client pages on with ``after``.
        """
        if self.sized:
            return self
        return PageArgs(first=page_size, after=self.after, before=self.before)

    def as_kwargs(self) -> dict[str, Any]:
        return {"first": self.first, "after": self.after, "last": self.last, "before": self.before}


def page_args(
    max_page_size: int,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PageArgs:
    """The arguments as sent, or ``InvalidInput`` naming the one at fault."""
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= max_page_size:
            raise InvalidInput.one(name, f"must be between 0 and {max_page_size} (got {size})")
    if first is not None and last is not None:
        raise InvalidInput.one(
            "last",
            "cannot be combined with first: page forward with first/after "
            "or backward with last/before",
        )
    return PageArgs(first=first, after=after, last=last, before=before)


def page_info(page: models.Page[Any]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=page.start_cursor,
        end_cursor=page.end_cursor,
    )
