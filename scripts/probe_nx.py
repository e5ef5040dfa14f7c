"""Probe how nx-27017 behaves for the exact operations the LibraryCache store uses.

Runs every probe through both Motor and PyMongo's AsyncMongoClient against one embedded server
and prints one line per operation and driver. Findings are summarised in docs/nx-27017-probes.md;
rerun this after upgrading nx-27017, pymongo or motor.

    python scripts/probe_nx.py [--users 20]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.embedded import EmbeddedMongo  # after the path insert above

BIG = 2**62
USER = "u1"
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Report:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, probe: str, driver: str, op: str, verdict: str, figure: str) -> None:
        self.rows.append((probe, driver, op, verdict, figure))
        print(f"{probe:>3} {driver:<7} {verdict:<7} {op}: {figure}", flush=True)

    def check(self, probe: str, driver: str, op: str, ok: bool, figure: str) -> None:
        self.add(probe, driver, op, "works" if ok else "DIFFERS", figure)


@contextmanager
def timer() -> Iterator[list[float]]:
    """Yields a one-element list that holds the elapsed milliseconds once the block ends."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = (time.perf_counter() - start) * 1000


def ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


async def close(client: Any) -> None:
    result = client.close()  # Motor's close() is synchronous, AsyncMongoClient's a coroutine
    if inspect.isawaitable(result):
        await result


def track_docs(count: int, prefix: str = "t") -> list[dict[str, Any]]:
    return [
        {
            "_id": f"{prefix}{i:06d}",
            "name": f"Track {i}",
            "artist": f"Artist {i % 500}",
            "album": f"Album {i % 2000}",
            "durationMs": 120_000 + i,
            "isrc": f"US-XYZ-{i:07d}",
        }
        for i in range(count)
    ]


