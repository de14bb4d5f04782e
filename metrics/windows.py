"""Exact sliding event-time windows over one-second buckets.

A window ``w`` holds every entry with ``clock - w < ts <= clock``, to the millisecond.
Entries are kept in one-second buckets for as long as the largest window can still see
them. Each window keeps running totals:

- an entry is counted when it arrives (or, if its ``ts`` is still ahead of the clock,
  when the clock reaches it);
- when the clock moves, the buckets that fall wholly out of a window are subtracted as
  per-bucket aggregates, and only the one bucket straddling the new edge is scanned entry
  by entry.

So the cost of moving the clock is proportional to the number of buckets (and value
entries) that left, never to the window size or the traffic inside it.

An entry is ``(ts_ms, code, value)``: ``code`` names the counter slots it increments and,
optionally, the value series (e.g. first-response seconds by channel) whose exact
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


_EMPTY_CODES: array[int] = array("H")
_EMPTY_VALUES: array[float] = array("d")


class _Bucket:
    """One second of entries: counter-only entries and value entries kept apart."""

    __slots__ = ("codes", "counts", "s_codes", "s_ts", "s_values", "ts")

    def __init__(self) -> None:
        self.ts: array[int] = array("q")
        self.codes: array[int] = array("H")
        # value entries are rarer (first responses): their arrays come with the first one,
        # which saves ~170 bytes in most one-second buckets
        self.s_ts: array[int] | None = None
        self.s_codes: array[int] = _EMPTY_CODES
        self.s_values: array[float] = _EMPTY_VALUES
        self.counts: dict[int, int] = {}


class _Window:
    """Counts are ``total - left``: every counted entry minus those that fell out."""

    __slots__ = ("left", "lo", "ms", "name", "series")

    def __init__(self, name: str, seconds: int, n_slots: int, n_series: int) -> None:
        self.name = name
        self.ms = seconds * 1000
        self.lo = -self.ms  # exclusive lower edge; the upper edge is the shared clock
        self.left = [0] * n_slots
        self.series: list[SortedList] = [SortedList() for _ in range(n_series)]


class SlidingWindows:
    """Running per-window totals and value series over exact sliding windows."""

    def __init__(self, windows: Mapping[str, int], n_slots: int, n_series: int = 0) -> None:
        self._windows = [_Window(n, s, n_slots, n_series) for n, s in windows.items()]
        self._by_name = {w.name: w for w in self._windows}
        self._largest = max(self._windows, key=lambda w: w.ms)
        self._buckets: dict[int, _Bucket] = {}
        self._evicted_below = 0
        self._pending: list[tuple[int, int, float]] = []  # entries ahead of the clock
        self._clock = 0
        self._total = [0] * n_slots  # every entry counted so far (ts <= clock)
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
    def add(self, ts_ms: int, code: int, value: float = 0.0, clock_ms: int = 0) -> bool:
        """Record one entry seen at ``clock_ms``; False when no window can ever see it."""
        if ts_ms <= self._largest.lo:
            return False
        key = ts_ms // _BUCKET_MS
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        series = self._code_series[code]
        if series >= 0:
            if b.s_ts is None:
                b.s_ts, b.s_codes, b.s_values = array("q"), array("H"), array("d")
            b.s_ts.append(ts_ms)
            b.s_codes.append(code)
            b.s_values.append(value)
        else:
            b.ts.append(ts_ms)
            b.codes.append(code)
        counts = b.counts
        counts[code] = counts.get(code, 0) + 1
        if ts_ms > (clock_ms if clock_ms > self._clock else self._clock):
            self._pending.append((ts_ms, code, value))  # counted when the clock gets there
        else:
            self._apply(ts_ms, code, value)
        return True

    def _apply(self, ts_ms: int, code: int, value: float) -> None:
        slots = self._code_slots[code]
        total = self._total
        for s in slots:
            total[s] += 1
        series = self._code_series[code]
        for w in self._windows:
            if ts_ms <= w.lo:  # too old for this window: it has already left
                left = w.left
                for s in slots:
                    left[s] += 1
            elif series >= 0:
                w.series[series].add(value)

    def advance(self, clock_ms: int) -> None:
        """Slide every window so that it ends at ``clock_ms`` (never backwards)."""
        if clock_ms < self._clock:
            return
        self._clock = clock_ms
        if self._pending:
            due = [p for p in self._pending if p[0] <= clock_ms]
            if due:
                self._pending = [p for p in self._pending if p[0] > clock_ms]
                for ts, code, value in due:
                    self._apply(ts, code, value)
        for w in self._windows:
            new_lo = clock_ms - w.ms
            if new_lo > w.lo:
                self._leave(w, w.lo, new_lo)
                w.lo = new_lo
        self._evict()

    def _leave(self, w: _Window, lo: int, new_lo: int) -> None:
        """Subtract every counted entry with ``lo < ts <= new_lo``."""
        first, last = (lo + 1) // _BUCKET_MS, new_lo // _BUCKET_MS
        if last - first + 1 <= len(self._buckets):
            keys: Iterable[int] = range(first, last + 1)
        else:
            keys = sorted(k for k in self._buckets if first <= k <= last)
        left, series = w.left, w.series
        code_slots, code_series = self._code_slots, self._code_series
        buckets = self._buckets
        for key in keys:
            b = buckets.get(key)
            if b is None:
                continue
            whole = key * _BUCKET_MS > lo and key * _BUCKET_MS + _BUCKET_MS - 1 <= new_lo
            if whole:
                for c, n in b.counts.items():
                    for s in code_slots[c]:
                        left[s] += n
            else:
                for ts, c in zip(b.ts, b.codes, strict=True):
                    if lo < ts <= new_lo:
                        for s in code_slots[c]:
                            left[s] += 1
            if b.s_ts is None:
                continue
            for ts, c, v in zip(b.s_ts, b.s_codes, b.s_values, strict=True):
                if whole or lo < ts <= new_lo:
                    if not whole:
                        for s in code_slots[c]:
                            left[s] += 1
                    series[code_series[c]].remove(v)

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
        left = self._by_name[name].left
        return [t - n for t, n in zip(self._total, left, strict=True)]

    def values(self, name: str, series: int) -> SortedList:
        return self._by_name[name].series[series]

    def quantiles(self, name: str, series: int, qs: Sequence[float]) -> dict[float, float]:
        vals = self._by_name[name].series[series]
        if not vals:
            return {}
        return {q: quantile(vals, q) for q in qs}

    def entry_count(self) -> int:
        return sum(len(b.ts) + len(b.s_ts or ()) for b in self._buckets.values())
