"""An operation's cost, computed before it runs, and refused over a budget.

Depth, aliases and tokens bound a document's shape, not its work: thirty aliases of
``liked { items { track { title } } }`` over 20,000 likes are a small document that builds
1.2 million objects. The cost counts what execution would build: every object field once,
and every list item of a list, times what each item selects. A list's size is its ``first``
or ``last`` when given; without one, the user's stored count (likes, plays, playlists, read
from the store before execution) or the largest page size. Aliases count as the fields
they repeat, and the operations of one batch share one budget (``MAX_COST``).

The rules are a table keyed by type and field name (``RULES``): a field that returns one
page of a list (``Page``), a field of that page that repeats per item (``Items``), and a
plain list field (``List``). A new list or connection field is one entry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_interface_type,
    is_list_type,
    is_object_type,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.type.definition import GraphQLNonNull
from strawberry.extensions import SchemaExtension

from resolvers.access import Forbidden
from resolvers.variables import coerce_variables, forget_coerced_variables

log = logging.getLogger("librarycache.cost")

COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"

Count = Literal["likes", "plays", "playlists"]


@dataclass(frozen=True)
class Page:
    """A field taking ``first``/``last`` whose object holds one page of a list."""

    count: Count | None
    """The stored count that sizes the page without ``first``/``last``; None: the largest
    page size."""
    unpaged: Literal["all", "page"] = "all"
    """What the field returns without ``first``/``last``: the whole list, or one page of
    the largest size."""


@dataclass(frozen=True)
class Items:
    """A field of a page's object that repeats per item of the page."""

    weight: float = 1.0
    """Cost of each item itself: ids come back as they are (the list fast path)."""
    whole_list: bool = False
    """Of the whole list when the page has no ``first``/``last``, whatever the page's size
    (``trackIds``: ids are cheap)."""


@dataclass(frozen=True)
class List:
    """A list field, sized by its own ``first``/``last`` or else as a ``Page`` is."""

    count: Count | None = None
    argument: str | None = None
    """An argument whose list length is the size (``nodes(ids:)``)."""


Rule = Page | Items | List

IDS = Items(weight=0.1, whole_list=True)
RULES: Mapping[tuple[str, str], Rule] = {
    # Relay connections: a page of the largest size without `first`/`last`.
    ("Library", "liked"): Page("likes", unpaged="page"),
    ("Library", "plays"): Page("plays", unpaged="page"),
    ("Library", "playlists"): Page("playlists", unpaged="page"),
    ("Playlist", "tracks"): Page(None, unpaged="page"),
    ("LikedTracks", "edges"): Items(),
    ("LikedTracks", "nodes"): Items(),
    ("PlayHistory", "edges"): Items(),
    ("PlayHistory", "nodes"): Items(),
    ("PlaylistConnection", "edges"): Items(),
    ("PlaylistConnection", "nodes"): Items(),
    ("PlaylistTrackConnection", "edges"): Items(),
    ("PlaylistTrackConnection", "nodes"): Items(),
    ("Query", "nodes"): List(argument="ids"),
    # The deprecated root fields: the whole list without `first`.
    ("Query", "liked"): Page("likes"),
    ("Query", "plays"): Page("plays"),
    ("Query", "playlists"): List("playlists"),
    ("Playlist", "entries"): List(),
    ("LikedTracks", "items"): Items(),
    ("LikedTracks", "trackIds"): IDS,
    ("PlayHistory", "items"): Items(),
    ("PlayHistory", "trackIds"): IDS,
}
"""Fields not named here cost 1 if they return an object and nothing if a scalar."""

CountsOf = Callable[[str], Awaitable[Mapping[str, int]]]
"""A user's stored counts (``{"likes": ..., "plays": ..., "playlists": ...}``)."""


@dataclass
class Budget:
    """What one HTTP request's operations may still spend: a batch shares one."""

    remaining: float


