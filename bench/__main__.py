"""``python -m bench [--quick]``: every figure of issue 5 in one run (see docs/performance.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.run import Options, run, write_json


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one ingest instead of three, 4 s load runs, other users with 1,000 likes",
    )
    parser.add_argument("--users", type=int, default=200, help="users in the scale test")
    parser.add_argument(
        "--other-likes",
        type=int,
        help="likes of each seeded user in the scale test (default 10,000; --quick 1,000)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["throughput", "scale", "big"],
        help="leave out a phase (repeatable); the figures it gives are then missing",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", type=Path, help="copy the store and server logs here")
    args = parser.parse_args()
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
