"""Lists of plain objects (resolvers/_plain_objects.py) complete exactly as graphql-core does.

Every query runs on the same schema twice, once with the fast path and once with it
turned off (graphql-core's own completion), over generated objects: plain ones, and ones
with a fault planted where graphql-core reports an error (a null in a non-null field, a
value a serializer refuses, an object of another type, an exception as a value) or takes
another path (an awaitable value, a tuple for a list). Data and errors (messages, paths,
locations) must be equal; a spy shows the fast path did complete the plain lists.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Generator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import strawberry
from strawberry.extensions import ParserCache
from strawberry.schema.config import StrawberryConfig

from persistence import LibraryStore
from persistence.client import Client
from resolvers import RequestContext, _plain_objects, build_schema
from resolvers._execution import ListFastPathExecutionContext
from resolvers._plain_objects import PlainObjects
from resolvers.scalars import scalar_overrides
from tests.factories import make_library, snapshot


class Later:
    """An awaitable value (graphql-core awaits it); awaitable more than once."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self._get().__await__()

    async def _get(self) -> Any:
        return self.value


@strawberry.enum
class Color(enum.Enum):
    RED = "red"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Inner:
    name: str
    size: int | None
    tags: list[str]


@strawberry.type
class Thing(Named):
    id: strawberry.ID
    count: int | None
    score: float
    flag: bool | None
    at: datetime | None
    tags: list[str]
    maybe_tags: list[str] | None
    inner: Inner | None
    must: Inner
    color: Color

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


FAULTS: dict[str, list[Any]] = {
    "name": [None, 3, Later("late"), ValueError("no name")],
    "id": [None, 12, 1.5],
    "count": [2**40, "many", True, 1.0],
    "score": ["high", None, 3],
    "flag": ["yes", 0],
    "at": ["yesterday", datetime(2024, 1, 1), Later(datetime(2024, 1, 2, tzinfo=UTC))],
    "tags": [["a", None], ("a", "b"), [1], None, "ab"],
    "maybe_tags": [[None], ("x",)],
    "inner": [Inner(name=None, size=1, tags=[]), "not an object"],  # type: ignore[arg-type]
    "must": [None, Later(Inner(name="late", size=None, tags=[]))],
}


def _inner(rng: random.Random) -> Inner:
    return Inner(name=f"in{rng.randrange(9)}", size=rng.choice([None, rng.randrange(99)]), tags=[])


def _thing(rng: random.Random, i: int, faults: bool) -> Any:
    if faults and rng.random() < 0.05:
        return rng.choice([None, _inner(rng)])  # a null item, or an object of another type
    thing = Thing(
        name=f"thing {i}",
        id=strawberry.ID(f"id:{i}"),
        count=rng.choice([None, rng.randrange(-(2**31), 2**31)]),
        score=rng.choice([0.5, -1e300, float(i)]),
        flag=rng.choice([None, True, False]),
        at=rng.choice(
            [
                None,
                datetime(2025, 3, 1, tzinfo=UTC) + timedelta(microseconds=i),
                datetime(2025, 3, 1, 5, tzinfo=timezone(timedelta(hours=2))),
            ]
        ),
        tags=[f"t{j}" for j in range(rng.randrange(3))],
        maybe_tags=rng.choice([None, [], ["x"]]),
        inner=rng.choice([None, _inner(rng)]),
        must=_inner(rng),
        color=Color.RED,
    )
    if faults and rng.random() < 0.2:
        name = rng.choice(sorted(FAULTS))
        setattr(thing, name, rng.choice(FAULTS[name]))
    return thing


def _things(seed: int, faults: bool) -> list[Any]:
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not a secret
    return [_thing(rng, i, faults) for i in range(rng.randrange(0, 30))]


@strawberry.type
class Query:
    @strawberry.field
    def things(self, seed: int, faults: bool = False) -> list[Thing]:
        return _things(seed, faults)

    @strawberry.field
    def maybe_things(self, seed: int, faults: bool = False) -> list[Thing | None] | None:
        return _things(seed, faults)

    @strawberry.field
    def named(self, seed: int) -> list[Named]:
        return _things(seed, False)


SCHEMA = strawberry.Schema(
    Query,
    execution_context_class=ListFastPathExecutionContext,
    scalar_overrides=scalar_overrides(),
)

