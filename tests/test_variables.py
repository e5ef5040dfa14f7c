"""Variables coerced once, a library by strict pydantic (resolvers/variables.py): exactly
graphql-core's acceptance, values and errors.

The property: for any value of ``$input``, ``coerce_variables`` either gives graphql-core's
very errors, or a snapshot equal (field by field, type by type) to what the resolver made of
graphql-core's coercion, or graphql-core's own coerced value (the resolver then validates
it as it always has). Values are drawn around the valid shape: every field may be missing,
null, of another JSON type, a list of one or nested deep; keys unknown or in snake_case;
ids duplicated, too long or with control characters; lists over small limits.
"""

from __future__ import annotations

import copy
import string
from datetime import datetime
from typing import Any, cast

import pytest
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.execution import Executor
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

import resolvers.variables
from persistence import InvalidInput, LibrarySnapshot, LibraryStore, Limits, Track
from resolvers import build_schema
from resolvers.context import RequestContext
from tests.factories import make_library

SCHEMA = build_schema()._schema
INPUT = "mutation Ingest($input: LibraryInput!) { ingest(input: $input) { version } }"
LIMITS = Limits(tracks=6, likes=6, plays=6, playlists=3, entries_per_playlist=4)

# -- values around the valid shape --------------------------------------------------------
# A library of values of the right GraphQL types (some the domain refuses), then up to
# three perturbations anywhere in it.


@st.composite
def _mostly(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
    return draw(bad) if draw(st.integers(0, 24)) == 0 else draw(good)


_ids = _mostly(
    st.text(string.ascii_lowercase + string.digits + ":", min_size=1, max_size=8),
    st.one_of(
        st.sampled_from(["track:1", "", "a\x00b", "line\n", "x" * 2049]),
        st.text(st.sampled_from(["t", "é", "\x1f"]), max_size=3),
    ),
)
_texts = _mostly(st.text(string.printable, max_size=8), st.just("y" * 1025))
_dates = _mostly(
    st.sampled_from(
        [
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.123456+02:00",
            "2024-05-01T10:00:00.5-07:00",
            "20240101T000000Z",
        ]
    ),
    st.sampled_from(
        [
            "2024-01-01T24:00:00Z",  # read by Strawberry's parser, not by fromisoformat
            "2024-001T00:00:00+01:00",  # (an ordinal date) the same
            "2024-01-01T12:30:00",  # naive: GraphQL takes it, the domain does not
            "2024-13-01T00:00:00Z",
            "yesterday",
        ]
    ),
)
_ints = _mostly(st.integers(0, 2**31 - 1), st.sampled_from([-1, 2**31, -(2**31), 3.0, 2.5]))
_floats = _mostly(
    st.one_of(st.floats(0, 1), st.integers(0, 1)),
    st.sampled_from([120, 120.5, 1000, 1e308, -0.5, 2**53 + 1, 1.5]),
)
_odd = st.sampled_from([None, True, False, 0, 1, 2.5, "", "2024-01-01T00:00:00Z", [], {}])


def _object(fields: dict[str, st.SearchStrategy[Any]], optional: set[str]) -> Any:
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k not in optional},
        optional={k: st.one_of(st.none(), v) for k, v in fields.items() if k in optional},
    )


_track = _object(
    {
        "trackId": _ids,
        "title": _texts,
        "artists": st.lists(_texts, max_size=3),
        "album": _texts,
        "durationMs": _ints,
        "isrc": st.text(string.ascii_uppercase, max_size=33),
        "explicit": st.booleans(),
        "available": st.booleans(),
        "tempo": _floats,
        "energy": _floats,
        "valence": _floats,
    },
    optional={"album", "durationMs", "isrc", "explicit", "available", "tempo", "energy", "valence"},
)
_entry = _object({"trackId": _ids, "addedAt": _dates}, optional={"addedAt"})
_library_values = st.fixed_dictionaries(
    {
        "userId": _ids,
        "tracks": st.lists(_track, max_size=7),
        "likes": st.lists(st.fixed_dictionaries({"trackId": _ids, "addedAt": _dates}), max_size=7),
        "plays": st.lists(
            st.fixed_dictionaries({"trackId": _ids, "lastPlayedAt": _dates}), max_size=7
        ),
        "playlists": st.lists(
            _object(
                {
                    "playlistId": _ids,
                    "name": _texts,
                    "entries": st.lists(_entry, max_size=5),
                    "description": _texts,
                    "snapshotId": _texts,
                },
                optional={"description", "snapshotId"},
            ),
            max_size=4,
        ),
    }
)


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``value``, the root's own key (None) first."""
    places: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        places.append((value, key))
        if isinstance(item, dict | list):
            places += _places(item)
    return places


