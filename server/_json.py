"""orjson for responses: several times faster than the stdlib on large lists of ids."""

from __future__ import annotations

from datetime import datetime

import orjson


def _default(value: object) -> object:
    if isinstance(value, datetime):  # only reached for subclasses; orjson handles datetime
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(data: object) -> bytes:
    return orjson.dumps(data, default=_default)
