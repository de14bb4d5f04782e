"""A plain cumulative histogram (Prometheus ``le`` semantics: a bucket counts values ≤ bound)."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

from core.snapshot import HistogramData

__all__ = ["Histogram"]


class Histogram:
    """Durations in seconds that are whole milliseconds (event times are epoch ms).

    The sum is kept in integer milliseconds: a float running sum depends on the order
    of the additions, so two replicas, or a rebuild that interleaves partitions
    differently, would expose different ``_sum`` values for the same events.
    """

    __slots__ = ("bounds", "counts", "sum_ms")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum_ms = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum_ms += round(value * 1000)

    @property
    def sum(self) -> float:
        return self.sum_ms / 1000

    def data(self) -> HistogramData:
        return HistogramData(self.bounds, tuple(accumulate(self.counts)), self.sum)
