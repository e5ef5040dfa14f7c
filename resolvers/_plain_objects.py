"""Completing a list of plain objects without graphql-core's machinery per field.

graphql-core completes every field of every item on its own: a ``Path``, a
``GraphQLResolveInfo``, a resolver call and ``complete_value``. For 50 playlists of 100
entries with their tracks that is ~55,000 fields and most of the response's CPU, to copy
attributes that Strawberry's default resolver reads with ``getattr``.

A list qualifies when every field its items' selection reaches (through aliases,
fragments and ``@skip``/``@include``, as graphql-core collects them) is plain and carries no
other directive:
``__typename``, or a Strawberry field without a resolver, extension or argument, whose
type is a scalar, a list of non-null ``String``/``ID``, or an object type (no interface
or union) whose own selection qualifies. Anything else -- a resolver, an enum, a list of
objects, ``@defer``, field middleware -- goes to graphql-core, so does the whole list.

The values are then completed here as graphql-core completes them: the scalar's own
serializer, the object type's ``is_type_of``. Only the success path is done here: at
anything that would raise or could differ (a null in a non-null field, a value that is
awaitable or an exception, a serializer that refuses, a type check that fails) this
gives up and graphql-core completes the list from the start, so errors, their messages
and their paths are graphql-core's own. Starting again is safe: a plain field is an
attribute read, with no side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.executor import Executor

_TYPENAME: Final = 0
_SCALAR: Final = 1
_STRINGS: Final = 2
_OBJECT: Final = 3

_APPLIED: Final = frozenset({"skip", "include"})
"""Directives graphql-core has applied by the time fields are collected."""
_STRAWBERRY_FIELD: Final = "strawberry-definition"
_IS_TYPE_OF: Final = "_get_is_type_of.<locals>.is_type_of"
"""Strawberry's own ``is_type_of`` (an ``isinstance`` test) ends its qualified name so."""


class _GiveUp(Exception):
    """This list is graphql-core's to complete."""


@dataclass(frozen=True, slots=True)
class _Field:
    key: str
    kind: int
    attribute: str = ""
    non_null: bool = False
    serialize: Callable[[Any], Any] | None = None
    plain_str: bool = False
    """Whether the serializer hands a ``str`` back unchanged (``String``, ``ID``)."""
    plan: _Plan | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    type_name: str
    is_type_of: Callable[[Any, Any], Any] | None
    fields: tuple[_Field, ...]


class PlainObjects:
    """The plans of one execution, memoized as graphql-core memoizes collected fields."""

    def __init__(self, context: Executor[Any]) -> None:
        self._context = context
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, _Plan | None]]
        self._plans = {}
        manager = context.middleware_manager
        self._enabled = manager is None or not manager.middlewares

    def complete(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        items: list[Any],
    ) -> list[Any] | None:
        """The completed ``items``; ``None`` when graphql-core must complete them."""
        if not self._enabled:
            return None
        non_null = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(object_type, GraphQLObjectType):
            return None
        plan = self._plan(object_type, field_details_list)
        if plan is None:
            return None
        is_awaitable = self._context.is_awaitable
        completed: list[Any] = []
        append = completed.append
        try:
            for item in items:
                if item is None:
                    if non_null:
                        return None
                    append(None)
                elif isinstance(item, Exception) or is_awaitable(item):
                    return None
                else:
                    append(_complete(plan, item, is_awaitable))
        except Exception:  # any failure (and ``_GiveUp``) is graphql-core's to report
            return None
        return completed

    def _plan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _Plan | None:
        key = (object_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None:
            # The list is kept alive with its plan, so that its id is not reused.
            cached = self._plans[key] = (
                field_details_list,
                self._build(object_type, field_details_list),
            )
        return cached[1]

    def _build(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _Plan | None:
        is_type_of = object_type.is_type_of
        if is_type_of is not None and not getattr(is_type_of, "__qualname__", "").endswith(
            _IS_TYPE_OF
        ):
            return None  # another type check may read the resolve info this path lacks
        grouped, defers, _ = self._context.collect_subfields(object_type, field_details_list)
        if defers:
            return None
        fields: list[_Field] = []
        for key, details in grouped.items():
            field = self._field(object_type, key, details)
            if field is None:
                return None
            fields.append(field)
        return _Plan(object_type.name, is_type_of, tuple(fields))

    def _field(
        self, parent: GraphQLObjectType, key: str, details: FieldDetailsList
    ) -> _Field | None:
        if any(d.name.value not in _APPLIED for f in details for d in f.node.directives or ()):
            return None  # e.g. ``@stream`` on a list of strings: incremental delivery
        name = details[0].node.name.value
        if name == "__typename":
            return _Field(key, _TYPENAME)
        field_def = parent.fields.get(name)
        if field_def is None or any(d.node.arguments for d in details):
            return None
        definition = field_def.extensions.get(_STRAWBERRY_FIELD)
        if (
            definition is None
            or not definition.is_basic_field
            or field_def.resolve is None
            or field_def.resolve.__name__ != "_get_basic_result"
            or definition.default_resolver is not getattr
        ):
            return None
        attribute: str = definition.python_name
        of_type = field_def.type
        non_null = isinstance(of_type, GraphQLNonNull)
        inner = of_type.of_type if isinstance(of_type, GraphQLNonNull) else of_type
        if isinstance(inner, GraphQLScalarType):
            plain_str = inner is GraphQLString or inner is GraphQLID
            return _Field(key, _SCALAR, attribute, non_null, inner.serialize, plain_str)
        if isinstance(inner, GraphQLList):
            item = inner.of_type
            if isinstance(item, GraphQLNonNull) and item.of_type in (GraphQLString, GraphQLID):
                return _Field(key, _STRINGS, attribute, non_null)
            return None
        if isinstance(inner, GraphQLObjectType):
            plan = self._plan(inner, details)
            return None if plan is None else _Field(key, _OBJECT, attribute, non_null, plan=plan)
        return None  # enums, interfaces, unions


def _complete(plan: _Plan, source: Any, is_awaitable: Callable[[Any], bool]) -> dict[str, Any]:
    """``source`` completed by ``plan``; ``_GiveUp`` where graphql-core would do otherwise."""
    if plan.is_type_of is not None and not plan.is_type_of(source, None):
        raise _GiveUp
    result: dict[str, Any] = {}
    for field in plan.fields:
        kind = field.kind
        if kind == _TYPENAME:
            result[field.key] = plan.type_name
            continue
        value = getattr(source, field.attribute)
        if value is None:
            if field.non_null:
                raise _GiveUp
            result[field.key] = None
        elif kind == _SCALAR:
            if field.plain_str and type(value) is str:
                result[field.key] = value
                continue
            if isinstance(value, Exception) or is_awaitable(value):
                raise _GiveUp
            assert field.serialize is not None
            serialized = field.serialize(value)
            if serialized is None or serialized is Undefined:
                raise _GiveUp
            result[field.key] = serialized
        elif kind == _STRINGS:
            if type(value) is not list or not set(map(type, value)) <= {str}:
                raise _GiveUp
            result[field.key] = list(value)
        else:
            if isinstance(value, Exception) or is_awaitable(value):
                raise _GiveUp
            assert field.plan is not None
            result[field.key] = _complete(field.plan, value, is_awaitable)
    return result