request_budget: ContextVar[Budget | None] = ContextVar("request_budget", default=None)
"""Set per HTTP request by the GraphQL endpoint; unset, each operation has a budget."""


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues
    max_page_size: int
    counts_of: CountsOf
    viewer: str | None
    _counts: dict[str, Mapping[str, int]] = field(default_factory=dict)

    async def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        user: str | None,
        page: tuple[int, int] | None,
    ) -> float:
        """The cost of a selection set; ``page`` is (the page's size, and that of its
        ``whole_list`` items: the whole list's when no ``first``/``last`` was asked)."""
        if selection_set is None:
            return 0.0
        total = 0.0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += await self.field(node, parent, user, page)
            elif isinstance(node, InlineFragmentNode):
                kind = parent
                if node.type_condition is not None:
                    kind = self.schema.get_type(node.type_condition.name.value) or parent
                total += await self.selections(node.selection_set, kind, user, page)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    kind = self.schema.get_type(fragment.type_condition.name.value) or parent
                    total += await self.selections(fragment.selection_set, kind, user, page)
        return total

    async def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        user: str | None,
        page: tuple[int, int] | None,
    ) -> float:
        name = node.name.value
        if name.startswith("__") or not (is_object_type(parent) or is_interface_type(parent)):
            return 0.0
        assert isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
        definition: GraphQLField | None = parent.fields.get(name)
        if definition is None:
            return 0.0
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            arguments = {}  # execution reports it, and the resolver never runs
        if isinstance(arguments.get("userId"), str):
            user = arguments["userId"]
        elif name == "viewer":
            user = self.viewer
        inner = get_named_type(definition.type)
        rule = RULES.get((parent.name, name))
        own = 1.0 if is_object_type(inner) or is_interface_type(inner) else 0.0

        if isinstance(rule, Page):
            whole = await self.stored(user, rule.count)
            asked = _asked(arguments)
            if asked is not None:
                size = asked
            elif rule.unpaged == "all":
                size = whole
            else:
                size = min(whole, self.max_page_size)
            listed = whole if asked is None else size
            return 1.0 + await self.selections(node.selection_set, inner, user, (size, listed))
        if isinstance(rule, Items):
            size = 0 if page is None else (page[1] if rule.whole_list else page[0])
            each = rule.weight + own + await self.selections(node.selection_set, inner, user, None)
            return size * each
        if isinstance(rule, List):
            asked = _asked(arguments)
            if rule.argument is not None and isinstance(arguments.get(rule.argument), list):
                asked = len(arguments[rule.argument])
            size = asked if asked is not None else await self.stored(user, rule.count)
            each = 1.0 + await self.selections(node.selection_set, inner, user, None)
            return size * each
        if _is_list(definition) and own:
            # A list no rule sizes: priced as a page of the largest size.
            each = 1.0 + await self.selections(node.selection_set, inner, user, None)
            return self.max_page_size * each
        return own + await self.selections(node.selection_set, inner, user, page)

    async def stored(self, user: str | None, count: Count | None) -> int:
        if count is None or user is None:
            return self.max_page_size
        if user not in self._counts:
            try:
                self._counts[user] = await self.counts_of(user)
            except Exception:
                # The store cannot say (it is down): price the lists as pages, and let the
                # resolvers meet the outage, which they report with its own code.
                log.warning("stored counts unavailable for the cost of an operation")
                unknown = self.max_page_size
                self._counts[user] = {"likes": unknown, "plays": unknown, "playlists": unknown}
        return self._counts[user].get(count, 0)


def _asked(arguments: Mapping[str, Any]) -> int | None:
    sizes = [arguments.get(name) for name in ("first", "last")]
    given = [size for size in sizes if isinstance(size, int) and size >= 0]
    return min(given) if given else None


def _is_list(definition: GraphQLField) -> bool:
    kind = definition.type
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return is_list_type(kind)


async def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    *,
    max_page_size: int,
    counts_of: CountsOf,
    viewer: str | None = None,
    context: object = None,
) -> float:
    """What executing ``operation`` would build, by ``RULES``; the document is valid.

    The variables are coerced as execution coerces them (``coerce_variables``, for the
    request ``context``), which then reuses the result rather than coercing them again.
    """
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0.0
    coerced = coerce_variables(schema, operation.variable_definitions or (), variables, context)
    if not isinstance(coerced, VariableValues):
        return 0.0  # the variables are refused before anything runs
    walk = _Walk(schema, fragments, coerced, max_page_size, counts_of, viewer)
    return await walk.selections(operation.selection_set, root, None, None)


async def stored_counts(context: Any, user: str) -> Mapping[str, int]:
    """The counts of the user's last sync, for a caller who may read that user.

    For another caller none are looked up (the resolver refuses with FORBIDDEN anyway), so
    whether a request is refused for its cost tells nothing about someone else's library.
    """
    try:
        context.caller.ensure_may_read(user)
    except Forbidden:
        return {}
    # The request's own view of the library: the one its resolvers read next, so the
    # lookup costs no extra query, and an outage is met (and waited for) only once.
    view = await context.library_view(user)
    report = await view.last_sync()
    if report is None:
        return {}
    return {
        "likes": report.total_likes,
        "plays": report.total_plays,
        "playlists": report.total_playlists,
    }


class CostLimit(SchemaExtension):
    """Refuses, before execution, an operation whose cost is over what the budget has left."""

    def __init__(self, budget: int, counts_of: Callable[[Any, str], Awaitable[Mapping[str, int]]]):
        self._budget = budget
        self._counts_of = counts_of

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        request = context.context
        if document is None:
            yield
            return
        operation = next(
            (
                d
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode)
                and (
                    context.operation_name is None
                    or (d.name and d.name.value == context.operation_name)
                )
            ),
            None,
        )
        if operation is None:
            yield
            return
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        caller = getattr(request, "caller", None)
        request_id = getattr(request, "request_id", "-")
        try:
            cost = await operation_cost(
                self.execution_context.schema._schema,
                operation,
                fragments,
                context.variables or {},
                max_page_size=getattr(request, "max_page_size", 500),
                counts_of=lambda user: self._counts_of(request, user),
                viewer=getattr(caller, "subject", None),
                context=request,
            )
        except BaseException:
            forget_coerced_variables()  # no execution will take them
            raise
        shared = request_budget.get()
        budget = shared if shared is not None else Budget(self._budget)
        if cost > budget.remaining:
            forget_coerced_variables()
            whole = self._budget
            spent = whole - budget.remaining
            log.info(
                "refused an operation costing %d (budget %d, %d spent)",
                cost,
                whole,
                spent,
                extra={"requestId": request_id, "cost": round(cost)},
            )
            batch = f" after {round(spent)} spent by this batch" if spent else ""
            raise GraphQLError(
                f"the operation's cost is {round(cost)}, over the budget of {whole}{batch} "
                "(LIBRARYCACHE_MAX_COST): ask for fewer items with `first`, or fewer aliases",
                extensions={"code": COST_LIMIT_EXCEEDED, "cost": round(cost), "budget": whole},
            )
        budget.remaining -= cost
        yield
