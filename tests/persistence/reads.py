"""Reads that several persistence tests make the same way."""

from __future__ import annotations

from persistence import LibraryStore, Like, Page


async def liked_ids(store: LibraryStore, user: str = "user:alice") -> list[str]:
    """The whole list in one read."""
    return [like.track_id for like in (await store.liked(user)).items]


async def liked_pages(store: LibraryStore, user: str, first: int) -> list[Page[Like]]:
    """Every page of ``first`` likes, following ``end_cursor`` as a client would."""
    pages: list[Page[Like]] = []
    after = None
    while True:
        page = await store.liked(user, first=first, after=after)
        pages.append(page)
        if not page.has_next:
            return pages
        after = page.end_cursor


def track_ids(pages: list[Page[Like]]) -> list[str]:
    return [like.track_id for page in pages for like in page.items]
