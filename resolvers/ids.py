"""Global object ids (Relay's Global Object Identification) and the ``Node`` interface.

An id is Strawberry's ``GlobalID``: base64 of ``TypeName:key``. The key of a ``Track``
is its trackId, of a ``Library`` its userId, and of a ``Playlist`` the JSON pair
``[userId, playlistId]``: two users' copies of one playlist are two objects, and a
client's normalized cache keeps them apart. Ids are opaque to clients but stable: the
same object has the same id in every response and across syncs.
"""

from __future__ import annotations

import json

import strawberry
from strawberry.relay import GlobalID, GlobalIDValueError
from strawberry.relay.utils import to_base64

from persistence.errors import InvalidInput


@strawberry.interface(description="An object with a globally unique id; refetch it with `node`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque, stable and globally unique; pass it to `node(id:)` to refetch."
    )


# ``to_base64`` is what ``str(GlobalID(...))`` returns, without a ``GlobalID`` per id: a
# page builds one per track whether or not the query asks for it.
def track_id(track: str) -> strawberry.ID:
    return strawberry.ID(to_base64("Track", track))


def library_id(user: str) -> strawberry.ID:
    return strawberry.ID(to_base64("Library", user))


def playlist_id(user: str, playlist: str) -> strawberry.ID:
    key = json.dumps([user, playlist], ensure_ascii=False, separators=(",", ":"))
    return strawberry.ID(to_base64("Playlist", key))


def parse(value: str, argument: str) -> tuple[str, tuple[str, ...]]:
    """``(type name, key parts)`` of an id this server issued; ``InvalidInput`` otherwise.

    ``argument`` names the argument at fault in the error (``id``, ``ids[3]``).
    """
    refused = InvalidInput.one(argument, f'"{value[:64]}" is not an id this server issued')
    try:
        parsed = GlobalID.from_id(value)
    except GlobalIDValueError:
        raise refused from None
    if parsed.type_name in ("Track", "Library"):
        return parsed.type_name, (parsed.node_id,)
    if parsed.type_name == "Playlist":
        try:
            key = json.loads(parsed.node_id)
        except ValueError:
            raise refused from None
        if isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key):
            return "Playlist", (key[0], key[1])
    raise refused