@st.composite
def _library(draw: st.DrawFn) -> Any:
    library = draw(_library_values)
    holder = {"input": library}
    for _ in range(draw(st.integers(0, 3))):
        container, key = draw(st.sampled_from(_places(holder)))
        value = container[key]
        kind = draw(st.integers(0, 8))
        if kind == 0:
            container[key] = draw(_odd)
        elif kind == 1:
            container[key] = [value]  # GraphQL: a list of one, where a list is expected
        elif kind == 2:
            container[key] = _nest(value, 300)
        elif kind == 3 and isinstance(container, dict) and container is not holder:
            del container[key]
        elif kind == 4 and isinstance(value, dict):
            value["unknown"] = 1
        elif kind == 5 and isinstance(container, dict) and container is not holder:
            # snake_case: pydantic would take it by name, GraphQL does not know it
            snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
            container[snake if snake != key else f"_{key}"] = container.pop(key)
        elif kind == 6 and isinstance(value, list):
            container[key] = tuple(value)  # an iterable, not a JSON array
        elif kind == 7 and isinstance(value, str):
            container[key] = 7  # an integer: an ID's digits to GraphQL, a wrong type else
    return holder["input"]


# -- the two paths ------------------------------------------------------------------------


def _definitions(query: str = INPUT) -> Any:
    operation = parse(query).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.variable_definitions


def _context(limits: Limits = LIMITS) -> RequestContext:
    return RequestContext(store=cast(LibraryStore, None), limits=limits)


def _graphql_core(inputs: dict[str, Any]) -> tuple[str, Any]:
    """What the request got before: graphql-core's coercion, then the resolver's pydantic."""
    coerced = get_variable_values(SCHEMA, _definitions(), inputs, max_errors=50)
    if isinstance(coerced, list):
        return "errors", [e.formatted for e in coerced]
    try:
        return "snapshot", LibrarySnapshot.parse(coerced.coerced["input"], LIMITS)
    except InvalidInput as refused:
        return "refused", [str(p) for p in refused.problems]


def _ours(inputs: dict[str, Any]) -> tuple[str, Any]:
    coerced = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(), inputs, _context(), max_errors=50
    )
    if isinstance(coerced, list):
        return "errors", [e.formatted for e in coerced]
    value = coerced.coerced["input"]
    if isinstance(value, LibrarySnapshot):
        return "snapshot", value
    # Not taken by strict mode: graphql-core's coerced value, for the resolver to validate.
    assert value == get_variable_values(SCHEMA, _definitions(), inputs).coerced["input"]  # type: ignore[union-attr]
    try:
        return "snapshot", LibrarySnapshot.parse(value, LIMITS)
    except InvalidInput as refused:
        return "refused", [str(p) for p in refused.problems]


def _taken(inputs: dict[str, Any], limits: Limits = LIMITS) -> bool:
    coerced = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(), inputs, _context(limits), max_errors=50
    )
    return isinstance(coerced, VariableValues) and isinstance(
        coerced.coerced["input"], LibrarySnapshot
    )


