"""Exact sliding event-time windows over one-second buckets.

A window ``w`` holds every entry with ``clock - w < ts <= clock``, to the millisecond.
Entries are kept in one-second buckets (compact arrays: 18 bytes an entry) for as long
as the largest window can still see them. Each window keeps running totals; moving the
clock only visits the buckets whose entries cross a window edge, so the cost of an
advance is proportional to the traffic that entered or left, never to the window size.

An entry is ``(ts_ms, code, value)``: ``code`` names the counter slots it increments
and, optionally, the value series (e.g. first-response seconds by channel) whose exact
quantiles the window serves.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence

from sortedcontainers import SortedList

__all__ = ["SlidingWindows", "quantile"]

_BUCKET_MS = 1000


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, R type 7)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("quantile of an empty sequence")
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    a = sorted_values[lo]
    return a + (h - lo) * (sorted_values[hi] - a)


class _Window:
    __slots__ = ("counts", "hi", "lo", "ms", "name", "series")

    def __init__(self, name: str, seconds: int, n_slots: int, n_series: int) -> None:
        self.name = name
        self.ms = seconds * 1000
        self.lo = -self.ms  # exclusive
        self.hi = 0  # inclusive; no valid entry has ts <= 0
        self.counts = [0] * n_slots
        self.series: list[SortedList] = [SortedList() for _ in range(n_series)]


class SlidingWindows:
    """Running per-window totals and value series over exact sliding windows."""

    def __init__(self, windows: Mapping[str, int], n_slots: int, n_series: int = 0) -> None:
        self._windows = [_Window(n, s, n_slots, n_series) for n, s in windows.items()]
        self._by_name = {w.name: w for w in self._windows}
        self._largest = max(self._windows, key=lambda w: w.ms)
        self._buckets: dict[int, tuple[array[int], array[int], array[float]]] = {}
        self._evicted_below = 0
        self._code_slots: list[tuple[int, ...]] = []
        self._code_series: list[int] = []
        self._codes: dict[tuple[tuple[int, ...], int], int] = {}
        self.n_slots = n_slots

    # -- codes ---------------------------------------------------------------------
    def code(self, slots: Iterable[int], series: int = -1) -> int:
        """Intern the effect "increment ``slots`` (and add the value to ``series``)"."""
        key = (tuple(slots), series)
        c = self._codes.get(key)
        if c is None:
            c = len(self._code_slots)
            self._codes[key] = c
            self._code_slots.append(key[0])
            self._code_series.append(series)
        return c

    # -- writes --------------------------------------------------------------------
    def horizon_ms(self) -> int:
        """Entries with ``ts <= horizon_ms()`` can never be in any window again."""
        return self._largest.lo

    def add(self, ts_ms: int, code: int, value: float = 0.0) -> bool:
        """Record one entry; False (and nothing stored) when no window can ever see it."""
        if ts_ms <= self._largest.lo:
            return False
        key = ts_ms // _BUCKET_MS
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = (array("q"), array("H"), array("d"))
        b[0].append(ts_ms)
        b[1].append(code)
        b[2].append(value)
        slots = self._code_slots[code]
        series = self._code_series[code]
        for w in self._windows:
            if w.lo < ts_ms <= w.hi:
                counts = w.counts
                for s in slots:
                    counts[s] += 1
                if series >= 0:
                    w.series[series].add(value)
        return True

    def advance(self, clock_ms: int) -> None:
        """Slide every window so that it ends at ``clock_ms`` (never backwards)."""
        for w in self._windows:
            if clock_ms > w.hi:
                self._slide(w, clock_ms - w.ms, clock_ms)
        self._evict()

    def _slide(self, w: _Window, new_lo: int, new_hi: int) -> None:
        lo, hi = w.lo, w.hi
        keys: set[int] = set()
        self._keys_in(hi, new_hi, keys)
        self._keys_in(lo, min(new_lo, hi), keys)
        counts, series = w.counts, w.series
        code_slots, code_series = self._code_slots, self._code_series
        for key in keys:
            b = self._buckets.get(key)
            if b is None:
                continue
            tss, codes, values = b
            for i, ts in enumerate(tss):
                was = lo < ts <= hi
                now = new_lo < ts <= new_hi
                if was is now:
                    continue
                d = 1 if now else -1
                c = codes[i]
                for s in code_slots[c]:
                    counts[s] += d
                sr = code_series[c]
                if sr >= 0:
                    if d > 0:
                        series[sr].add(values[i])
                    else:
                        series[sr].remove(values[i])
        w.lo, w.hi = new_lo, new_hi

    def _keys_in(self, a: int, b: int, out: set[int]) -> None:
        """Bucket keys that may hold entries with ``a < ts <= b``."""
        if b <= a:
            return
        first, last = (a + 1) // _BUCKET_MS, b // _BUCKET_MS
        if last - first + 1 <= len(self._buckets):
            out.update(range(first, last + 1))
        else:
            out.update(k for k in self._buckets if first <= k <= last)

    def _evict(self) -> None:
        # New entries always land at or above the horizon key, so everything below the
        # previous horizon is already gone: only the keys in between need a look.
        horizon_key = (self._largest.lo + 1) // _BUCKET_MS
        start, buckets = self._evicted_below, self._buckets
        if horizon_key <= start:
            return
        if horizon_key - start <= len(buckets):
            for k in range(start, horizon_key):
                buckets.pop(k, None)
        else:
            for k in [k for k in buckets if k < horizon_key]:
                del buckets[k]
        self._evicted_below = horizon_key

    # -- reads ---------------------------------------------------------------------
    def names(self) -> list[str]:
        return [w.name for w in self._windows]

    def seconds(self, name: str) -> int:
        return self._by_name[name].ms // 1000

    def counts(self, name: str) -> list[int]:
        return list(self._by_name[name].counts)

    def values(self, name: str, series: int) -> SortedList:
        return self._by_name[name].series[series]

    def quantiles(self, name: str, series: int, qs: Sequence[float]) -> dict[float, float]:
        vals = self._by_name[name].series[series]
        if not vals:
            return {}
        return {q: quantile(vals, q) for q in qs}

    def entry_count(self) -> int:
        return sum(len(b[0]) for b in self._buckets.values())
