"""Builds the Strawberry schema once per app, with the extensions the settings ask for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import strawberry
from graphql import GraphQLError, lexicographic_sort_schema, print_schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.errors import ErrorCodes
from resolvers.mutation import Mutation
from resolvers.query import Query


@dataclass(frozen=True)
class SchemaOptions:
    field_suggestions: bool = True
    extensions: tuple[type[SchemaExtension] | Callable[[], SchemaExtension], ...] = ()
    """Extra extensions (limits, caches) placed before the error boundary."""


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry would log every error, expected ones included, with a traceback.

        ``ErrorCodes`` logs the unexpected ones, once, under the request id.
        """


def build_schema(options: SchemaOptions | None = None) -> strawberry.Schema:
    options = options or SchemaOptions()
    return _Schema(
        query=Query,
        mutation=Mutation,
        extensions=[*options.extensions, ErrorCodes],
        # Not ``sort_schema=True``: graphql-core's sorting rebuilds enum types without
        # Strawberry's serializer, and enum fields then fail at run time.
        config=StrawberryConfig(disable_field_suggestions=not options.field_suggestions),
    )


def schema_sdl() -> str:
    """The schema as committed in ``schema.graphql``: sorted, ending in a newline."""
    return print_schema(lexicographic_sort_schema(build_schema()._schema)) + "\n"
