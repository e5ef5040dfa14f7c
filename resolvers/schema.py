"""Builds the Strawberry schema once per app, with the extensions the settings ask for."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import strawberry
from graphql import GraphQLError, lexicographic_sort_schema, print_schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers._execution import ListFastPathExecutionContext
from resolvers.errors import ErrorCodes
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.scalars import scalar_overrides
from resolvers.subscription import Subscription

_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


@dataclass(frozen=True)
class SchemaOptions:
    field_suggestions: bool = True
    extensions: tuple[type[SchemaExtension] | Callable[[], SchemaExtension], ...] = ()
    """Extra extensions (limits, caches) placed before the error boundary."""
    max_batch: int = 0
    """Operations per batched (array) request; 0 refuses batches."""


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry would log every error, expected ones included, with a traceback.

        ``ErrorCodes`` logs the unexpected ones, once, under the request id.
        """

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        """With suggestions off, none at all: Strawberry strips only those for fields.

        Arguments, types, enum values and input fields are suggested too, and would
        reveal the schema when introspection is off.
        """
        error.message = _SUGGESTION.sub("", error.message)


def build_schema(options: SchemaOptions | None = None) -> strawberry.Schema:
    options = options or SchemaOptions()
    return _Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*options.extensions, ErrorCodes],
        scalar_overrides=scalar_overrides(),
        # Strawberry's executor with lists of plain ids/strings returned as they are.
        execution_context_class=ListFastPathExecutionContext,
        # Not ``sort_schema=True``: graphql-core's sorting rebuilds enum types without
        # Strawberry's serializer, and enum fields then fail at run time.
        config=StrawberryConfig(
            disable_field_suggestions=not options.field_suggestions,
            batching_config={"max_operations": options.max_batch} if options.max_batch else None,
        ),
    )


def schema_sdl() -> str:
    """The schema as committed in ``schema.graphql``: sorted, ending in a newline."""
    return print_schema(lexicographic_sort_schema(build_schema()._schema)) + "\n"
