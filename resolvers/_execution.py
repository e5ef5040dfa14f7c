"""Strawberry's graphql-core executor, with a fast path for lists of plain ids and strings.

(Its variables are coerced by ``resolvers.variables``: once per operation, a library
straight into its snapshot.)

graphql-core completes a list item by item: a path entry, a ``complete_value`` call
and the scalar's serializer for each. For ``liked { trackIds }`` of 10,000 likes that
is ~10 ms of CPU to hand back the very strings the resolver returned. For a list whose
items are the built-in ``ID!`` or ``String!`` and whose value is a ``list`` of exactly
``str``, completion is the identity (both serializers return a ``str`` as it is), so
that list is returned as is (a copy). Anything else -- another item type, a nullable
item, a ``None`` or any non-``str`` item, a tuple or generator, an async iterable, a
list under ``@stream`` -- goes the usual way, so results and errors are unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from functools import cached_property
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path
from graphql.type import GraphQLResolveInfo
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers._plain_objects import PlainObjects
from resolvers.variables import build_executor

_IDENTITY_SCALARS = (GraphQLID, GraphQLString)
"""Built-in scalars whose serializer returns a ``str`` value unchanged."""


class ListFastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's default executor (its resolve info, operation extensions, incremental
    delivery) plus the list fast path described in the module docstring, and lists of
    plain objects completed by ``resolvers._plain_objects``."""

    @cached_property
    def _plain_objects(self) -> PlainObjects:
        return PlainObjects(self)

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        item_type = return_type.of_type
        if (
            type(result) is list
            and isinstance(item_type, GraphQLNonNull)
            and item_type.of_type in _IDENTITY_SCALARS
            # ``set(map(type, ...))`` runs in C: ~0.1 ms for 10,000 items.
            and set(map(type, result)) <= {str}
            # ``@stream`` delivers items in later payloads: leave that to graphql-core.
            and self.get_stream_usage(field_details_list, path) is None
        ):
            return list(result)
        if type(result) is list and self.get_stream_usage(field_details_list, path) is None:
            completed = self._plain_objects.complete(item_type, field_details_list, result)
            if completed is not None:
                return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    @classmethod
    def build(
        cls, schema: GraphQLSchema, document: Any, *args: Any, **kwargs: Any
    ) -> list[GraphQLError] | Executor[Any]:
        # graphql-core's own build, its variables coerced by ``resolvers.variables``.
        return build_executor(cls, schema, document, *args, **kwargs)
