"""Domain models, validated at the edge with pydantic before anything is written.

Field names are snake_case here; problems are reported with the camelCase paths
clients sent (``likes[3].trackId``), so a client can find the item at fault.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Any, Generic, Self, TypeVar

import bson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from persistence.errors import InvalidInput, Problem

MAX_ID_LENGTH = 2048
"""Characters in an id. Spotify's local-file URIs (``spotify:local:artist:album:title:secs``,
URL-encoded) run past 256; MongoDB itself bounds no ``_id`` but by the document size."""
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""MongoDB's limit on one BSON document (a playlist is stored as one, entries embedded)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_id(value: str) -> str:
    # One regex search: a snapshot holds ~30,000 ids, and this runs for each.
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def to_store_precision(value: datetime) -> datetime:
    # MongoDB keeps milliseconds; truncating here makes a round trip compare equal,
    # so an unchanged like is recognised as unchanged by the next sync.
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # the usual case, and a snapshot holds ~20,000 timestamps
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_READ_TIMESTAMP = "read_timestamp"
"""Validation context key: how ``LibrarySnapshot.validate_strict`` reads a timestamp's text."""


def _timestamp_text(value: Any, info: ValidationInfo) -> Any:
    read = info.context.get(_READ_TIMESTAMP) if info.context else None
    if read is None:
        return value  # ``parse``: pydantic's own reading of whatever the caller has
    if not isinstance(value, str):
        raise ValueError("must be a date-time string")
    return read(value)


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_check_id)]
Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_timestamp_text), AfterValidator(to_store_precision)
]
Text = Annotated[str, Field(max_length=1024)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class _Model(BaseModel):
    # Validated from GraphQL's camelCase input (aliases) or from snake_case names alike.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        from_attributes=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
    )


class Track(_Model):
    track_id: Id
    title: Text
    artists: list[Text] = Field(max_length=100)
    album: Text | None = None
    duration_ms: int | None = Field(default=None, ge=0, le=2**31 - 1)
    isrc: Annotated[str, Field(max_length=32)] | None = None
    explicit: bool | None = None
    available: bool | None = None
    tempo: float | None = Field(default=None, ge=0.0, le=1000.0, allow_inf_nan=False)
    energy: Unit | None = None
    valence: Unit | None = None


class Like(_Model):
    track_id: Id
    added_at: Timestamp


class Play(_Model):
    track_id: Id
    last_played_at: Timestamp


class PlaylistEntry(_Model):
    track_id: Id
    added_at: Timestamp | None = None


class Playlist(_Model):
    playlist_id: Id
    name: Text
    description: Annotated[str, Field(max_length=8192)] | None = None
    snapshot_id: Annotated[str, Field(max_length=MAX_ID_LENGTH)] | None = None
    entries: list[PlaylistEntry]


@dataclass(frozen=True)
class Limits:
    """Item limits per payload; each is refused by name when exceeded."""

    tracks: int = 200_000
    likes: int = 200_000
    plays: int = 50_000
    playlists: int = 5_000
    entries_per_playlist: int = 20_000  # ~1.3 MiB per playlist document, far below 16 MiB


