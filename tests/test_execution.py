"""The executor's list fast path (resolvers/_execution.py) answers exactly as graphql-core's.

Every query runs twice, on the same schema built with Strawberry's default executor and
with ``ListFastPathExecutionContext``, and the two answers (data, errors with their
messages, paths and locations, incremental payloads) must be equal. Counting the calls
of ``complete_iterable_value`` (the item-by-item path) shows which path a list took.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers import build_schema
from resolvers._execution import ListFastPathExecutionContext


class Name(str):
    """A str subclass: serialized as is by ID and String, but not taken by the fast path."""


@strawberry.type
class Item:
    tags: list[str]


def _values() -> dict[str, Any]:
    return {
        "ids": ["track:1", "track:2", "track:1"],
        "empty": [],
        "with_none": ["a", None, "c"],
        "ints": [1, 2, 3],
        "bools": ["a", True],
        "subclass": [Name("a"), "b"],
    }


@strawberry.type
class Query:
    @strawberry.field
    def ids(self) -> list[strawberry.ID]:
        return _values()["ids"]  # type: ignore[no-any-return]

    @strawberry.field
    def strings(self) -> list[str]:
        return ["x", "", "z" * 100]

    @strawberry.field
    def empty(self) -> list[strawberry.ID]:
        return []

    @strawberry.field
    def id_tuple(self) -> list[strawberry.ID]:
        return ("a", "b")  # type: ignore[return-value]

    @strawberry.field
    def id_generator(self) -> list[strawberry.ID]:
        def gen() -> Iterator[str]:
            yield from ("a", "b")

        return gen()  # type: ignore[return-value]

    @strawberry.field
    def ints_as_ids(self) -> list[strawberry.ID]:
        return _values()["ints"]  # type: ignore[no-any-return]

    @strawberry.field
    def bool_in_strings(self) -> list[str]:
        return _values()["bools"]  # type: ignore[no-any-return]

    @strawberry.field
    def none_in_ids(self) -> list[strawberry.ID]:
        return _values()["with_none"]  # type: ignore[no-any-return]

    @strawberry.field
    def none_in_strings(self) -> list[str]:
        return _values()["with_none"]  # type: ignore[no-any-return]

    @strawberry.field
    def nullable_items(self) -> list[str | None]:
        return _values()["with_none"]  # type: ignore[no-any-return]

    @strawberry.field
    def subclass_items(self) -> list[str]:
        return _values()["subclass"]  # type: ignore[no-any-return]

    @strawberry.field
    def ints(self) -> list[int]:
        return [1, 2]

    @strawberry.field
    def words_as_ints(self) -> list[int]:
        return ["one", "two"]  # type: ignore[list-item]

    @strawberry.field
    def nested(self) -> list[list[str]]:
        return [["a", "b"], ["c"]]

    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(tags=["a", "b"]), Item(tags=[])]

    @strawberry.field
    async def async_ids(self) -> list[strawberry.ID]:
        return ["a", "b"]  # type: ignore[list-item]

    @strawberry.field
    def async_iterable_ids(self) -> list[strawberry.ID]:
        async def gen() -> AsyncGenerator[str, None]:
            for value in ("a", "b"):
                yield value

        return gen()  # type: ignore[return-value]

    @strawberry.field
    def failing(self) -> list[strawberry.ID]:
        raise ValueError("no ids today")


def _schema(executor: type[StrawberryGraphQLCoreExecutionContext] | None, **config: Any) -> Any:
    return strawberry.Schema(
        Query, execution_context_class=executor, config=StrawberryConfig(**config)
    )


DEFAULT = _schema(None)
FAST = _schema(ListFastPathExecutionContext)


@pytest.fixture
def item_by_item(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Field names of the lists that the fast path executor completed item by item."""
    calls: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.complete_iterable_value

    def counting(self: Any, item_type: Any, fields: Any, info: Any, *args: Any) -> Any:
        if isinstance(self, ListFastPathExecutionContext):
            calls.append(info.field_name)
        return original(self, item_type, fields, info, *args)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "complete_iterable_value", counting)
    return calls


