"""Completing a list of plain objects without graphql-core's machinery per field.

graphql-core completes every field of every item on its own: a ``Path``, a
``GraphQLResolveInfo``, a resolver call and ``complete_value``. For 50 playlists of 100
entries with their tracks that is ~55,000 fields and most of the response's CPU, to copy
attributes that Strawberry's default resolver reads with ``getattr``.

A list qualifies when every field its items' selection reaches (through aliases,
fragments and ``@skip``/``@include``, as graphql-core collects them) is plain and carries
no other directive: ``__typename``, or a Strawberry field without a resolver, extension
or argument, whose type is a scalar, a list of non-null ``String``/``ID``, or an object
type (no interface or union) whose own selection qualifies. Anything else -- a resolver,
an enum, a list of objects, ``@defer``, field middleware -- goes to graphql-core, and so
does the whole list.

A list's completer depends on the schema and on the selection alone unless a directive
(``@skip(if: $var)`` and the like) or a fragment variable can change what is collected.
Such selections are compiled once per execution; the others once per document (the
parsed document is cached, so its nodes are the same objects request after request),
and kept, bounded, with the schema.

The values are then completed here as graphql-core completes them: the scalar's own
``coerce_output_value``, the object type's ``is_type_of``, by a function written out for
the selection (``_compile``). Only the success path is done here: at
anything that would raise or could differ (a null in a non-null field, a value that is
awaitable or an exception, a serializer that refuses, a type check that fails) this
gives up and graphql-core completes the list from the start, so errors, their messages
and their paths are graphql-core's own. Starting again is safe: a plain field is an
attribute read, with no side effect.
"""

from __future__ import annotations

import keyword
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any, Final

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, FragmentDetails
from graphql.execution.executor import Executor
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

_TYPENAME: Final = 0
_SCALAR: Final = 1
_STRINGS: Final = 2
_OBJECT: Final = 3

_BUILT_IN: Final = {t.name: t for t in (GraphQLString, GraphQLID, GraphQLInt, GraphQLBoolean)}
_UNCHANGED: Final = {"String": "str", "ID": "str", "Int": "int", "Boolean": "bool"}
_SAME_TESTS: Final = {
    "str": "type({v}) is str",
    "bool": "type({v}) is bool",
    "int": "type({v}) is int and -2147483648 <= {v} <= 2147483647",
}
"""Values that the built-in scalar's coercion returns as they are (graphql-core's
``serialize_string``, ``serialize_id``, ``serialize_boolean``, ``serialize_int``)."""
_ONLY_STR: Final = frozenset({str})
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
    coerce: Callable[[Any], Any] | None = None
    """The scalar's ``coerce_output_value``, which graphql-core calls."""
    same: str = ""
    """The Python type whose values ``coerce`` returns unchanged (``str`` for String and
    ID, ``int`` in 32 bits for Int, ``bool`` for Boolean), or ``""``."""
    plan: _Plan | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    type_name: str
    is_type_of: Callable[[Any, Any], Any] | None
    fields: tuple[_Field, ...]


Completer = Callable[[Any], dict[str, Any]]
_SharedKey = tuple[GraphQLObjectType, Callable[[Any], bool], tuple[int, ...]]
_SHARED_SIZE: Final = 1024
_SHARED: weakref.WeakKeyDictionary[GraphQLSchema, dict[_SharedKey, _Shared]] = (
    weakref.WeakKeyDictionary()
)
"""Per schema: the completers of selections that no variable can change (see above)."""


@dataclass(frozen=True, slots=True)
class _Shared:
    nodes: tuple[FieldNode, ...]
    """Kept alive with the entry, so that their ids are not reused."""
    complete: Completer | None
    static: bool
    """Whether the selection holds no directive and no fragment variable: if not, its
    completer is built per execution."""