class LibrarySnapshot(_Model):
    """A user's whole library as the source reports it."""

    user_id: Id
    tracks: list[Track]
    likes: list[Like]
    plays: list[Play]
    playlists: list[Playlist]

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> Self:
        limits = (info.context or {}).get("limits", Limits())
        problems = _size_problems(self, limits)
        if problems:
            raise _Refused(problems)  # the rest would be slow on an oversized payload

        track_ids = list(map(_TRACK_ID, self.tracks))
        # A set, in C, first: 100,000 tracks with no id twice need no loop in Python.
        if len(set(track_ids)) < len(track_ids):
            tracks: dict[str, Track] = {}
            for i, track in enumerate(self.tracks):
                seen = tracks.setdefault(track.track_id, track)
                if seen is not track and seen != track:
                    problems.append(
                        Problem(
                            f"tracks[{i}].trackId",
                            f'"{track.track_id}" appears twice in tracks with different metadata',
                        )
                    )
        problems += _duplicates("likes", list(map(_TRACK_ID, self.likes)), "trackId")
        problems += _duplicates("plays", list(map(_TRACK_ID, self.plays)), "trackId")
        problems += _duplicates("playlists", [p.playlist_id for p in self.playlists], "playlistId")
        if problems:
            raise _Refused(problems)
        return self

    @classmethod
    def parse(cls, data: Any, limits: Limits | None = None) -> LibrarySnapshot:
        """Validate ``data``: a mapping with camelCase or snake_case keys, or an object.

        Raises ``InvalidInput`` naming every field and item at fault.
        """
        try:
            return cls.model_validate(data, context={"limits": limits or Limits()})
        except _Refused as refused:
            raise InvalidInput(refused.problems) from None
        except ValidationError as error:
            raise InvalidInput(_problems_from(error)) from None

    @classmethod
    def validate_strict(
        cls, data: Any, limits: Limits, read_timestamp: Callable[[str], datetime]
    ) -> LibrarySnapshot:
        """Validate ``data`` as a JSON document carries it, strictly, in one pass.

        Objects are ``dict`` keyed by the camelCase names only, lists are ``list``, text
        is ``str``, integers ``int``, numbers ``int`` or ``float``, flags ``bool``, and
        timestamps are strings read by ``read_timestamp``; nothing is converted from one
        to another. The same checks as ``parse`` follow (lengths, ranges, duplicates,
        ``limits``). Raises ``ValueError`` (pydantic's ``ValidationError`` among them)
        without naming the problems: the caller validates the lax way (``parse``) for that.
        """
        return cls.model_validate(
            data,
            strict=True,
            from_attributes=False,
            by_alias=True,
            by_name=False,
            context={"limits": limits, _READ_TIMESTAMP: read_timestamp},
        )

    def referenced_track_ids(self) -> dict[str, str]:
        """Track ids named by likes, plays and entries but absent from ``tracks``.

        Maps each id to the first place that names it, for the error message.
        """
        known = set(map(_TRACK_ID, self.tracks))
        named = set(map(_TRACK_ID, self.likes))
        named.update(map(_TRACK_ID, self.plays))
        for playlist in self.playlists:
            named.update(map(_TRACK_ID, playlist.entries))
        if named <= known:
            return {}  # the usual case, found in C: no loop in Python over every item
        missing: dict[str, str] = {}
        for i, like in enumerate(self.likes):
            if like.track_id not in known:
                missing.setdefault(like.track_id, f"likes[{i}].trackId")
        for i, play in enumerate(self.plays):
            if play.track_id not in known:
                missing.setdefault(play.track_id, f"plays[{i}].trackId")
        for i, playlist in enumerate(self.playlists):
            for j, entry in enumerate(playlist.entries):
                if entry.track_id not in known:
                    missing.setdefault(entry.track_id, f"playlists[{i}].entries[{j}].trackId")
        return missing


_TRACK_ID = attrgetter("track_id")


