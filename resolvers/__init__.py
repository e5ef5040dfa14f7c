"""GraphQL types and thin resolvers over ``persistence.LibraryStore``."""

from resolvers.context import RequestContext
from resolvers.schema import SchemaOptions, build_schema

__all__ = ["RequestContext", "SchemaOptions", "build_schema"]