PLAIN = "name id count score flag at tags maybeTags inner { name size tags } must { size }"
QUERIES = [
    f"query($s: Int!, $f: Boolean!) {{ things(seed: $s, faults: $f) {{ {PLAIN} }} }}",
    f"query($s: Int!, $f: Boolean!) {{ maybeThings(seed: $s, faults: $f) {{ {PLAIN} }} }}",
    # aliases, the same field twice, __typename at two levels
    """query($s: Int!, $f: Boolean!) { a: things(seed: $s, faults: $f) {
        n: name name __typename t: tags inner { __typename x: name } must { name } } }""",
    # fragments, named and inline, merging into one selection
    """query($s: Int!, $f: Boolean!) {
      things(seed: $s, faults: $f) { ...Parts ... on Thing { at must { tags } } id }
      maybeThings(seed: $s, faults: $f) { ... on Named { name } }
    }
    fragment Parts on Thing { name inner { size } must { name } }""",
    # @skip and @include, by literal and by variable
    """query($s: Int!, $f: Boolean!, $yes: Boolean = true) {
      things(seed: $s, faults: $f) {
        name @skip(if: $yes) count @include(if: $yes) score @skip(if: false)
        inner @include(if: false) { name } must { size @include(if: $yes) }
      } }""",
    # fields the fast path leaves to graphql-core: a resolver, an enum, an abstract list
    "query($s: Int!, $f: Boolean!) { things(seed: $s, faults: $f) { name shout } }",
    "query($s: Int!, $f: Boolean!) { things(seed: $s, faults: $f) { color name } }",
    "query($s: Int!) { named(seed: $s) { name __typename } }",
]


