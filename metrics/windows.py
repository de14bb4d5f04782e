"""Exact sliding event-time windows over minute-long chunks of entries in flat arrays.

A window ``w`` holds every entry with ``clock - w < ts <= clock``, to the millisecond.
Entries are kept for as long as the largest window can still see them, in chunks of one
minute of event time: per chunk, flat arrays of timestamps and codes (no object per
entry or per second). Each window keeps running totals per code:

- an entry is counted when it arrives (or, if its ``ts`` is still ahead of the clock,
  when the clock reaches it);
- when the clock moves, the entries a window loses (``lo < ts <= new_lo``) are
  subtracted per code (``collections.Counter`` over the codes array): whole chunks at
  once, and in the chunk the edge cuts through, the slice found by bisection.

Counter-only entries are appended as they come and a chunk is sorted by ts only when an
edge has to cut through it while it is out of order (a rebuild reads partitions at
different event times; live traffic is nearly in order, and an edge cuts through a
chunk long after it was written). So the cost of moving the clock is proportional to
the entries that left, never to the window size or the traffic inside it, and an entry
costs 4 bytes (12 with a value: a ts is a 16-bit offset within its chunk) plus a share
of its chunk, whatever the traffic density.

An entry is ``(ts_ms, code, value)``: ``code`` names the counter slots it increments and,
optionally, the value series (e.g. first-response seconds by channel) whose exact
quantiles the window serves (a :class:`~metrics.sortedarray.SortedArray` per window and
series: 8 bytes a value, no float object). Counts are kept per code and expanded into
slots on read.
Each window also keeps a running sum per value series, in integer thousandths (values
are whole milliseconds in seconds): exact and independent of the order of the entries,
like the histograms' ``_sum``, and read in O(1) at a scrape.

The calendar window ``today`` (SPEC §2/§7, ``today=<timezone>``) is the same kind of
window with another edge: it holds ``local midnight <= ts <= clock``, i.e. its exclusive
lower edge is ``midnight - 1`` ms (integer milliseconds: exact). Its edge only moves when
the clock crosses a local midnight, and then every entry of the day before leaves at once
(with no event: :meth:`SlidingWindows.advance` is all it takes). History is kept down to
the lowest edge of all windows, so at least max(largest window, time since midnight).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from operator import sub
from zoneinfo import ZoneInfo

from core.business_hours import local_midnight_ms, next_local_midnight_ms
from core.snapshot import TODAY
from metrics.sortedarray import SortedArray

__all__ = ["TODAY", "SlidingWindows", "merged_counts", "quantile"]

_CHUNK_MS = 60_000
_MAX_CODES = 1 << 16  # codes are stored as unsigned 16-bit integers
_SMALL = 24  # below this many entries a Python loop beats building a Counter


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


class _Chunk:
    """One minute of entries: counter-only entries (in arrival order, sorted by ts when a
    window edge has to cut through them) and value entries (always sorted by ts).

    A ts is stored as its offset from the chunk's start (``ts - key * 60000``, 0..59999):
    an unsigned 16-bit integer, 2 bytes where the epoch ms took 8 (an entry is 4 bytes,
    12 with a value). Offsets order exactly as the times do."""

    __slots__ = ("codes", "s_codes", "s_ts", "s_values", "ts", "unsorted")

    def __init__(self) -> None:
        self.ts: array[int] = array("H")  # offsets from the chunk's start
        self.codes: array[int] = array("H")
        self.unsorted = False
        # value entries (first responses) are rarer: their arrays come with the first one
        self.s_ts: array[int] | None = None
        self.s_codes: array[int] = array("H")
        self.s_values: array[float] = array("d")


def _sort(ch: _Chunk) -> None:
    """Sort a chunk's counter-only entries by ts."""
    pairs = sorted(zip(ch.ts, ch.codes, strict=True))
    ch.ts = array("H", [p[0] for p in pairs])
    ch.codes = array("H", [p[1] for p in pairs])
    ch.unsorted = False


class _Window:
    """Counts are ``total - left`` per code: every counted entry minus those that left."""

    __slots__ = ("left", "lo", "ms", "name", "series", "sums")

    def __init__(self, name: str, seconds: int, n_series: int) -> None:
        self.name = name
        self.ms = seconds * 1000
        self.lo = -self.ms  # exclusive lower edge; the upper edge is the shared clock
        self.left: list[int] = []
        self.series: list[SortedArray] = [SortedArray("d") for _ in range(n_series)]
        self.sums: list[int] = [0] * n_series  # per series: sum of the values, in 1/1000

    def edge(self, clock_ms: int) -> int:
        """The exclusive lower edge at ``clock_ms``."""
        return clock_ms - self.ms


