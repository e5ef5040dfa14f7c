"""An operation's variables, coerced once, and a ``LibraryInput`` straight into its snapshot.

graphql-core coerces a variable generically, field by field in Python, after a pre-walk of
the whole value for its nesting depth. An ingest's ``$input`` of 22,000 items (200,000 for
100k likes) was coerced twice that way -- by the cost limit, to price the operation
(``server.cost``), and again by execution -- and then validated a third time by pydantic
in the resolver. Now:

- ``coerce_variables`` is graphql-core's ``get_variable_values`` for one operation, and
  keeps a result that succeeded for the same operation's execution: the executor built
  next (``build_executor``) takes it instead of coercing the same values again. Errors are
  never kept (execution caps their number, the cost limit does not), so a refused
  variable is coerced and reported by execution exactly as before.
- A ``LibraryInput!`` variable is first validated by pydantic in strict mode, straight
  into the ``LibrarySnapshot`` the resolver stores (``LibrarySnapshot.validate_strict``),
  which graphql-core's coercion then never sees. Strict mode accepts only what
  graphql-core accepts, each value unchanged by both:

  - an input object: graphql-core takes a ``dict`` of known fields, the required ones
    non-null; strict mode a ``dict`` keyed by the camelCase names only (no model instance,
    no snake_case name);
  - a list: graphql-core takes any iterable but a string or mapping, and any other value
    as a list of one; strict mode a ``list``;
  - ``ID``: graphql-core a ``str``, or an integral number as its digits; strict mode a ``str``;
  - ``String``: a ``str``; ``Boolean``: a ``bool``, both alike;
  - ``Int``: graphql-core an ``int`` (not a ``bool``) or an integral ``float`` in 32 bits;
    strict mode an ``int`` (not a ``bool``) in the domain's narrower range;
  - ``Float``: graphql-core an ``int`` a float holds exactly, or a finite ``float``, as a
    ``float``; strict mode an ``int`` or ``float``, as a ``float``, in the domain's range
    (at most 1,000: every such ``int`` is exact as a float);
  - ``DateTime``: graphql-core a ``str`` that ``datetime.fromisoformat`` reads, else one
    Strawberry's parser reads (``resolvers.scalars.parse_datetime``); strict mode a ``str``
    that ``datetime.fromisoformat`` reads.

  LibraryInput's nesting is 5 levels at most, so graphql-core's depth limit (200) never
  applies to a value accepted here. Whatever strict mode refuses -- a GraphQL-valid
  value it does not take (an integer id, a single item for a list), a value graphql-core
  refuses, or a library the domain refuses (a duplicate, a limit) -- goes graphql-core's
  way, and the resolver validates graphql-core's result as it always has: every error,
  its message, path and code, is the one it was. A snapshot taken here equals, field by
  field and type by type, the one the resolver would have built (``tests/test_variables.py``
  checks it against graphql-core's path); only pydantic's ``model_fields_set`` differs
  (graphql-core fills in the schema's ``= null`` defaults), and nothing reads it. Nor is
  graphql-core's coerced copy of the whole library built any more.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, cast

from graphql import GraphQLError, GraphQLSchema, VariableDefinitionNode
from graphql.execution import Executor
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValuesOrErrors,
    VariableValueSource,
    get_variable_values,
)
from graphql.language import NamedTypeNode, NonNullTypeNode
from strawberry.schema.schema_converter import GraphQLCoreConverter

from persistence import LibrarySnapshot
from resolvers.context import RequestContext
from resolvers.inputs import LibraryInput
from resolvers.scalars import parse_datetime

__all__ = ["build_executor", "coerce_variables", "forget_coerced_variables"]


@dataclass(frozen=True)
class _Coerced:
    definitions: Collection[VariableDefinitionNode]
    inputs: Mapping[str, Any]
    context: object
    values: VariableValues


class _Slot:
    """Where a task keeps the variables it coerced last, for the same operation's execution.

    A mutable slot in the context, not the value itself: asyncio copies the context into
    every timer it schedules (the store's deadlines, the execution timeout), and a
    cancelled timer keeps its copy in the loop's heap until its time comes, seconds to
    minutes later. Emptied in place, the slot lets go of a library in every copy at once.
    """

    __slots__ = ("coerced",)

    def __init__(self, coerced: _Coerced) -> None:
        self.coerced: _Coerced | None = coerced


_kept: ContextVar[_Slot | None] = ContextVar("coerced_variables", default=None)
"""The last variables coerced in this task, for the same operation's execution."""


def forget_coerced_variables() -> None:
    """Let go of the variables this task keeps (see ``_Slot``): once its operation has
    executed, or will not be."""
    slot = _kept.get()
    if slot is not None:
        slot.coerced = None


def coerce_variables(
    schema: GraphQLSchema,
    definitions: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    context: object,
    *,
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> VariableValuesOrErrors:
    """graphql-core's ``get_variable_values``, coercing each ``LibraryInput!`` variable
    into a ``LibrarySnapshot`` where strict validation takes it (module docstring).

    A result already coerced for these very definitions, values and request context is
    returned again, and a new success is kept for them.
    """
    slot = _kept.get()
    kept = slot.coerced if slot is not None else None
    if (
        kept is not None
        and kept.definitions is definitions
        and kept.inputs is inputs
        and kept.context is context
    ):
        return kept.values
    values = _coerce(schema, definitions, inputs, context, max_errors, hide_suggestions)
    forget_coerced_variables()
    if isinstance(values, VariableValues):
        _kept.set(_Slot(_Coerced(definitions, inputs, context, values)))
    return values


def _coerce(
    schema: GraphQLSchema,
    definitions: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    context: object,
    max_errors: int | None,
    hide_suggestions: bool,
) -> VariableValuesOrErrors:
    snapshots: dict[str, LibrarySnapshot] = {}
    rest: list[VariableDefinitionNode] = []
    for definition in definitions:
        name = definition.variable.name.value
        snapshot = None
        if name in inputs and _is_library_input(schema, definition):
            snapshot = _snapshot(inputs[name], context)
        if snapshot is None:
            rest.append(definition)
        else:
            snapshots[name] = snapshot
    if not snapshots:
        return get_variable_values(
            schema, definitions, inputs, max_errors=max_errors, hide_suggestions=hide_suggestions
        )
    others = get_variable_values(
        schema, rest, inputs, max_errors=max_errors, hide_suggestions=hide_suggestions
    )
    if isinstance(others, list):
        # graphql-core reports the errors of the whole operation, as it always has.
        return get_variable_values(
            schema, definitions, inputs, max_errors=max_errors, hide_suggestions=hide_suggestions
        )
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    for definition in definitions:  # graphql-core's order
        name = definition.variable.name.value
        if name in snapshots:
            signature = get_variable_signature(schema, definition)
            assert not isinstance(signature, GraphQLError)  # its type is LibraryInput!
            sources[name] = VariableValueSource(signature, inputs[name])
            coerced[name] = snapshots[name]
            continue
        if name in others.sources:
            sources[name] = others.sources[name]
        if name in others.coerced:
            coerced[name] = others.coerced[name]
    return VariableValues(sources, coerced)


def _is_library_input(schema: GraphQLSchema, definition: VariableDefinitionNode) -> bool:
    """Declared ``LibraryInput!``, this app's ``LibraryInput``, read as this app reads dates."""
    declared = definition.type
    if not (isinstance(declared, NonNullTypeNode) and isinstance(declared.type, NamedTypeNode)):
        return False
    named = schema.get_type(declared.type.name.value)
    dates = schema.get_type("DateTime")
    if named is None or dates is None:
        return False
    definition_of = (named.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return (
        getattr(definition_of, "origin", None) is LibraryInput
        and getattr(dates, "coerce_input_value", None) is parse_datetime
    )


def _snapshot(value: Any, context: object) -> LibrarySnapshot | None:
    """The snapshot ``value`` validates to strictly, or None: graphql-core's way then."""
    if not (isinstance(value, dict) and isinstance(context, RequestContext)):
        return None
    try:
        snapshot = LibrarySnapshot.validate_strict(value, context.limits, datetime.fromisoformat)
    except ValueError:  # pydantic's ValidationError, the domain's refusals
        return None
    # Strict mode takes a model instance where a dict is expected; graphql-core does not.
    lists = (value["tracks"], value["likes"], value["plays"], value["playlists"])
    if not all(_all_dicts(items) for items in lists) or not all(
        _all_dicts(playlist["entries"]) for playlist in value["playlists"]
    ):
        return None
    return snapshot


def _all_dicts(items: list[Any]) -> bool:
    return all(map(isinstance, items, repeat(dict)))


_coercing_for: ContextVar[object] = ContextVar("coercing_for")
"""The request context of the executor being built (``build_executor``)."""


def _get_variable_values_for_build(
    schema: GraphQLSchema,
    definitions: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> VariableValuesOrErrors:
    values = coerce_variables(
        schema,
        definitions,
        inputs,
        _coercing_for.get(None),
        max_errors=max_errors,
        hide_suggestions=hide_suggestions,
    )
    forget_coerced_variables()  # execution is the last to need them: not kept past it
    return values


def _rebind(function: types.FunctionType, **names: Any) -> types.FunctionType:
    """A copy of ``function`` reading ``names`` from its globals instead of its module's."""
    missing = [name for name in names if name not in function.__globals__]
    if missing:
        raise RuntimeError(f"{function.__qualname__} no longer reads {missing}")
    copy = types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy


# graphql-core's ``Executor.build``, its variables coerced by ``coerce_variables``: a
# copy, so that graphql-core's own function and module stay as they are for everyone else.
_build = _rebind(
    cast(types.FunctionType, Executor.build.__func__),  # type: ignore[attr-defined]
    get_variable_values=_get_variable_values_for_build,
)


def build_executor(
    cls: type[Executor[Any]], schema: GraphQLSchema, document: Any, *args: Any, **kwargs: Any
) -> list[GraphQLError] | Executor[Any]:
    """``Executor.build`` for ``cls`` (same arguments), with the variables coerced by
    ``coerce_variables``: the cost limit's result when it priced this operation."""
    context = args[1] if len(args) > 1 else kwargs.get("context_value")
    token = _coercing_for.set(context)
    try:
        return cast(
            list[GraphQLError] | Executor[Any], _build(cls, schema, document, *args, **kwargs)
        )
    finally:
        _coercing_for.reset(token)
