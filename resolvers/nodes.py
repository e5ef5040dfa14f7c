"""Refetching any object by its global id, with the same access rules as every other read."""

from __future__ import annotations

from resolvers import ids
from resolvers.context import Info
from resolvers.ids import Node
from resolvers.library import Library
from resolvers.playlists import Playlist
from resolvers.tracks import load_track


async def resolve_node(info: Info, value: str, argument: str) -> Node | None:
    """The object ``value`` names, or ``None`` if it does not exist (any more).

    A library or playlist of a user the caller may not read is refused (``FORBIDDEN``)
    whether or not it exists, as ``library(userId:)`` is.
    """
    type_name, key = ids.parse(value, argument)
    if type_name == "Track":
        return await load_track(info, key[0])
    user_id = key[0]
    info.context.caller.ensure_may_read(user_id)
    if type_name == "Library":
        return Library.of(user_id)
    view = await info.context.library_view(user_id)
    header = await view.playlist(key[1])
    return None if header is None else Playlist.of(user_id, header)
