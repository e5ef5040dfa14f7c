"""Running operations through the schema with a chosen caller, for the graph's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from persistence import LibraryStore
from resolvers import RequestContext, build_schema
from resolvers.access import OPEN, Caller

schema = build_schema()


@dataclass(frozen=True)
class Result:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    """As a client reads them: ``message``, ``path`` and ``extensions``."""

    def codes(self) -> list[tuple[str, list[str | int] | None, str | None]]:
        """``(code, path, field)`` of each error, in order."""
        return [
            (e["extensions"]["code"], e.get("path"), e["extensions"].get("field"))
            for e in self.errors
        ]


async def run(
    store: LibraryStore,
    query: str,
    *,
    caller: Caller = OPEN,
    max_page_size: int = 500,
    **variables: Any,
) -> Result:
    context = RequestContext(store=store, caller=caller, max_page_size=max_page_size)
    result = await schema.execute(query, variable_values=variables, context_value=context)
    errors = [error.formatted for error in result.errors or ()]
    return Result(data=result.data, errors=[dict(e) for e in errors])


async def ok(store: LibraryStore, query: str, **kwargs: Any) -> dict[str, Any]:
    """Run an operation that must succeed; fail with its errors otherwise."""
    result = await run(store, query, **kwargs)
    assert not result.errors, result.errors
    assert result.data is not None
    return result.data
