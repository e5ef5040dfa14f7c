"""Response media types of the GraphQL over HTTP specification.

``application/graphql-response+json`` lets a server say "this request was not
executed" with a 4xx status; ``application/json`` keeps the legacy contract of
200 for every GraphQL result. A client picks with its ``Accept`` header.
"""

from __future__ import annotations

from typing import Final

GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
JSON: Final = "application/json"


def response_media_type(accept: str) -> str:
    """The media type to answer with; legacy JSON unless the client prefers the new one."""
    best, best_q = JSON, -1.0
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == GRAPHQL_RESPONSE and q > 0 and q > best_q:
            best, best_q = GRAPHQL_RESPONSE, q
        elif media in (JSON, "application/*", "*/*") and q > 0 and q > best_q:
            best, best_q = JSON, q - position * 1e-6  # an earlier equal-q entry wins
    return best
