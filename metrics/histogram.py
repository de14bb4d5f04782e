"""A plain cumulative histogram (Prometheus ``le`` semantics: a bucket counts values ≤ bound)."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

from metrics.snapshot import HistogramData

__all__ = ["Histogram"]


class Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def data(self) -> HistogramData:
        return HistogramData(self.bounds, tuple(accumulate(self.counts)), self.sum)