def _typed(value: Any) -> Any:
    """``value`` with the type of every leaf: 1 and 1.0, or two time zones, differ."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, datetime):
        return (datetime, value, type(value.tzinfo), value.utcoffset())
    return (type(value), value)


def _same(ours: tuple[str, Any], theirs: tuple[str, Any]) -> None:
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "snapshot":
        assert ours[1] == theirs[1]
        assert _typed(ours[1].model_dump()) == _typed(theirs[1].model_dump())
    else:
        assert ours[1] == theirs[1]


@settings(
    max_examples=400,
    deadline=None,  # a shared, busy machine: no timing in tests
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_library())
def test_a_library_variable_is_coerced_as_graphql_core_and_the_resolver_did(value: Any) -> None:
    ours = _ours({"input": value})
    event(f"{ours[0]}, {'taken' if _taken({'input': value}) else 'left to graphql-core'}")
    _same(ours, _graphql_core({"input": value}))


VALID = make_library("user:a", likes=3, plays=2, playlists=2, entries=3)


def _with(**changes: Any) -> dict[str, Any]:
    library: dict[str, Any] = copy.deepcopy(VALID)
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("__")]
        target: Any = library
        for part in parents:
            target = target[part]
        target[last] = value
    return library


@pytest.mark.parametrize(
    ("case", "library", "taken"),
    [
        ("valid", VALID, True),
        ("an integer id, which GraphQL reads as its digits", _with(userId=7), False),
        ("a float tempo given as an integer", _with(tracks__0__tempo=120), True),
        ("a list given as one item", _with(likes=VALID["likes"][0]), False),
        ("a naive timestamp", _with(likes__0__addedAt="2024-01-01T00:00:00"), False),
        (
            "a timestamp only Strawberry reads",
            _with(likes__0__addedAt="2024-01-01T24:00:00Z"),
            False,
        ),
        ("a duplicate like", _with(likes=[VALID["likes"][0], VALID["likes"][0]]), False),
        ("a snake_case key", _with(user_id="user:a"), False),
        (
            "a model instance for a track",
            _with(tracks__0=Track.model_validate(VALID["tracks"][0])),
            False,
        ),
        ("a Python datetime for a timestamp", _with(likes__0__addedAt=datetime(2024, 1, 1)), False),
        ("artists nested 500 deep", _with(tracks__0__artists=_nest("a", 500)), False),
        ("tracks nested 500 deep", _with(tracks=_nest(VALID["tracks"][0], 500)), False),
    ],
)
def test_each_kind_of_value_is_taken_by_strict_mode_or_left_to_graphql_core(
    case: str, library: dict[str, Any], taken: bool
) -> None:
    inputs = {"input": library}
    coerced = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(), inputs, _context(Limits()), max_errors=50
    )
    assert (
        isinstance(coerced, list) or isinstance(coerced.coerced["input"], LibrarySnapshot) is taken
    ), case
    _same(_ours(inputs), _graphql_core(inputs))


def test_nesting_beyond_graphql_cores_limit_is_its_own_error() -> None:
    """No value of LibraryInput nests past graphql-core's limit along the type: a deep value
    fails as a wrong type. Another variable's too-deep value refuses the whole operation,
    the library too, with graphql-core's message."""
    query = "mutation($input: LibraryInput!, $ids: [ID!]) { ingest(input: $input) { version } }"
    inputs = {"input": VALID, "ids": _nest("a", 300)}
    theirs = get_variable_values(SCHEMA, _definitions(query), inputs, max_errors=50)
    ours = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(query), inputs, _context(Limits()), max_errors=50
    )
    assert isinstance(ours, list)
    assert isinstance(theirs, list)
    assert [e.formatted for e in ours] == [e.formatted for e in theirs]


def test_the_other_variables_are_graphql_cores_and_in_its_order() -> None:
    query = (
        "mutation($first: Int, $input: LibraryInput!, $user: ID!, $absent: String)"
        " { ingest(input: $input) { version } }"
    )
    inputs = {"first": 5, "input": VALID, "user": 12}
    theirs = get_variable_values(SCHEMA, _definitions(query), inputs)
    ours = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(query), inputs, _context(Limits())
    )
    assert isinstance(ours, VariableValues)
    assert isinstance(theirs, VariableValues)
    assert list(ours.coerced) == list(theirs.coerced) == ["first", "input", "user"]
    assert ours.coerced["input"] == LibrarySnapshot.parse(theirs.coerced["input"])
    assert {k: v for k, v in ours.coerced.items() if k != "input"} == {"first": 5, "user": "12"}
    assert list(ours.sources) == list(theirs.sources)
    ours_source, their_source = ours.sources["input"], theirs.sources["input"]
    assert ours_source.value is their_source.value is VALID
    assert str(ours_source.signature.type) == str(their_source.signature.type)
    assert ours_source.signature.name == their_source.signature.name == "input"


def test_graphql_cores_errors_are_never_kept_for_execution() -> None:
    """The cost limit coerces without a cap on errors, execution with one: an error list
    is coerced afresh for execution."""
    library = {**VALID, "likes": [{"trackId": "t", "addedAt": "no"}] * 60}
    inputs = {"input": library}
    context = _context(Limits())
    uncapped = resolvers.variables.coerce_variables(SCHEMA, _definitions(), inputs, context)
    capped = resolvers.variables.coerce_variables(
        SCHEMA, _definitions(), inputs, context, max_errors=50
    )
    assert isinstance(uncapped, list)
    assert isinstance(capped, list)
    assert (len(uncapped), len(capped)) == (60, 51)
    assert all(isinstance(e, GraphQLError) for e in capped)


def test_the_executor_builds_with_graphql_cores_own_build() -> None:
    """``build_executor`` runs a copy of ``Executor.build``: it must be the build that
    Strawberry's executor would run, or an upgrade would skip an override."""
    assert StrawberryGraphQLCoreExecutionContext.build.__func__ is Executor.build.__func__  # type: ignore[attr-defined]
    assert resolvers.variables._build.__code__ is Executor.build.__func__.__code__  # type: ignore[attr-defined]
