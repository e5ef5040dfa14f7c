"""The performance benchmark of issue 5: ``scripts/bench`` (see docs/performance.md)."""
