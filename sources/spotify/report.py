"""What a run did, counted as it goes: the progress line on a terminal and the summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Report:
    """Counters of one pull or import; ``summary()`` is printed at the end."""

    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    token_refreshes: int = 0
    pages: int = 0
    items: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    playlists_reused: int = 0
    playlists_kept: list[str] = field(default_factory=list)
    playlists_skipped: list[str] = field(default_factory=list)
    cache_rereads: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def summary(self) -> str:
        lines = [
            f"requests: {self.requests} ({self.pages} pages), retries: {self.retries}, "
            f"waited: {self.waited_seconds:.1f} s, token refreshes: {self.token_refreshes}",
            "items: "
            + (", ".join(f"{n} {kind}" for kind, n in sorted(self.items.items())) or "none"),
        ]
        if self.playlists_reused:
            lines.append(f"playlists reused by snapshot_id: {self.playlists_reused}")
        if self.playlists_kept:
            lines.append(
                f"playlists kept from the cache (refused by the API): {len(self.playlists_kept)}: "
                + ", ".join(self.playlists_kept)
            )
        if self.playlists_skipped:
            lines.append(
                "playlists skipped (refused by the API, not cached): "
                f"{len(self.playlists_skipped)}: " + ", ".join(self.playlists_skipped)
            )
        if self.skipped:
            lines.append(
                "skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            )
        if self.cache_rereads:
            lines.append(f"the cache changed during the run; re-read {self.cache_rereads} time(s)")
        return "\n".join(lines)


class Progress:
    """One line, rewritten in place, on a terminal; silent otherwise (cron, CI, pipes)."""

    def __init__(self, report: Report, stream: TextIO | None = None, *, every: float = 0.2) -> None:
        self.report = report
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.every = every
        self._last = 0.0
        self._shown = False

    def update(self, stage: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        r = self.report
        items = sum(r.items.values())
        line = (
            f"{stage}: {r.pages} pages, {items} items, {r.retries} retries, "
            f"waited {r.waited_seconds:.0f} s"
        )
        self.stream.write(f"\r\x1b[2K{line}")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