def like_docs(user: str, count: int, *, ms_apart: bool = True) -> list[dict[str, Any]]:
    """Three likes per second, so the trackId tie-break matters.

    With ``ms_apart`` the one with the lowest trackId is 7 ms later, so sorting by addedAt and
    by (second, trackId) disagree: paging then goes wrong if filters compare whole seconds.
    """
    return [
        {
            "_id": f"{user}:t{i:05d}",
            "userId": user,
            "trackId": f"t{i:05d}",
            "addedAt": BASE_TIME
            + timedelta(seconds=i // 3, milliseconds=7 * (ms_apart and i % 3 == 0)),
            "from": 1 + i % 8,
            "to": BIG if i % 5 == 0 else 1 + i % 8 + 1 + i % 3,
        }
        for i in range(count)
    ]


def visible(docs: list[dict[str, Any]], version: int) -> list[tuple[str, datetime]]:
    rows = [d for d in docs if d["from"] <= version < d["to"]]
    rows.sort(key=lambda d: (d["addedAt"], d["trackId"]), reverse=True)
    return [(d["trackId"], d["addedAt"]) for d in rows]


def visible_filter(user: str, version: int) -> dict[str, Any]:
    return {"userId": user, "from": {"$lte": version}, "to": {"$gt": version}}


LIKE_INDEX = [("userId", 1), ("addedAt", -1), ("trackId", -1)]
LIKE_SORT = [("addedAt", -1), ("trackId", -1)]
LIKE_PROJECTION = {"_id": 0, "trackId": 1, "addedAt": 1}


async def insert_in_batches(coll: Any, docs: list[dict[str, Any]], size: int = 1000) -> None:
    for start in range(0, len(docs), size):
        await coll.insert_many(docs[start : start + size], ordered=False)


async def probe_lease(db: Any, drv: str, report: Report) -> None:
    coll = db.libraries
    now = datetime.now(UTC)
    await coll.insert_many(
        [
            {"_id": "missing", "nextVersion": 1},
            {"_id": "null", "nextVersion": 1, "lease": None},
            {
                "_id": "expired",
                "nextVersion": 1,
                "lease": {"by": "old", "expiresAt": now - timedelta(minutes=1)},
            },
            {
                "_id": "held",
                "nextVersion": 1,
                "lease": {"by": "other", "expiresAt": now + timedelta(minutes=5)},
            },
        ]
    )

    async def acquire(user: str) -> Any:
        return await coll.find_one_and_update(
            {"_id": user, "$or": [{"lease": None}, {"lease.expiresAt": {"$lt": now}}]},
            {
                "$set": {"lease": {"by": drv, "expiresAt": now + timedelta(seconds=30)}},
                "$inc": {"nextVersion": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    with timer() as took:
        got = {u: await acquire(u) for u in ("missing", "null", "expired", "held")}
    again = await acquire("missing")
    held_after = await coll.find_one({"_id": "held"})
    acquired = all(
        got[u] is not None and got[u]["nextVersion"] == 2 and got[u]["lease"]["by"] == drv
        for u in ("missing", "null", "expired")
    )
    refused = got["held"] is None and again is None and held_after["nextVersion"] == 1
    report.check(
        "1",
        drv,
        "find_one_and_update lease ($or null/expired, $set+$inc, AFTER)",
        acquired and refused,
        f"missing/null/expired acquired={acquired}, held+re-acquire refused={refused};"
        f" {ms(took[0] / 4)}/call",
    )


async def probe_set_on_insert(db: Any, drv: str, report: Report) -> None:
    coll = db.libraries
    first = await coll.update_one(
        {"_id": "fresh"}, {"$setOnInsert": {"nextVersion": 1, "current": None}}, upsert=True
    )
    second = await coll.update_one(
        {"_id": "fresh"}, {"$setOnInsert": {"nextVersion": 99, "current": 5}}, upsert=True
    )
    doc = await coll.find_one({"_id": "fresh"})
    ok = (
        first.upserted_id == "fresh"
        and second.upserted_id is None
        and second.matched_count == 1
        and second.modified_count == 0
        and doc == {"_id": "fresh", "nextVersion": 1, "current": None}
    )
    report.check(
        "2",
        drv,
        "update_one $setOnInsert upsert=True (insert, then no-op)",
        ok,
        f"1st upserted_id={first.upserted_id!r}; 2nd matched={second.matched_count}"
        f" modified={second.modified_count} upserted_id={second.upserted_id!r}; doc={doc}",
    )


async def probe_insert_many(db: Any, drv: str, report: Report) -> None:
    coll = db.tracks_inserted
    docs = track_docs(10_000)
    with timer() as took:
        await insert_in_batches(coll, docs)
    count = len(await coll.find({}, {"_id": 1}).to_list(None))
    report.check(
        "3",
        drv,
        "insert_many ordered=False, 10k docs x 6 fields, batches of 1000",
        count == 10_000,
        f"{ms(took[0])} total, {count} stored",
    )

    batch = track_docs(1000, prefix="n")
    batch[500] = dict(docs[0])  # an _id that already exists, in the middle of the batch
    try:
        await coll.insert_many(batch, ordered=False)
    except BulkWriteError as exc:
        details = exc.details
        errors = details.get("writeErrors", [])
        first = errors[0] if errors else {}
        stored = len(await coll.find({"_id": {"$regex": "^n"}}, {"_id": 1}).to_list(None))
        ok = (
            details.get("nInserted") == 999
            and len(errors) == 1
            and first.get("index") == 500
            and first.get("code") == 11000
            and stored == 999
        )
        figure = (
            f"BulkWriteError nInserted={details.get('nInserted')}, {len(errors)} writeError(s)"
            f" index={first.get('index')} code={first.get('code')}; {stored} others stored"
        )
    except PyMongoError as exc:
        ok, figure = False, f"raised {type(exc).__name__}: {exc}"
    else:
        ok, figure = False, "no error raised"
    report.check("3", drv, "insert_many ordered=False with one duplicate _id", ok, figure)


async def probe_bulk_upsert(db: Any, drv: str, report: Report) -> None:
    coll = db.tracks
    docs = track_docs(10_000)
    ops = [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs]
    with timer() as took:
        first = await coll.bulk_write(ops, ordered=False)
    changed = [
        UpdateOne({"_id": d["_id"]}, {"$set": {**d, "durationMs": 1}}, upsert=True) for d in docs
    ]
    with timer() as took_again:
        second = await coll.bulk_write(changed, ordered=False)
    ok = (
        first.upserted_count == 10_000
        and second.matched_count == 10_000
        and second.modified_count == 10_000
    )
    report.check(
        "4",
        drv,
        "bulk_write 10k UpdateOne({_id}, $set, upsert) ordered=False",
        ok,
        f"all-new {ms(took[0])} (upserted={first.upserted_count});"
        f" all-existing {ms(took_again[0])}"
        f" (matched={second.matched_count} modified={second.modified_count})",
    )


async def probe_edge_updates(db: Any, drv: str, report: Report) -> None:
    coll = db.edges
    docs = like_docs(USER, 10_000) + like_docs("other", 1_000)
    await insert_in_batches(coll, docs)
    mine = {d["_id"]: d for d in docs if d["userId"] == USER}
    ids = list(mine)[:1000]

    with timer() as took:
        result = await coll.update_many({"_id": {"$in": ids}}, {"$set": {"to": 7}})
    expected_modified = sum(mine[i]["to"] != 7 for i in ids)
    for i in ids:
        mine[i]["to"] = 7
    report.check(
        "5",
        drv,
        "update_many {_id: {$in: 1000 ids}} $set",
        result.matched_count == 1000 and result.modified_count == expected_modified,
        f"{ms(took[0])}; matched={result.matched_count}"
        f" modified={result.modified_count} (expected {expected_modified})",
    )

    deletions: list[tuple[str, str, Callable[[int], bool]]] = [
        ("to", "$lte", lambda v: v <= 5),
        ("from", "$gt", lambda v: v > 5),
    ]
    for key, op, gone in deletions:
        label, flt = f"{key} {op} 5", {key: {op: 5}}
        expected = [i for i, d in mine.items() if gone(d[key])]
        with timer() as took:
            deleted = await coll.delete_many({"userId": USER, **flt})
        for i in expected:
            del mine[i]
        left = {d["_id"] for d in await coll.find({"userId": USER}, {"_id": 1}).to_list(None)}
        others = len(await coll.find({"userId": "other"}, {"_id": 1}).to_list(None))
        report.check(
            "5",
            drv,
            f"delete_many {{userId, {label}}}",
            deleted.deleted_count == len(expected) and left == set(mine) and others == 1000,
            f"{ms(took[0])}; deleted={deleted.deleted_count} (expected {len(expected)}),"
            f" remaining set correct={left == set(mine)}",
        )


def fetch_visible(coll: Any, user: str, version: int, limit: int) -> Any:
    cursor = coll.find(visible_filter(user, version), LIKE_PROJECTION).sort(LIKE_SORT)
    return cursor.limit(limit) if limit else cursor


def rows(docs: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    return [(d["trackId"], d["addedAt"]) for d in docs]


async def probe_like_queries(db: Any, drv: str, report: Report) -> None:
    coll = db.likes
    await coll.create_index(LIKE_INDEX)
    docs = like_docs(USER, 10_000)
    await insert_in_batches(coll, docs)
    version = 3
    expected = visible(docs, version)

    with timer() as took_page:
        page = rows(await fetch_visible(coll, USER, version, 50).to_list(None))
    with timer() as took_all:
        everything = await fetch_visible(coll, USER, version, 0).to_list(None)
    keys_ok = all(set(d) == {"trackId", "addedAt"} for d in everything)
    report.check(
        "6",
        drv,
        "find visible-at-V, projection, sort (addedAt,trackId) desc, limit 50",
        page == expected[:50],
        f"{ms(took_page[0])}; order correct={page == expected[:50]}",
    )
    report.check(
        "6",
        drv,
        "same without limit (10k in collection)",
        rows(everything) == expected and keys_ok,
        f"{ms(took_all[0])} for {len(everything)} docs;"
        f" order correct={rows(everything) == expected}, projection only trackId/addedAt={keys_ok}",
    )

    whole = db.likes_whole_seconds
    await whole.create_index(LIKE_INDEX)
    whole_docs = like_docs(USER, 10_000, ms_apart=False)
    await insert_in_batches(whole, whole_docs)
    for explicit_and in (False, True):
        await probe_keyset(coll, drv, report, explicit_and, "ties 7 ms apart", expected)
        data, want = "whole-second addedAt", visible(whole_docs, version)
        await probe_keyset(whole, drv, report, explicit_and, data, want)


async def probe_keyset(
    coll: Any,
    drv: str,
    report: Report,
    explicit_and: bool,
    data: str,
    expected: list[tuple[str, datetime]],
) -> None:
    """Walk all pages after the last (addedAt, trackId) seen, as the store's cursor will."""
    walked: list[tuple[str, datetime]] = []
    pages = 0
    with timer() as took:
        while pages < 1000:
            query = visible_filter(USER, 3)
            if walked:
                t_id, t_at = walked[-1]
                after = [{"addedAt": {"$lt": t_at}}, {"addedAt": t_at, "trackId": {"$lt": t_id}}]
                query = (
                    {"$and": [query, {"$or": after}]} if explicit_and else {**query, "$or": after}
                )
            cursor = coll.find(query, LIKE_PROJECTION).sort(LIKE_SORT).limit(50)
            batch = rows(await cursor.to_list(None))
            if not batch:
                break
            pages += 1
            walked.extend(batch)
    form = "{$and: [visible, {$or: after}]}" if explicit_and else "{...visible, $or: after}"
    report.check(
        "7",
        drv,
        f"keyset paging {form}, pages of 50, {data}",
        walked == expected,
        f"{pages} pages, {len(walked)} rows for {len(expected)} expected,"
        f" same order={walked == expected}; {ms(took[0] / max(pages, 1))}/page",
    )


async def probe_datetimes(db: Any, drv: str, report: Report) -> None:
    coll = db.dates
    precise = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    plus_two = datetime(2024, 5, 6, 9, 8, 9, 123000, tzinfo=timezone(timedelta(hours=2)))
    await coll.insert_many([{"_id": "precise", "at": precise}, {"_id": "plus2", "at": plus_two}])
    back = await coll.find_one({"_id": "precise"})
    other = await coll.find_one({"_id": "plus2"})
    truncated = precise.replace(microsecond=123000)
    ok = (
        back["at"] == truncated
        and back["at"].utcoffset() == timedelta(0)
        and other["at"] == plus_two
        and other["at"].utcoffset() == timedelta(0)
    )
    report.check(
        "8",
        drv,
        "tz-aware datetime round trip (tz_aware=True)",
        ok,
        f".123456 read back as {back['at'].isoformat()} (ms kept, µs dropped as in BSON);"
        f" +02:00 input read back as {other['at'].isoformat()}",
    )

    values = [
        datetime(2100, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 10_000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 2_000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 1_000, tzinfo=UTC),
        datetime(2023, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    ]
    sort_coll = db.date_sort
    await sort_coll.insert_many([{"_id": f"d{i}", "at": v} for i, v in enumerate(values)])
    ascending = [d["at"] for d in await sort_coll.find().sort("at", 1).to_list(None)]
    descending = [d["at"] for d in await sort_coll.find().sort("at", -1).to_list(None)]
    report.check(
        "8",
        drv,
        "sort on datetimes (ms apart, pre-1970, 2100)",
        ascending == sorted(values) and descending == sorted(values, reverse=True),
        f"asc correct={ascending == sorted(values)},"
        f" desc correct={descending == sorted(values, reverse=True)}",
    )

    cutoff = datetime(2024, 1, 1, 0, 0, 0, 2_000, tzinfo=UTC)
    counts = {}
    for op in ("$lt", "$lte", "$eq", "$gt"):
        found = await sort_coll.find({"at": {op: cutoff}}).to_list(None)
        compare = {"$lt": cutoff.__gt__, "$lte": cutoff.__ge__, "$eq": cutoff.__eq__}
        wanted = sum(compare.get(op, cutoff.__lt__)(v) for v in values)
        counts[op] = (len(found), wanted)
    report.check(
        "8",
        drv,
        "$lt/$lte/$eq/$gt on datetimes within one second of each other",
        all(got == wanted for got, wanted in counts.values()),
        "vs 00:00:00.002 with .000 .001 .002 .010 stored: "
        + ", ".join(f"{op} {got} (expected {wanted})" for op, (got, wanted) in counts.items()),
    )


async def probe_slice(db: Any, drv: str, report: Report) -> None:
    coll = db.playlists
    entries = [
        {"trackId": f"t{i}", "addedAt": BASE_TIME + timedelta(seconds=i)} for i in range(1000)
    ]
    await coll.insert_one({"_id": "pl", "name": "Mix", "entries": entries})
    try:
        with timer() as took:
            doc = await coll.find_one({"_id": "pl"}, {"entries": {"$slice": [10, 5]}})
    except PyMongoError as exc:
        report.add("9", drv, "projection $slice [10, 5]", "FAILS", f"{type(exc).__name__}: {exc}")
        return
    got = doc.get("entries") if doc else None
    ok = got == entries[10:15] and doc is not None and doc.get("name") == "Mix"
    report.check(
        "9",
        drv,
        "projection {entries: {$slice: [10, 5]}} on 1000 entries",
        ok,
        f"{ms(took[0])}; returned {len(got) if isinstance(got, list) else got!r} entries,"
        f" equal to entries[10:15]={got == entries[10:15]},"
        f" other fields kept={doc is not None and 'name' in doc}",
    )
    try:
        doc = await coll.find_one({"_id": "pl"}, {"entries": {"$slice": 5}})
        got = doc.get("entries") if doc else None
        report.check(
            "9", drv, "projection {$slice: 5}", got == entries[:5], f"returned {got!r:.80}"
        )
    except PyMongoError as exc:
        report.add("9", drv, "projection {$slice: 5}", "FAILS", f"{type(exc).__name__}: {exc}")
    cursor = coll.aggregate(
        [{"$match": {"_id": "pl"}}, {"$project": {"entries": {"$slice": ["$entries", 10, 5]}}}]
    )
    if inspect.isawaitable(cursor):  # AsyncMongoClient's aggregate is a coroutine, Motor's not
        cursor = await cursor
    found = await cursor.to_list(None)
    got = found[0].get("entries") if found else None
    report.check(
        "9",
        drv,
        "aggregate $project {$slice: [$entries, 10, 5]}",
        got == entries[10:15],
        f"returned {len(got) if isinstance(got, list) else got!r} items, first {got[:1]!r:.90}"
        if got
        else f"returned {got!r}",
    )


async def probe_in_and_indexes(db: Any, drv: str, report: Report) -> None:
    coll = db.tracks  # 10k documents from probe 4
    ids = [f"t{i:06d}" for i in range(10_000)]
    with timer() as took:
        found = await coll.find({"_id": {"$in": ids}}).to_list(None)
    report.check(
        "10",
        drv,
        "find {_id: {$in: 10k ids}}",
        len(found) == 10_000,
        f"{ms(took[0])} for {len(found)} docs",
    )

    spec = [("userId", 1), ("addedAt", -1)]
    try:
        first = await coll.create_index(spec)
        second = await coll.create_index(spec)
        count = len(await coll.index_information())
        report.check(
            "10",
            drv,
            "create_index twice with the same spec",
            first == second,
            f"no error; names {first!r} / {second!r}; {count} indexes listed",
        )
    except PyMongoError as exc:
        report.add("10", drv, "create_index twice", "FAILS", f"{type(exc).__name__}: {exc}")

    uniq = db.unique_edges
    await uniq.create_index([("userId", 1), ("trackId", 1)], unique=True)
    await uniq.insert_one({"userId": "u", "trackId": "t1", "v": 1})
    await uniq.insert_one({"userId": "u", "trackId": "t2", "v": 1})
    await uniq.insert_one({"userId": "w", "trackId": "t1", "v": 1})
    try:
        await uniq.insert_one({"userId": "u", "trackId": "t1", "v": 2})
        outcome, refused = "duplicate accepted", False
    except DuplicateKeyError as exc:
        outcome, refused = f"DuplicateKeyError code={exc.code}", True
    report.check(
        "10",
        drv,
        "create_index compound unique=True, then a duplicate pair",
        refused,
        f"{outcome}; distinct pairs sharing one field accepted",
    )


async def probe_big_int(db: Any, drv: str, report: Report) -> None:
    coll = db.sentinel
    await coll.insert_many(
        [{"_id": "big", "to": BIG}, {"_id": "big+1", "to": BIG + 1}, {"_id": "small", "to": 3}]
    )
    gt = sorted(d["_id"] for d in await coll.find({"to": {"$gt": 5}}).to_list(None))
    lt = sorted(d["_id"] for d in await coll.find({"to": {"$lt": BIG}}).to_list(None))
    eq = sorted(d["_id"] for d in await coll.find({"to": BIG}).to_list(None))
    back = await coll.find_one({"_id": "big+1"})
    exact = back is not None and back["to"] == BIG + 1 and isinstance(back["to"], int)
    ok = gt == ["big", "big+1"] and lt == ["small"] and eq == ["big"] and exact
    report.check(
        "12",
        drv,
        "to = 2**62 sentinel: $gt 5, $lt 2**62, equality, exact read-back",
        ok,
        f"$gt 5 -> {gt}; $lt 2**62 -> {lt}; == 2**62 -> {eq}; 2**62+1 read back exactly={exact}",
    )


async def probe_ping(client: Any, drv: str, report: Report) -> None:
    timings = []
    for _ in range(200):
        with timer() as took:
            await client.admin.command("ping")
        timings.append(took[0])
    timings.sort()
    report.add(
        "11",
        drv,
        "admin.command('ping') x200",
        "works",
        f"median {timings[100]:.2f} ms, p95 {timings[190]:.2f} ms",
    )


async def probe_scale(clients: dict[str, Any], users: int, report: Report) -> None:
    """Does one user's page get slower as other users' likes fill the collection?"""
    loader = clients["pymongo"].probe_scale.likes
    await loader.create_index(LIKE_INDEX)
    version = 3
    expected = visible(like_docs("s0000", 10_000), version)

    async def median_ms(coll: Any, repeat: int, limit: int, sort: bool = True) -> float:
        timings = []
        for _ in range(repeat):
            if sort:
                cursor = fetch_visible(coll, "s0000", version, limit)
            else:  # the baseline: the same filter and limit without the sort
                cursor = coll.find(visible_filter("s0000", version), LIKE_PROJECTION).limit(limit)
            with timer() as took:
                found = await cursor.to_list(None)
            timings.append(took[0])
            if sort and rows(found) != expected[: limit or None]:
                raise AssertionError(f"wrong page at {label}")
        return statistics.median(timings)

    async def measure(label: str) -> None:
        for drv, client in clients.items():
            coll = client.probe_scale.likes
            page = await median_ms(coll, 5, 50)
            everything = await median_ms(coll, 2, 0)
            unsorted = await median_ms(coll, 5, 50, sort=False)
            report.add(
                "6",
                drv,
                f"one user's visible likes with {label} in the collection",
                "works",
                f"sorted limit 50: {ms(page)}; sorted all {len(expected)}: {ms(everything)};"
                f" unsorted limit 50: {ms(unsorted)} (medians, order checked)",
            )

    label = "1 user x 10k"
    with timer() as took:
        await insert_in_batches(loader, like_docs("s0000", 10_000))
    await measure(label)
    with timer() as took:
        for u in range(1, users):
            await insert_in_batches(loader, like_docs(f"s{u:04d}", 10_000))
    print(f"    (loaded {users - 1} more users x 10k in {took[0] / 1000:.1f} s)", flush=True)
    label = f"{users} users x 10k"
    await measure(label)


async def probe_restart(server: EmbeddedMongo, clients: dict[str, Any], report: Report) -> None:
    for drv, client in clients.items():
        await client.probe_restart.items.insert_one({"_id": drv})
    await server.stop()
    down: dict[str, list[str]] = {drv: [] for drv in clients}
    for _ in range(2):  # the first op may fail on a dead pooled socket, the next on selection
        for drv, client in clients.items():
            with timer() as took:
                try:
                    await client.probe_restart.items.find_one({"_id": drv})
                    outcome = "answered?!"
                except PyMongoError as exc:
                    outcome = type(exc).__name__
            down[drv].append(f"{outcome} after {ms(took[0])}")
    await server.start()  # the same port: EmbeddedMongo keeps the one it picked
    for drv, client in clients.items():
        errors: list[str] = []
        doc = None
        with timer() as took:
            for _ in range(20):
                try:
                    doc = await client.probe_restart.items.find_one({"_id": drv})
                    break
                except PyMongoError as exc:
                    errors.append(type(exc).__name__)
        report.check(
            "11",
            drv,
            "same client (serverSelectionTimeoutMS=2000) across a server stop/start",
            doc is not None,
            f"while down: {', then '.join(down[drv])}; after restart: first op"
            f" {'succeeded' if doc else 'failed'} in {ms(took[0])}"
            f" after {len(errors)} error(s) {errors}",
        )


Probe = Callable[[Any, str, Report], Awaitable[None]]
PER_DRIVER: list[Probe] = [
    probe_lease,
    probe_set_on_insert,
    probe_insert_many,
    probe_bulk_upsert,
    probe_edge_updates,
    probe_like_queries,
    probe_datetimes,
    probe_slice,
    probe_in_and_indexes,
    probe_big_int,
]


async def main(users: int) -> None:
    report = Report()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="probe-nx-") as tmp:
        server = EmbeddedMongo(Path(tmp))
        uri = await server.start()
        options: dict[str, Any] = {"tz_aware": True, "serverSelectionTimeoutMS": 2000}
        clients: dict[str, Any] = {
            "motor": AsyncIOMotorClient(uri, **options),
            "pymongo": AsyncMongoClient(uri, **options),
        }
        try:
            for drv, client in clients.items():
                for probe in PER_DRIVER:
                    await probe(client[f"probe_{drv}"], drv, report)
                await probe_ping(client, drv, report)
            await probe_scale(clients, users, report)
            await probe_restart(server, clients, report)
        finally:
            for client in clients.values():
                await close(client)
            await server.stop()
    print(f"\n{len(report.rows)} results in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20, help="users x 10k likes for probe 6")
    asyncio.run(main(parser.parse_args().users))