class _Refused(ValueError):
    """Carries structured problems out of a validator (pydantic would flatten them)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def _size_problems(snapshot: LibrarySnapshot, limits: Limits) -> list[Problem]:
    problems = [
        Problem(name, f"has {count} items; the limit is {limit}")
        for name, count, limit in (
            ("tracks", len(snapshot.tracks), limits.tracks),
            ("likes", len(snapshot.likes), limits.likes),
            ("plays", len(snapshot.plays), limits.plays),
            ("playlists", len(snapshot.playlists), limits.playlists),
        )
        if count > limit
    ]
    problems += [
        Problem(
            f"playlists[{i}].entries",
            f"has {len(p.entries)} items; the limit is {limits.entries_per_playlist}",
        )
        for i, p in enumerate(snapshot.playlists)
        if len(p.entries) > limits.entries_per_playlist
    ]
    if not problems:
        problems += _oversized_playlists(snapshot)
    return problems


def _oversized_playlists(snapshot: LibrarySnapshot) -> list[Problem]:
    """Playlists whose document would exceed MongoDB's 16 MiB: refused here, before the
    store takes a lease, rather than by the driver half-way through a sync."""
    from persistence._documents import playlist_to_doc  # the document the store writes

    problems = []
    for i, playlist in enumerate(snapshot.playlists):
        # Encoding costs; an upper bound of the size is enough for all but the largest.
        rough = sum(len(e.track_id) * 4 + 64 for e in playlist.entries)
        if rough < MAX_DOCUMENT_BYTES // 2:
            continue
        doc = playlist_to_doc(snapshot.user_id, playlist, i, 0)
        size = len(bson.encode(doc))
        if size > MAX_DOCUMENT_BYTES:
            problems.append(
                Problem(
                    f"playlists[{i}]",
                    f"would be stored as a document of {size / 2**20:.1f} MiB; MongoDB "
                    f"stores at most 16 MiB: split the playlist or send fewer entries",
                )
            )
    return problems


def _duplicates(name: str, keys: Sequence[str], key_name: str) -> list[Problem]:
    if len(set(keys)) == len(keys):
        return []  # the usual case, found in C
    first: dict[str, int] = {}
    problems = []
    for i, key in enumerate(keys):
        j = first.setdefault(key, i)
        if j != i:
            problems.append(Problem(f"{name}[{i}].{key_name}", f'"{key}" duplicates {name}[{j}]'))
    return problems


def format_path(loc: Sequence[int | str]) -> str:
    """``("likes", 3, "track_id")`` -> ``likes[3].trackId``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + to_camel(part)
    return out


def _problems_from(error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        ctx_error = (detail.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Refused):
            problems += ctx_error.problems
            continue
        loc = tuple(
            p for p in detail["loc"] if not isinstance(p, str) or not p.startswith("function-")
        )
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] != "missing":
            message += f" (got {_short(detail['input'])})"
        problems.append(Problem(format_path(loc), message))
    return problems


def _short(value: object) -> str:
    # Clients sent JSON: show them a timestamp as they would write it, not a Python repr.
    text = repr(value.isoformat()) if isinstance(value, datetime) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class SyncKind(enum.Enum):
    INGEST = "INGEST"
    SYNC = "SYNC"


@dataclass(frozen=True)
class SyncReport:
    """What one ingest or sync wrote, counted against the previous snapshot."""

    user_id: str
    kind: SyncKind
    version: int
    synced_at: datetime
    duration_ms: int
    tracks_upserted: int
    likes_added: int
    likes_removed: int
    plays_added: int
    plays_removed: int
    playlists_added: int
    playlists_removed: int
    playlists_updated: int
    playlists_unchanged: int
    documents_written: int
    total_likes: int
    total_plays: int
    total_playlists: int


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, its items always in list order whichever way it was read.

    ``end_cursor`` resumes after its last item, ``start_cursor`` before its first; either
    is valid as ``after`` and as ``before``.
    """

    items: list[T]
    total: int
    has_next: bool = False
    end_cursor: str | None = None
    cursors: Sequence[str] = field(default_factory=list)
    """One per item; the store encodes each only when it is read."""
    has_previous: bool = False
    start_cursor: str | None = None


@dataclass(frozen=True)
class PlaylistHeader:
    """A playlist without its entries; ``entry_count`` says how many it holds."""

    playlist_id: str
    name: str
    description: str | None
    snapshot_id: str | None
    entry_count: int


@dataclass(frozen=True)
class PositionedEntry:
    """One playlist entry and its index in the playlist (from 0)."""

    position: int
    track_id: str
    added_at: datetime | None