class _Today(_Window):
    """``midnight <= ts <= clock``: the exclusive edge is the local midnight minus 1 ms.
    The day's bounds are cached: the edge is recomputed once a day, not at every tick."""

    __slots__ = ("_day", "tz")

    def __init__(self, tz: ZoneInfo, n_series: int) -> None:
        super().__init__(TODAY, 0, n_series)
        self.tz = tz
        self._day = (0, -1)  # [midnight, next midnight) of the cached day; empty at first
        self.lo = self.edge(0)

    def edge(self, clock_ms: int) -> int:
        start, end = self._day
        if not start <= clock_ms < end:
            start = local_midnight_ms(clock_ms, self.tz)
            self._day = (start, next_local_midnight_ms(clock_ms, self.tz))
        return start - 1


class SlidingWindows:
    """Running per-window totals and value series over exact sliding windows."""

    def __init__(self, windows: Mapping[str, int], n_slots: int, n_series: int = 0,
                 today: ZoneInfo | None = None) -> None:
        """``today``: the timezone of the calendar window ``today`` (None: no such window)."""
        if today is not None and TODAY in windows:
            raise ValueError(f"a sliding window may not be named {TODAY!r}")
        self._windows = [_Window(n, s, n_series) for n, s in windows.items()]
        if today is not None:
            self._windows.append(_Today(today, n_series))
        self._by_name = {w.name: w for w in self._windows}
        self._floor = 0  # at or below the lowest edge: no window can ever see an entry
        self._inner = 0  # above the highest edge: every window sees it
        self._edges()
        self._chunks: dict[int, _Chunk] = {}
        self._evicted_below = 0
        self._pending: list[tuple[int, int, float]] = []  # entries ahead of the clock
        self._clock = 0
        self._total: list[int] = []  # per code: every entry counted so far (ts <= clock)
        self._code_slots: list[tuple[int, ...]] = []
        self._code_series: list[int] = []
        self._code_series2: list[int] = []  # a second series the value goes to (-1: none)
        self._codes: dict[tuple[tuple[int, ...], int, int], int] = {}
        self.n_slots = n_slots

    # -- codes ---------------------------------------------------------------------
    def code(self, slots: Iterable[int], series: int = -1, series2: int = -1) -> int:
        """Intern the effect "increment ``slots`` (and add the value to ``series``, and to
        ``series2``)". Two series: one entry where two of the same value at the same ts
        would have the same effect (a ticket's first reply: its first response and its
        first turn's response) -- 12 bytes less."""
        if series2 >= 0 and series < 0:
            raise ValueError("a second series needs a first")
        key = (tuple(slots), series, series2)
        c = self._codes.get(key)
        if c is None:
            c = len(self._code_slots)
            if c >= _MAX_CODES:
                raise ValueError(f"more than {_MAX_CODES} window entry codes")
            self._codes[key] = c
            self._code_slots.append(key[0])
            self._code_series.append(series)
            self._code_series2.append(series2)
            self._total.append(0)
            for w in self._windows:
                w.left.append(0)
        return c

    # -- writes --------------------------------------------------------------------
    def add(self, ts_ms: int, code: int, value: float = 0.0, clock_ms: int = 0) -> bool:
        """Record one entry seen at ``clock_ms``; False when no window can ever see it."""
        series = self._code_series[code]
        if series < 0:
            return self.count(ts_ms, code, clock_ms)
        if ts_ms <= self._floor:
            return False
        key = ts_ms // _CHUNK_MS
        off = ts_ms - key * _CHUNK_MS
        ch = self._chunks.get(key)
        if ch is None:
            ch = self._chunks[key] = _Chunk()
        s_ts = ch.s_ts
        if s_ts is None:
            s_ts = ch.s_ts = array("H")
        i = bisect_right(s_ts, off) if s_ts and s_ts[-1] > off else len(s_ts)
        s_ts.insert(i, off)
        ch.s_codes.insert(i, code)
        ch.s_values.insert(i, value)
        if ts_ms > clock_ms and ts_ms > self._clock:
            self._pending.append((ts_ms, code, value))  # counted when the clock gets there
            return True
        self._total[code] += 1
        series2 = self._code_series2[code]
        if ts_ms > self._inner:  # inside every window: the common case
            milli = round(value * 1000)
            for w in self._windows:
                w.series[series].add(value)
                w.sums[series] += milli
                if series2 >= 0:
                    w.series[series2].add(value)
                    w.sums[series2] += milli
        else:
            self._apply_late(ts_ms, code, series, value, series2)
        return True

    def count(self, ts_ms: int, code: int, clock_ms: int = 0) -> bool:
        """:meth:`add` for a code without a value series (the hot path: most entries)."""
        if ts_ms <= self._floor:
            return False
        key = ts_ms // _CHUNK_MS
        off = ts_ms - key * _CHUNK_MS
        ch = self._chunks.get(key)
        if ch is None:
            ch = self._chunks[key] = _Chunk()
        ts = ch.ts
        if ts and ts[-1] > off:  # behind the chunk's newest: sorted when needed
            ch.unsorted = True
        ts.append(off)
        ch.codes.append(code)
        if ts_ms > clock_ms and ts_ms > self._clock:
            self._pending.append((ts_ms, code, 0.0))  # counted when the clock gets there
            return True
        self._total[code] += 1
        if ts_ms <= self._inner:  # some window has already passed it: it left at once
            for w in self._windows:
                if ts_ms <= w.lo:
                    w.left[code] += 1
        return True

    def _apply_late(self, ts_ms: int, code: int, series: int, value: float,
                    series2: int = -1) -> None:
        """An entry some windows have already passed: it has left those at once."""
        for w in self._windows:
            if ts_ms <= w.lo:
                w.left[code] += 1
            elif series >= 0:
                w.series[series].add(value)
                w.sums[series] += round(value * 1000)
                if series2 >= 0:
                    w.series[series2].add(value)
                    w.sums[series2] += round(value * 1000)

    def advance(self, clock_ms: int) -> None:
        """Slide every window so that it ends at ``clock_ms`` (never backwards)."""
        if clock_ms < self._clock:
            return
        self._clock = clock_ms
        if self._pending:
            due = [p for p in self._pending if p[0] <= clock_ms]
            if due:
                self._pending = [p for p in self._pending if p[0] > clock_ms]
                total, code_series = self._total, self._code_series
                code_series2 = self._code_series2
                for ts, code, value in due:
                    total[code] += 1
                    self._apply_late(ts, code, code_series[code], value, code_series2[code])
        for w in self._windows:
            new_lo = w.edge(clock_ms)
            if new_lo > w.lo:
                self._leave(w, w.lo, new_lo)
                w.lo = new_lo
        self._edges()
        self._evict()

    def _edges(self) -> None:
        los = [w.lo for w in self._windows]
        self._floor, self._inner = min(los), max(los)

    def _leave(self, w: _Window, lo: int, new_lo: int) -> None:
        """Subtract every counted entry with ``lo < ts <= new_lo``."""
        first, last = (lo + 1) // _CHUNK_MS, new_lo // _CHUNK_MS
        chunks = self._chunks
        if last - first + 1 <= len(chunks):
            keys: Iterable[int] = range(first, last + 1)
        else:
            keys = sorted(k for k in chunks if first <= k <= last)
        left, series, code_series = w.left, w.series, self._code_series
        code_series2 = self._code_series2
        for key in keys:
            ch = chunks.get(key)
            if ch is None:
                continue
            start, end = key * _CHUNK_MS, key * _CHUNK_MS + _CHUNK_MS - 1
            whole = lo < start and end <= new_lo
            if ch.unsorted and not whole:
                _sort(ch)
            ts, codes = ch.ts, ch.codes  # offsets from start
            i = 0 if lo < start else bisect_right(ts, lo - start)
            j = len(ts) if end <= new_lo else bisect_right(ts, new_lo - start)
            if j - i >= _SMALL:
                for c, n in Counter(codes if i == 0 and j == len(ts) else codes[i:j]).items():
                    left[c] += n
            else:
                for k in range(i, j):
                    left[codes[k]] += 1
            s_ts = ch.s_ts
            if s_ts is None:
                continue
            i = 0 if lo < start else bisect_right(s_ts, lo - start)
            j = len(s_ts) if end <= new_lo else bisect_right(s_ts, new_lo - start)
            s_codes, s_values = ch.s_codes, ch.s_values
            sums = w.sums
            for k in range(i, j):
                c = s_codes[k]
                left[c] += 1
                v = s_values[k]
                series[code_series[c]].remove(v)
                sums[code_series[c]] -= round(v * 1000)
                s2 = code_series2[c]
                if s2 >= 0:
                    series[s2].remove(v)
                    sums[s2] -= round(v * 1000)

    def _evict(self) -> None:
        # A chunk goes once every entry it can hold is at or below the largest window's
        # edge. New entries always land above that edge, so everything below the previous
        # eviction point is already gone: only the keys in between need a look.
        below = (self._floor + 1) // _CHUNK_MS  # chunks wholly at or below the lowest edge
        start, chunks = self._evicted_below, self._chunks
        if below <= start:
            return
        if below - start <= len(chunks):
            for k in range(start, below):
                chunks.pop(k, None)
        else:
            for k in [k for k in chunks if k < below]:
                del chunks[k]
        self._evicted_below = below

    # -- reads ---------------------------------------------------------------------
    def names(self) -> list[str]:
        return [w.name for w in self._windows]

    def seconds(self, name: str) -> int:
        """The window's length; for ``today`` the whole seconds since local midnight."""
        w = self._by_name[name]
        if isinstance(w, _Today):
            return max(0, (self._clock - w.lo - 1) // 1000)
        return w.ms // 1000

    def counts(self, name: str) -> list[int]:
        """Per slot: the entries inside the window."""
        out = [0] * self.n_slots
        left = self._by_name[name].left
        for slots, t, n in zip(self._code_slots, self._total, left, strict=True):
            if t != n:
                for s in slots:
                    out[s] += t - n
        return out

    def inside(self, name: str) -> list[int]:
        """Per code: the entries inside the window (:func:`merged_counts` adds them)."""
        return list(map(sub, self._total, self._by_name[name].left))

    def values(self, name: str, series: int) -> SortedArray:
        return self._by_name[name].series[series]

    def value_sum(self, name: str, series: int) -> float:
        """The sum of the series' values inside the window (exact: kept in thousandths)."""
        return self._by_name[name].sums[series] / 1000

    def quantiles(self, name: str, series: int, qs: Sequence[float]) -> dict[float, float]:
        vals = self._by_name[name].series[series]
        if not vals:
            return {}
        return {q: quantile(vals, q) for q in qs}

    def window_values(self) -> dict[str, list[list[float]]]:
        """Per window, per value series: the values inside it, read from the entries (what
        its series hold: every counted value entry above the window's edge). The shards of
        one process share their series (metrics/shards.py): this is one shard's part, for
        its checkpoint and for taking it out when its partition is dropped."""
        code_series, code_series2 = self._code_series, self._code_series2
        pending: Counter[tuple[int, float]] = Counter()
        for _ts, c, v in self._pending:
            for series in (code_series[c], code_series2[c]):
                if series >= 0:
                    pending[(series, v)] += 1
        out = {}
        for w in self._windows:
            vals: list[list[float]] = [[] for _ in w.series]
            for key, ch in self._chunks.items():
                s_ts = ch.s_ts
                start = key * _CHUNK_MS  # s_ts holds offsets from it
                if not s_ts or start + s_ts[-1] <= w.lo:
                    continue
                s_codes, s_values = ch.s_codes, ch.s_values
                first = 0 if w.lo < start else bisect_right(s_ts, w.lo - start)
                for k in range(first, len(s_ts)):
                    c = s_codes[k]
                    vals[code_series[c]].append(s_values[k])
                    if code_series2[c] >= 0:
                        vals[code_series2[c]].append(s_values[k])
            # entries ahead of the clock are in the chunks (above every edge), not counted
            for (series, v), n in pending.items():
                for _ in range(n):
                    vals[series].remove(v)
            out[w.name] = vals
        return out

    def entry_count(self) -> int:
        return sum(len(c.ts) + len(c.s_ts or ()) for c in self._chunks.values())


def merged_counts(parts: Sequence[SlidingWindows], name: str) -> list[int]:
    """Per slot: the entries inside window ``name`` of several windows of the same layout
    (the shards of one process: their codes are interned alike, in the same order), added
    per code at C speed and expanded into slots once."""
    if len(parts) == 1:
        return parts[0].counts(name)
    first = parts[0]
    n = len(first._total)
    if any(len(p._total) != n for p in parts):
        raise ValueError("windows of another layout cannot be merged")
    total = map(sum, zip(*(p._total for p in parts), strict=True))
    left = map(sum, zip(*(p._by_name[name].left for p in parts), strict=True))
    out = [0] * first.n_slots
    for slots, k in zip(first._code_slots, map(sub, total, left), strict=True):
        if k:
            for s in slots:
                out[s] += k
    return out