@pytest.fixture
def fast_lists(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items each list the fast path completed held."""
    done: list[int] = []
    original = PlainObjects.complete

    def spy(self: PlainObjects, *args: Any) -> list[Any] | None:
        completed = original(self, *args)
        if completed is not None:
            done.append(len(completed))
        return completed

    monkeypatch.setattr(PlainObjects, "complete", spy)
    return done


def _answer(result: Any) -> tuple[Any, list[dict[str, Any]] | None]:
    errors = None if result.errors is None else [e.formatted for e in result.errors]
    return result.data, errors


async def _reference(
    monkeypatch: pytest.MonkeyPatch, run: Any
) -> tuple[Any, list[dict[str, Any]] | None]:
    """``run()``'s answer with the fast path turned off: graphql-core's own."""
    with monkeypatch.context() as patch:
        patch.setattr(PlainObjects, "complete", lambda *_: None)
        return _answer(await run())


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("faults", [False, True])
async def test_same_answers_as_graphql_core(
    query: str, faults: bool, monkeypatch: pytest.MonkeyPatch, fast_lists: list[int]
) -> None:
    errors_seen = 0
    for seed in range(40):
        variables = {"s": seed, "f": faults}

        async def run(variables: dict[str, Any] = variables) -> Any:
            return await SCHEMA.execute(query, variable_values=variables)

        expected = await _reference(monkeypatch, run)
        assert _answer(await run()) == expected, f"seed {seed}"
        errors_seen += expected[1] is not None
    plain = not any(name in query for name in ("shout", "color", "named"))
    if plain and not faults:
        assert errors_seen == 0
        assert sum(fast_lists) > 200  # the fast path did the work
    if not plain:
        assert fast_lists == []
    if faults and "$f" in query:
        assert errors_seen > 5  # the planted faults did reach graphql-core's errors


@pytest.mark.parametrize("query", QUERIES[:5])
async def test_a_cached_document_answers_each_execution_by_its_own_variables(
    query: str, monkeypatch: pytest.MonkeyPatch, fast_lists: list[int]
) -> None:
    """With the parsed document cached (as the app caches it), its nodes are the same
    objects every execution, and the completers of its lists are kept across executions:
    they must not carry one execution's ``@skip``/``@include`` into the next."""
    schema = strawberry.Schema(
        Query,
        execution_context_class=ListFastPathExecutionContext,
        scalar_overrides=scalar_overrides(),
        extensions=[ParserCache],
    )
    compiled: list[int] = []
    real_compile = _plain_objects._compile

    def counted(*args: Any) -> Any:
        compiled.append(1)
        return real_compile(*args)

    monkeypatch.setattr(_plain_objects, "_compile", counted)
    compiling: list[int] = []  # per execution, how many completers it compiled
    for yes in (True, False, True, False):
        for seed in range(6):
            variables = {"s": seed, "f": False, "yes": yes}
            if "$yes" not in query:
                del variables["yes"]

            async def run(variables: dict[str, Any] = variables) -> Any:
                return await schema.execute(query, variable_values=variables)

            expected = await _reference(monkeypatch, run)
            before = len(compiled)
            assert _answer(await run()) == expected, (seed, yes)
            compiling.append(len(compiled) - before)
    assert sum(fast_lists) > 50
    if "@" in query:
        assert all(compiling)  # built again for each execution's variables
    else:
        assert compiling[0] > 0
        assert not any(compiling[1:])  # built by the first execution, then kept


async def test_it_gives_up_on_a_fault_and_graphql_core_reports_it(
    monkeypatch: pytest.MonkeyPatch, fast_lists: list[int]
) -> None:
    good = Thing(
        name="good",
        id=strawberry.ID("1"),
        count=1,
        score=1.0,
        flag=None,
        at=None,
        tags=[],
        maybe_tags=None,
        inner=None,
        must=Inner(name="x", size=None, tags=[]),
        color=Color.RED,
    )
    bad = Thing(**{**good.__dict__, "must": None})

    @strawberry.type
    class Two:
        @strawberry.field
        def things(self) -> list[Thing]:
            return [good, bad]

    schema = strawberry.Schema(Two, execution_context_class=ListFastPathExecutionContext)
    result = await schema.execute("{ things { name must { name } } }")
    assert result.data is None
    assert result.errors is not None
    assert [e.formatted for e in result.errors] == [
        {
            "message": "Cannot return null for non-nullable field Thing.must.",
            "locations": [{"line": 1, "column": 17}],
            "path": ["things", 1, "must"],
        }
    ]
    assert fast_lists == []


BENCH_QUERIES = [
    """query($u: ID!) { playlists(userId: $u) {
      playlistId name snapshotId entryCount
      entries(first: 100) {
        position trackId addedAt track { trackId title artists album durationMs }
      }
    } }""",
    """query($u: ID!) { liked(userId: $u, first: 50) {
      totalCount pageInfo { hasNextPage endCursor }
      items { trackId addedAt cursor track { trackId title artists album durationMs explicit } }
    } }""",
    """query($u: ID!) { library(userId: $u) { id liked(first: 50) {
      edges { cursor addedAt node { id trackId title artists album durationMs explicit } }
    } playlists { nodes { tracks(first: 3) { edges { position cursor node { id } } } } } } }""",
]


@pytest.mark.parametrize("backend", ["mongomock"], indirect=True)
@pytest.mark.parametrize("query", BENCH_QUERIES)
@pytest.mark.parametrize("missing_track", [False, True])
async def test_the_apps_lists_answer_as_before(
    store: LibraryStore,
    mongo_client: Client,
    db_name: str,
    query: str,
    missing_track: bool,
    monkeypatch: pytest.MonkeyPatch,
    fast_lists: list[int],
) -> None:
    await store.ingest(snapshot(make_library(likes=60, playlists=3, entries=20)))
    if missing_track:
        # A track gone from the cache: ``node`` is non-null, so graphql-core errors there.
        await mongo_client[db_name]["tracks"].delete_one({"_id": "track:2"})
    schema = build_schema()

    async def run() -> Any:
        return await schema.execute(
            query, variable_values={"u": "user:alice"}, context_value=RequestContext(store=store)
        )

    expected = await _reference(monkeypatch, run)
    assert _answer(await run()) == expected
    assert expected[0] is not None
    if missing_track and "node" in query:
        assert expected[1] is not None
    if not missing_track:
        assert expected[1] is None
        assert sum(fast_lists) >= 50


async def test_stream_inside_the_items_is_left_to_graphql_core(fast_lists: list[int]) -> None:
    """``@stream`` on a list of strings within each item: later payloads, as graphql-core."""
    query = "{ things(seed: 3) { name tags @stream(initialCount: 0) } }"

    async def payloads(complete: Any) -> list[Any]:
        schema: Any = strawberry.Schema(
            Query,
            execution_context_class=ListFastPathExecutionContext,
            scalar_overrides=scalar_overrides(),
            config=StrawberryConfig(enable_experimental_incremental_execution=True),
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(PlainObjects, "complete", complete)
            result = await schema.execute(query)
            seen: list[Any] = [result.initial_result.formatted]
            seen += [payload.formatted async for payload in result.subsequent_results]
        return seen

    expected = await payloads(lambda *_: None)
    assert await payloads(PlainObjects.complete) == expected
    assert len(expected) > 1  # the tags did come later
    assert fast_lists == []