class PlainObjects:
    """The plans of one execution, memoized as graphql-core memoizes collected fields."""

    def __init__(self, context: Executor[Any]) -> None:
        self._context = context
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, _Plan | None]]
        self._plans = {}
        self._completers: dict[
            tuple[GraphQLObjectType, int],
            tuple[FieldDetailsList, Callable[[Any], dict[str, Any]] | None],
        ] = {}
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
        complete = self._completer(object_type, field_details_list)
        if complete is None:
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
                    append(complete(item))
        except Exception:  # any failure (and ``_GiveUp``) is graphql-core's to report
            return None
        return completed

    def _completer(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        key = (object_type, id(field_details_list))
        cached = self._completers.get(key)
        if cached is None:
            complete = self._shared_completer(object_type, field_details_list)
            # The list is kept alive with its completer, so that its id is not reused.
            cached = self._completers[key] = (field_details_list, complete)
        return cached[1]

    def _shared_completer(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        """The completer kept with the schema if the selection is static, else built."""
        shared = _SHARED.get(self._context.schema)
        if shared is None:
            shared = _SHARED[self._context.schema] = {}
        nodes = tuple(d.node for d in field_details_list)
        # The completer calls the execution's ``is_awaitable``: Strawberry passes one function.
        key = (object_type, self._context.is_awaitable, tuple(map(id, nodes)))
        entry = shared.get(key)
        if entry is None:
            static = all(
                d.defer_usage is None and d.fragment_variable_values is None
                for d in field_details_list
            ) and _static(nodes, self._context.fragments)
            complete = self._build_completer(object_type, field_details_list) if static else None
            if len(shared) >= _SHARED_SIZE:
                shared.pop(next(iter(shared)))
            entry = shared[key] = _Shared(nodes, complete, static)
        if entry.static:
            return entry.complete
        return self._build_completer(object_type, field_details_list)

    def _build_completer(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        plan = self._plan(object_type, field_details_list)
        return None if plan is None else _compile(plan, self._context.is_awaitable)

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
        if not attribute.isidentifier() or keyword.iskeyword(attribute):
            return None  # not spelled as an attribute in the generated completer
        if isinstance(inner, GraphQLScalarType):
            same = _UNCHANGED.get(inner.name, "") if inner is _BUILT_IN.get(inner.name) else ""
            return _Field(key, _SCALAR, attribute, non_null, inner.coerce_output_value, same)
        if isinstance(inner, GraphQLList):
            item = inner.of_type
            if isinstance(item, GraphQLNonNull) and item.of_type in (GraphQLString, GraphQLID):
                return _Field(key, _STRINGS, attribute, non_null)
            return None
        if isinstance(inner, GraphQLObjectType):
            plan = self._plan(inner, details)
            return None if plan is None else _Field(key, _OBJECT, attribute, non_null, plan=plan)
        return None  # enums, interfaces, unions


def _static(nodes: Iterable[FieldNode], fragments: dict[str, FragmentDetails]) -> bool:
    """Whether no directive and no fragment variable appears in the selections of
    ``nodes``, through fragments: then only the schema and these nodes decide what is
    collected, for every execution of the document."""
    pending: list[SelectionSetNode] = [n.selection_set for n in nodes if n.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if selection.directives:
                return False
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if getattr(selection, "arguments", None):
                    return False
                if name in seen:
                    continue
                seen.add(name)
                fragment = fragments.get(name)
                if fragment is None or fragment.variable_signatures:
                    return False
                if fragment.definition.directives:
                    return False
                pending.append(fragment.definition.selection_set)
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)
    return True


def _compile(plan: _Plan, is_awaitable: Callable[[Any], bool]) -> Completer | None:
    """A function completing one object by ``plan``, written out as straight-line code
    (as ``dataclasses`` writes ``__init__``): per field an attribute read, a type test
    and the dict entry, with no loop over the plan, for the ~55,000 fields of a page."""
    env: dict[str, Any] = {
        "GiveUp": _GiveUp,
        "is_awaitable": is_awaitable,
        "is_type_of": plan.is_type_of,
        "scalar": _scalar,
        "STR": _ONLY_STR,
    }
    body: list[str] = []
    if plan.is_type_of is not None:
        body += ["if not is_type_of(source, None):", "    raise GiveUp"]
    entries: list[str] = []
    for i, field in enumerate(plan.fields):
        if field.kind == _TYPENAME:
            entries.append(f"{field.key!r}: {plan.type_name!r}")
            continue
        v = f"v{i}"
        entries.append(f"{field.key!r}: {v}")
        body += [f"{v} = source.{field.attribute}", f"if {v} is None:"]
        body.append("    raise GiveUp" if field.non_null else "    pass")
        if field.kind == _SCALAR:
            env[f"c{i}"] = field.coerce
            test = _SAME_TESTS.get(field.same)
            body.append("else:" if test is None else f"elif not ({test.format(v=v)}):")
            body.append(f"    {v} = scalar({v}, c{i}, is_awaitable)")
        elif field.kind == _STRINGS:
            body += [
                f"elif type({v}) is list and set(map(type, {v})) <= STR:",
                f"    {v} = list({v})",
                "else:",
                "    raise GiveUp",
            ]
        else:
            assert field.plan is not None
            nested = _compile(field.plan, is_awaitable)
            if nested is None:
                return None
            env[f"o{i}"] = nested
            body += [
                f"elif isinstance({v}, Exception) or is_awaitable({v}):",
                "    raise GiveUp",
                "else:",
                f"    {v} = o{i}({v})",
            ]
    body.append("return {" + ", ".join(entries) + "}")
    source = "def complete(source):\n" + "".join(f"    {line}\n" for line in body)
    namespace: dict[str, Any] = {}
    exec(_code(source), env, namespace)  # noqa: S102 -- only names from the schema and query
    complete: Callable[[Any], dict[str, Any]] = namespace["complete"]
    return complete


_CODE_CACHE: dict[str, CodeType] = {}
_CODE_CACHE_SIZE: Final = 512


def _code(source: str) -> CodeType:
    """Compiled once per shape of selection: a query asked again reuses it."""
    code = _CODE_CACHE.get(source)
    if code is None:
        if len(_CODE_CACHE) >= _CODE_CACHE_SIZE:
            _CODE_CACHE.pop(next(iter(_CODE_CACHE)))
        code = _CODE_CACHE[source] = compile(source, "<plain object completer>", "exec")
    return code


def _scalar(value: Any, coerce: Callable[[Any], Any], is_awaitable: Callable[[Any], bool]) -> Any:
    """``value`` coerced as ``complete_leaf_value`` does, or ``_GiveUp`` where it would
    not simply return (an exception or awaitable as a value, a refused value)."""
    if isinstance(value, Exception) or is_awaitable(value):
        raise _GiveUp
    coerced = coerce(value)
    if coerced is None or coerced is Undefined:
        raise _GiveUp
    return coerced
