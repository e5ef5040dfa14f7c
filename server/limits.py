"""Abuse limits on every GraphQL operation: size, shape and time, built once per schema.

Characters and tokens bound the parse (comments and string literals are one token or
none, so only the length bounds the lexer's work on them), depth and aliases bound the
validated shape (and, in production, introspection is refused there too), and a timeout
bounds execution. ``max_page_size`` is
checked by the resolvers, the body size by ``server.body_limit``, batching by the schema.

The validation rules are classes created here, once per app. Strawberry's
``QueryDepthLimiter`` and ``MaxAliasesLimiter``, passed as factories, create a new rule
class per request; ``ValidationCache`` keys on the rule classes, so it would never hit
(strawberry issue 4635). Passed as instances they are deprecated and shared between
requests. Here each request gets fresh extension objects around the same rule classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator

from graphql import ASTValidationRule, GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from persistence.client import deadline as store_deadline
from server.cost import CostLimit, stored_counts
from server.settings import Settings

log = logging.getLogger("librarycache.limits")
_STORE_GRACE_SECONDS = 1.0

TIMEOUT = "TIMEOUT"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"

ExtensionFactory = Callable[[], SchemaExtension]


def limit_extensions(settings: Settings) -> tuple[ExtensionFactory, ...]:
    """Per-request extensions for ``SchemaOptions.extensions``, in the order they must run."""
    rules = validation_rules(settings)
    max_tokens = settings.max_tokens
    max_chars = settings.max_document_chars
    max_cost = settings.max_cost
    query_seconds = settings.request_timeout_seconds
    mutation_seconds = settings.sync_timeout_seconds
    return (
        lambda: DocumentSizeLimit(max_chars),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        _ParserCache,
        lambda: AddValidationRules(rules),
        ValidationCache,
        lambda: CostLimit(max_cost, stored_counts),
        lambda: ExecutionTimeout(query_seconds=query_seconds, mutation_seconds=mutation_seconds),
    )


def validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The rule classes added to GraphQL's own; call once per schema, not per request."""
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection_enabled:
        # ``__typename`` stays allowed; ``__schema`` and ``__type`` are refused.
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


class DocumentSizeLimit(SchemaExtension):
    """Refuses a document longer than ``max_chars`` before anything reads it.

    The token limit stops the parser at the N-th token, but a comment is no token and a
    string literal is one: a 30 MiB comment would hold the event loop in the lexer for
    seconds. Measuring the string is constant time, and it runs before the parser cache
    would hash the whole document.
    """

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars

    def on_parse(self) -> Iterator[None]:
        size = len(self.execution_context.query or "")
        if size > self._max_chars:
            # Raised from a hook, the error reaches the client as it is: it carries its code.
            raise GraphQLError(
                f"the document is {size} characters long; the limit is {self._max_chars} "
                "(LIBRARYCACHE_MAX_DOCUMENT_CHARS): send the data as variables",
                extensions={"code": PARSE_FAILED},
            )
        yield


class _ParserCache(ParserCache):
    """Strawberry's ``ParserCache``, except that syntax errors are left to Strawberry.

    ``ParserCache`` raises them from its hook, outside the code that reports syntax
    errors, so they would reach the client past ``ErrorCodes`` with no code. Left
    unparsed here, the document is parsed again where the error is reported as usual;
    failed parses are not cached anyway.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class ExecutionTimeout(SchemaExtension):
    """Cancels an operation's execution when it runs past its limit.

    Cancellation reaches whatever the resolvers are awaiting (a store query, a sync's
    writes), so the work stops and the worker serves other requests. A sync cancelled
    before its commit leaves the committed snapshot as it was; its lease is released.
    """

    def __init__(self, *, query_seconds: float, mutation_seconds: float) -> None:
        self._query_seconds = query_seconds
        self._mutation_seconds = mutation_seconds

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        mutation = context.operation_type is OperationType.MUTATION
        seconds = self._mutation_seconds if mutation else self._query_seconds
        deadline = asyncio.timeout(seconds)
        # A query's store work also gets the driver's own deadline, a little later:
        # cancellation answers the client, this ends the reads it started (on the server,
        # and in Motor's threads). Not a sync's: PyMongo's deadline replaces the server
        # selection timeout, so a store that died mid-sync would hold it for the whole
        # sync limit; a sync is cancelled between its commands instead.
        driver_deadline = (
            contextlib.nullcontext() if mutation else store_deadline(seconds + _STORE_GRACE_SECONDS)
        )
        try:
            with driver_deadline:
                async with deadline:
                    yield
        except TimeoutError:
            if not deadline.expired():
                raise
            request_id = getattr(context.context, "request_id", "-")
            log.warning(
                "operation cancelled after %gs",
                seconds,
                extra={"requestId": request_id, "operation": context.operation_name},
            )
            # An error raised from a hook becomes the result's only error as it is, past
            # ``ErrorCodes``: so it carries its own code.
            advice = (
                # A sync cannot be made smaller, but cancelled before its commit it left the
                # previous snapshot in place and freed its lease.
                "nothing it wrote is visible unless lastSync shows its version; retry it"
                if mutation
                else "ask for less (a smaller `first`), or retry later"
            )
            raise GraphQLError(
                f"the operation ran past its time limit of {seconds:g}s and was cancelled; "
                + advice,
                extensions={"code": TIMEOUT, "requestId": request_id},
            ) from None
