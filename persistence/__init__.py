"""The LibraryCache store: domain models, documents, indexes, snapshot writes and reads.

Nothing here knows about GraphQL or HTTP.
"""

from persistence.errors import (
    AlreadyIngested,
    InvalidInput,
    LibraryCacheError,
    Problem,
    StoreUnavailable,
    SyncConflict,
)
from persistence.models import (
    LibrarySnapshot,
    Like,
    Limits,
    Page,
    Play,
    Playlist,
    PlaylistEntry,
    SyncKind,
    SyncReport,
    Track,
)
from persistence.store import LibraryStore

__all__ = [
    "AlreadyIngested",
    "InvalidInput",
    "LibraryCacheError",
    "LibrarySnapshot",
    "LibraryStore",
    "Like",
    "Limits",
    "Page",
    "Play",
    "Playlist",
    "PlaylistEntry",
    "Problem",
    "StoreUnavailable",
    "SyncConflict",
    "SyncKind",
    "SyncReport",
    "Track",
]
