"""``python -m bench``: LibraryCache beside the Apollo/Node peer and the bare baselines.

``--budget`` runs the budget of issue 5 instead (every figure against its bound).
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.compare import CompareOptions, compare
from bench.memory import memory
from bench.overload import overload
from bench.run import Options, run, write_json


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="compare: one round, 5 reads per figure; budget: one ingest, 4 s load runs",
    )
    parser.add_argument("--rounds", type=int, help="compare: interleaved rounds (default 3)")
    parser.add_argument(
        "--growth",
        default="1000,10000,100000",
        help="compare: library sizes (likes) for the growth figures, comma-separated",
    )
    parser.add_argument("--budget", action="store_true", help="run the budget of issue 5 instead")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only the resident set before, at peak and after repeated large ingests",
    )
    parser.add_argument(
        "--overload",
        action="store_true",
        help="only: drive the server past its capacity and print its resident set per minute",
    )
    parser.add_argument("--minutes", type=int, default=10, help="overload: minutes (default 10)")
    parser.add_argument(
        "--over", type=float, default=1.5, help="overload: offered rate / capacity (1.5)"
    )
    parser.add_argument(
        "--ingests",
        type=int,
        default=3,
        help="memory, and compare for its 100k library: ingests per server (default 3)",
    )
    parser.add_argument("--likes", type=int, default=100_000, help="memory: likes per ingest")
    parser.add_argument("--no-apollo", action="store_true", help="memory: LibraryCache alone")
    parser.add_argument("--users", type=int, default=200, help="budget: users in the scale test")
    parser.add_argument(
        "--other-likes",
        type=int,
        help="budget: likes of each seeded user in the scale test (default 10,000; --quick 1,000)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["throughput", "scale", "big"],
        help="budget: leave out a phase (repeatable); the figures it gives are then missing",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", type=Path, help="budget: copy the store and server logs here")
    args = parser.parse_args()
    if args.overload:
        for line in overload(args.minutes, args.over):
            print(line)
        return 0
    if args.memory:
        for line in memory(args.ingests, args.likes, with_apollo=not args.no_apollo):
            print(line)
        return 0
    if not args.budget:
        rounds = args.rounds if args.rounds is not None else 1 if args.quick else 3
        growth = tuple(int(n) for n in args.growth.split(",") if n)
        figures = compare(
            CompareOptions(
                quick=args.quick, rounds=rounds, growth=growth, memory_ingests=args.ingests
            )
        )
        print(figures.table())
        if args.json:
            args.json.write_text(json.dumps({"values": figures.values, "extra": figures.extra}))
        return 0
    options = Options(
        quick=args.quick,
        users=args.users,
        other_likes=args.other_likes,
        keep=args.keep,
        json_out=args.json,
        skip=frozenset(args.skip),
    )
    report = run(options)
    report.print()
    if args.json:
        write_json(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
