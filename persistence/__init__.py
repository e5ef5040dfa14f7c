"""The LibraryCache store: domain models, documents, indexes, snapshot writes and reads.

Nothing here knows about GraphQL or HTTP.
"""

from persistence._dialect import Dialect, MongoDialect, Nx27017Dialect
from persistence._dialect import detect as detect_dialect
from persistence._retry import is_transient
from persistence.errors import (
    AlreadyIngested,
    InvalidInput,
    LibraryCacheError,
    Problem,
    SnapshotExpired,
    StoreUnavailable,
    SyncConflict,
)
from persistence.models import (
    MAX_ID_LENGTH,
    LibrarySnapshot,
    Like,
    Limits,
    Page,
    Play,
    Playlist,
    PlaylistEntry,
    PlaylistHeader,
    PositionedEntry,
    SyncKind,
    SyncReport,
    Track,
)
from persistence.reads import LibraryView, entry_cursor
from persistence.store import LibraryStore, StoreOptions, SyncObserver

__all__ = [
    "MAX_ID_LENGTH",
    "AlreadyIngested",
    "Dialect",
    "InvalidInput",
    "LibraryCacheError",
    "LibrarySnapshot",
    "LibraryStore",
    "LibraryView",
    "Like",
    "Limits",
    "MongoDialect",
    "Nx27017Dialect",
    "Page",
    "Play",
    "Playlist",
    "PlaylistEntry",
    "PlaylistHeader",
    "PositionedEntry",
    "Problem",
    "SnapshotExpired",
    "StoreOptions",
    "StoreUnavailable",
    "SyncConflict",
    "SyncKind",
    "SyncObserver",
    "SyncReport",
    "Track",
    "detect_dialect",
    "entry_cursor",
    "is_transient",
]
