"""A library variable over HTTP: validated once per operation (resolvers/variables.py).

The cost limit prices the operation with the variables it coerced, execution reuses them,
and the resolver stores the snapshot strict validation built; whatever strict mode refuses
is coerced and reported by graphql-core, and validated by the resolver, as before.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import resolvers.variables
from persistence import LibrarySnapshot
from tests.factories import make_library
from tests.graphql_client import INGEST, post


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts strict validations, graphql-core coercions of ``$input`` and resolver parses."""
    counts = {"strict": 0, "graphql-core": 0, "parse": 0}
    strict, coerce, parse_ = (
        LibrarySnapshot.validate_strict,
        resolvers.variables.get_variable_values,
        LibrarySnapshot.parse,
    )

    def counted_strict(*args: Any, **kwargs: Any) -> LibrarySnapshot:
        counts["strict"] += 1
        return strict(*args, **kwargs)

    def counted_coerce(schema: Any, definitions: Any, *args: Any, **kwargs: Any) -> Any:
        if any(d.variable.name.value == "input" for d in definitions):
            counts["graphql-core"] += 1
        return coerce(schema, definitions, *args, **kwargs)

    def counted_parse(*args: Any, **kwargs: Any) -> LibrarySnapshot:
        counts["parse"] += 1
        return parse_(*args, **kwargs)

    monkeypatch.setattr(LibrarySnapshot, "validate_strict", staticmethod(counted_strict))
    monkeypatch.setattr(LibrarySnapshot, "parse", staticmethod(counted_parse))
    monkeypatch.setattr(resolvers.variables, "get_variable_values", counted_coerce)
    return counts


async def test_an_ingest_validates_its_library_once(
    app_client: httpx.AsyncClient, counted: dict[str, int]
) -> None:
    """The cost limit's coercion is execution's, and the resolver stores its snapshot."""
    body = await post(app_client, INGEST, {"input": make_library("user:once", likes=5)})
    assert "errors" not in body, body
    assert counted == {"strict": 1, "graphql-core": 0, "parse": 0}
    liked = await post(app_client, 'query { liked(userId: "user:once") { totalCount } }')
    assert liked == {"data": {"liked": {"totalCount": 5}}}


async def test_a_refused_library_is_coerced_and_reported_by_graphql_core(
    app_client: httpx.AsyncClient, counted: dict[str, int]
) -> None:
    library = make_library("user:bad", likes=2)
    library["likes"][1]["addedAt"] = "yesterday"
    body = await post(app_client, INGEST, {"input": library})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "likes[1].addedAt",
    }
    # strict mode refused it for the cost limit; graphql-core reported it to the cost limit
    # (which then prices the operation at 0) and to execution, as before.
    assert counted == {"strict": 2, "graphql-core": 2, "parse": 0}


async def test_a_library_the_domain_refuses_is_validated_again_by_the_resolver(
    app_client: httpx.AsyncClient, counted: dict[str, int]
) -> None:
    library = make_library("user:dup", likes=2)
    library["likes"][1]["trackId"] = library["likes"][0]["trackId"]
    body = await post(app_client, INGEST, {"input": library})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "likes[1].trackId",
    }
    assert counted["parse"] == 1


@pytest.mark.parametrize(
    ("first", "code"), [(5, "COST_LIMIT_EXCEEDED"), ("five", "BAD_USER_INPUT")]
)
async def test_bad_input_wins_over_cost(
    app_client: httpx.AsyncClient, first: Any, code: str
) -> None:
    """An operation over the budget is refused for its cost, unless a variable is refused:
    such an operation costs 0, and execution reports the variable."""
    query = """query($ids: [ID!]!, $first: Int) {
      nodes(ids: $ids) { id }
      liked(userId: "user:nobody", first: $first) { totalCount }
    }"""
    ids = [f"id:{i}" for i in range(25_000)]  # one object each: over the 20,000 budget
    body = await post(app_client, query, {"ids": ids, "first": first})
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    if code == "BAD_USER_INPUT":
        assert body["errors"][0]["message"] == (
            "Variable '$first' has invalid value: Int cannot represent non-integer value: 'five'"
        )
