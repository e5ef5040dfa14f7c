"""Opaque page cursors: the list position of one item, valid for paging in both directions.

A cursor is the item's sort key (for likes ``addedAt`` and ``trackId``; for playlists their
index; for entries their position), tagged with the list it belongs to, so a cursor of
one list is refused by another rather than misread. Clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, overload

import orjson

from persistence._documents import utc
from persistence.errors import InvalidInput

Key = tuple[Any, ...]
"""A sort key: the values of a list's order fields for one item."""


def encode(tag: str, key: Key) -> str:
    # orjson writes an aware datetime as ``isoformat()`` does (``+00:00``, microseconds
    # only when there are some), without a Python call per value.
    raw = orjson.dumps([tag, *key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(tag: str, cursor: str, field: str, types: Sequence[type]) -> Key:
    """The key of ``cursor``; ``InvalidInput`` naming ``field`` if this store did not issue
    it for the list ``tag`` (``types``: the type of each key value)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found, *values = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _refused(field, cursor) from None
    if found != tag:
        raise InvalidInput.one(field, f'"{cursor[:64]}" is a cursor of another list than {tag}')
    try:
        if len(values) != len(types):
            raise ValueError(tag)
        key: list[Any] = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                key.append(utc(datetime.fromisoformat(value)))
            elif isinstance(value, kind) and not isinstance(value, bool):
                key.append(value)
            else:
                raise TypeError(value)
        return tuple(key)
    except (ValueError, TypeError):
        raise _refused(field, cursor) from None


def _refused(field: str, cursor: str) -> InvalidInput:
    return InvalidInput.one(field, f'"{cursor[:64]}" is not a cursor this server issued')


class Cursors(Sequence[str]):
    """The cursors of a page's items, each encoded when it is read.

    Encoding costs more than decoding an item, and most reads of a whole library never
    ask for a cursor; a page of 50 is encoded as cheaply either way.
    """

    def __init__(
        self,
        tag: str,
        found: Sequence[Any],
        key: Callable[[Any], Key],
        ends: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
    ) -> None:
        """``found``: the items (documents, or entries), ``key`` the sort key of one.

        ``ends``: the first and last items with their order keys, when ``found`` was read
        without them (a whole list of bare ids); then only those two cursors are known."""
        self._tag = tag
        self._found = found
        self._key = key
        self._ends = ends

    def __len__(self) -> int:
        return len(self._found)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._found))[index]]
        n = len(self._found)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        if self._ends is not None:
            if index == 0:
                return encode(self._tag, self._key(self._ends[0]))
            if index == n - 1:
                return encode(self._tag, self._key(self._ends[1]))
            raise LookupError("a whole list of bare ids knows only its start and end cursors")
        return encode(self._tag, self._key(self._found[index]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]
