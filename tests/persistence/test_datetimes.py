"""Datetimes read from the store: the same instant, in the standard library's UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson.tz_util import utc as bson_utc

from persistence._documents import utc

INSTANT = datetime(2024, 5, 2, 8, 0, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    "stored",
    [
        INSTANT.replace(tzinfo=None),  # a client built without tz_aware: naive, UTC
        INSTANT.replace(tzinfo=bson_utc),  # a tz_aware client: BSON's own UTC zone
        INSTANT,
        INSTANT.astimezone(timezone(timedelta(hours=2))),  # another zone, same instant
    ],
    ids=["naive", "bson-utc", "utc", "plus-two"],
)
def test_each_read_datetime_is_the_same_instant_in_utc(stored: datetime) -> None:
    read = utc(stored)
    assert read.tzinfo is UTC  # its offset asked in C, not through a Python tzinfo
    assert read == INSTANT
    assert read.isoformat() == "2024-05-02T08:00:00.250000+00:00"