def _answer(result: Any) -> tuple[Any, list[dict[str, Any]] | None]:
    errors = None if result.errors is None else [e.formatted for e in result.errors]
    return result.data, errors


async def _both(query: str) -> tuple[Any, list[dict[str, Any]] | None]:
    expected = _answer(await DEFAULT.execute(query))
    got = _answer(await FAST.execute(query))
    assert got == expected
    return got


@pytest.mark.parametrize("field", ["ids", "strings", "empty", "asyncIds"])
async def test_lists_of_str_are_returned_as_they_are(field: str, item_by_item: list[str]) -> None:
    data, errors = await _both(f"{{ {field} }}")
    assert errors is None
    expected = {
        "ids": _values()["ids"],
        "strings": ["x", "", "z" * 100],
        "empty": [],
        "asyncIds": ["a", "b"],
    }
    assert data[field] == expected[field]
    assert item_by_item == []


async def test_the_list_is_a_copy() -> None:
    source = ["a", "b"]

    @strawberry.type
    class Shared:
        @strawberry.field
        def ids(self) -> list[strawberry.ID]:
            return source  # type: ignore[return-value]

    result = await strawberry.Schema(
        Shared, execution_context_class=ListFastPathExecutionContext
    ).execute("{ ids }")
    assert result.data == {"ids": ["a", "b"]}
    assert result.data["ids"] is not source


@pytest.mark.parametrize(
    "field",
    [
        "idTuple",
        "idGenerator",
        "intsAsIds",
        "subclassItems",
        "nullableItems",
        "ints",
        "asyncIterableIds",
    ],
)
async def test_anything_else_is_completed_item_by_item(field: str, item_by_item: list[str]) -> None:
    data, errors = await _both(f"{{ {field} }}")
    assert errors is None
    assert data[field] is not None
    if field != "asyncIterableIds":  # an async iterable has a path of its own
        assert item_by_item == [field]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("noneInIds", "Cannot return null for non-nullable field Query.noneInIds."),
        ("noneInStrings", "Cannot return null for non-nullable field Query.noneInStrings."),
        ("boolInStrings", None),  # coerced: "true", no error
        ("wordsAsInts", "Int cannot represent non-integer value: 'one'"),
        ("failing", "no ids today"),
    ],
)
async def test_errors_are_the_same(field: str, message: str | None) -> None:
    data, errors = await _both(f"{{ {field} }}")
    if message is None:
        assert errors is None
        assert data == {field: ["a", "true"]}
        return
    assert errors is not None
    assert errors[0]["message"] == message
    assert data is None


async def test_nested_and_object_lists_are_unchanged() -> None:
    data, errors = await _both("{ nested items { tags } ids strings }")
    assert errors is None
    assert data["nested"] == [["a", "b"], ["c"]]
    assert data["items"] == [{"tags": ["a", "b"]}, {"tags": []}]


async def test_stream_is_left_to_graphql_core() -> None:
    """Under ``@stream`` the first items come at once and the rest in later payloads."""
    query = "{ ids @stream(initialCount: 1) strings }"

    async def payloads(executor: type[StrawberryGraphQLCoreExecutionContext] | None) -> list[Any]:
        schema = _schema(executor, enable_experimental_incremental_execution=True)
        result = await schema.execute(query)
        seen: list[Any] = [result.initial_result.formatted]
        seen += [payload.formatted async for payload in result.subsequent_results]
        return seen

    expected = await payloads(None)
    assert await payloads(ListFastPathExecutionContext) == expected
    assert expected[0]["data"] == {"ids": ["track:1"], "strings": ["x", "", "z" * 100]}


async def test_the_app_schema_uses_it_and_keeps_error_codes() -> None:
    schema = build_schema()
    assert schema.execution_context_class is ListFastPathExecutionContext
    assert issubclass(ListFastPathExecutionContext, StrawberryGraphQLCoreExecutionContext)
    # An error raised by a resolver still reaches the client with the app's error code.
    result = await schema.execute('{ liked(userId: "user:x", first: -1) { trackIds } }')
    assert result.errors is not None
    (error,) = result.errors
    assert isinstance(error, GraphQLError)
    assert error.extensions is not None
    assert "code" in error.extensions
