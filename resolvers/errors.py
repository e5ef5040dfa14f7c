"""The one boundary where errors become client errors with ``extensions.code``.

Domain errors keep their message and code (a store outage that retries did not cure is
``StoreUnavailable``: ``SERVICE_UNAVAILABLE``, retryable). GraphQL's own failures are coded
by the phase that produced them. Anything else is a bug: clients get
``INTERNAL_SERVER_ERROR`` with the request id, the log gets the detail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any, Protocol

from graphql import (
    ArgumentNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLSyntaxError,
    ValueNode,
    ValuesOfCorrectTypeRule,
)
from graphql.language import SKIP, VisitorAction
from graphql.utilities.validate_input_value import validate_input_literal
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import StreamExecutionResult

from persistence import is_transient
from persistence.errors import InvalidInput, LibraryCacheError, StoreUnavailable

log = logging.getLogger("librarycache.errors")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = StoreUnavailable.code
# "Variable '$input' has invalid value at .likes[0].addedAt: ..." -> likes[0].addedAt
_COERCION_PATH = re.compile(r"Variable '\$\w+' has invalid value at \.?(?P<field>[^:\s]+):")


class _Result(Protocol):
    errors: list[GraphQLError] | None


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a result so that it carries ``extensions.code``."""

    def __init__(self) -> None:
        self._validation_failed = False

    def on_validate(self) -> Iterator[None]:
        yield
        self._validation_failed = bool(self.execution_context.pre_execution_errors)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # A bad literal gets what a bad variable gets: BAD_USER_INPUT and the field.
        context.validation_rules = tuple(
            LiteralValues if rule is ValuesOfCorrectTypeRule else rule
            for rule in context.validation_rules
        )
        yield
        self._code_all(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Each result of a subscription, before it is sent."""
        if isinstance(result, ExecutionResult):  # not a frame of incremental delivery
            self._code_all(result)
        yield

    def _code_all(self, result: _Result | None) -> None:
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", "-")
        coded: list[GraphQLError] = []
        for error in result.errors:
            coded += self._code(error, request_id)
        result.errors = coded

    def _code(self, error: GraphQLError, request_id: str) -> list[GraphQLError]:
        original = error.original_error
        if isinstance(original, InvalidInput):
            return [
                _with(error, str(p), {"code": original.code, "field": p.field})
                for p in original.problems
            ]
        if isinstance(original, StoreUnavailable) or (
            original is not None
            and not isinstance(original, LibraryCacheError)
            and is_transient(original)
        ):
            # An outage retries did not cure (or one that reached here untranslated): a
            # retryable answer with the request id; the driver's detail stays in the log.
            log.warning(
                "store unavailable while resolving %s",
                ".".join(map(str, error.path or ())) or "the operation",
                exc_info=original,
                extra={"requestId": request_id},
            )
            coded: dict[str, object] = {"code": SERVICE_UNAVAILABLE, "requestId": request_id}
            return [_with(error, str(StoreUnavailable()), coded)]
        if isinstance(original, LibraryCacheError) and original.code != INTERNAL:
            return [_with(error, str(original), {"code": original.code})]
        if error.extensions and "code" in error.extensions:
            return [error]
        if error.path is None:
            if isinstance(error, GraphQLSyntaxError):
                return [_with(error, error.message, {"code": PARSE_FAILED})]
            if self._validation_failed:
                return [_with(error, error.message, {"code": VALIDATION_FAILED})]
            if error.message.startswith("Variable '$"):
                # graphql-core coercing variables, before any resolver ran.
                extensions: dict[str, object] = {"code": BAD_USER_INPUT}
                if at := _COERCION_PATH.match(error.message):
                    extensions["field"] = at["field"]
                return [_with(error, error.message, extensions)]
        log.error(
            "internal error while resolving %s",
            ".".join(map(str, error.path or ())) or "the operation",
            exc_info=original or error,
            extra={"requestId": request_id},
        )
        message = f"Internal server error (request id {request_id})"
        return [_with(error, message, {"code": INTERNAL, "requestId": request_id})]


class LiteralValues(ValuesOfCorrectTypeRule):
    """GraphQL's own rule for literal argument values, coded like a bad variable's value.

    ``sync(input: {likes: [{addedAt: "yesterday", ...}]})`` is refused with
    ``BAD_USER_INPUT`` and ``field: "likes[0].addedAt"``, as the same value passed in
    ``$input`` is, instead of a ``GRAPHQL_VALIDATION_FAILED`` that names no field.
    """

    _argument: str | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = node.name.value

    def leave_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = None

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        if input_type is None:
            return SKIP
        argument = self._argument

        def on_error(error: GraphQLError, path: list[str | int]) -> None:
            field = _field(path) or argument
            extensions: dict[str, object] = {"code": BAD_USER_INPUT}
            if field:
                extensions["field"] = field
            self.report_error(
                GraphQLError(
                    f"{field}: {error.message}" if field else error.message,
                    nodes=error.nodes or node,
                    extensions=extensions,
                )
            )

        validate_input_literal(
            node, input_type, on_error, None, None, self.context.hide_suggestions
        )
        return SKIP


def _field(path: list[str | int]) -> str:
    """``["likes", 0, "addedAt"]`` -> ``likes[0].addedAt``, as variable errors name it."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}"
    return text.lstrip(".")


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **extensions},
    )
