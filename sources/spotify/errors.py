"""What can end a pull or an import; the CLI maps each to a message and an exit code.

Messages never carry a token: they name the request by method and path only.
"""

from __future__ import annotations


class SpotifyMirrorError(Exception):
    """Base: the run stopped and submitted nothing."""


class TokenFileError(SpotifyMirrorError):
    """The token file is missing, unreadable or incomplete."""


class OutFileError(SpotifyMirrorError):
    """``--out`` could not be written."""


class AuthorizationError(SpotifyMirrorError):
    """Spotify refused the tokens even after a refresh; the user must authorize again."""


class SourceError(SpotifyMirrorError):
    """Spotify's API kept failing (after retries) or answered something unexpected."""


class Forbidden(SourceError):
    """403 for one resource, e.g. a followed playlist's items in development mode."""


class NotFound(SourceError):
    """404 for one resource, e.g. a playlist deleted while the pull ran."""


class HistoryError(SpotifyMirrorError):
    """A streaming-history file could not be read; the message names the file and row."""


class CacheError(SpotifyMirrorError):
    """The LibraryCache server refused the request or could not be reached.

    ``code`` is the error's ``extensions.code`` when the server gave one.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
