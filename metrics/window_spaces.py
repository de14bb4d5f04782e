"""One :class:`~metrics.windows.SlidingWindows` for the shards of a process, each shard
writing its entries under its own range of entry codes (its *space*).

Why: with windows per shard, every tick slid every shard's windows (a chunk lookup and
bisections per window and shard, and the leaving entries counted in Python, a dozen per
shard and minute), and every shard opened a chunk per minute: at 24 shards the fold ran
at ~0.6x of one engine. Sharing the windows makes a tick one slide whatever the number
of shards, while a shard's state stays its own: its entries carry its codes (the base
layout's codes shifted by the space's base), so its counts are exactly its slice of the
per-code totals, and its entries are found by their code range for its checkpoint and
its drop. A shard's own windows (:func:`extract`) are what a shard with windows of its
own holds at the same clock, so checkpoints do not change.

Counts expand codes to slots (``SlidingWindows.counts``), so a snapshot of the shared
windows adds the shards' counts with no merge; value series and sums are kept once per
window, as one engine keeps them.
"""

from __future__ import annotations

import copy
from array import array
from itertools import compress, repeat
from operator import add

from metrics.sortedarray import SortedArray
from metrics.windows import _MAX_CODES, SlidingWindows, _Chunk

__all__ = ["add_space", "extract", "merge", "remove"]


def add_space(shared: SlidingWindows, n: int) -> int | None:
    """Intern a copy of the base layout's ``n`` codes; their base (None: no room left,
    the codes are 16-bit)."""
    base = len(shared._total)
    if base + n > _MAX_CODES:
        return None
    shared._code_slots += shared._code_slots[:n]
    shared._code_series += shared._code_series[:n]
    shared._code_series2 += shared._code_series2[:n]
    shared._total += [0] * n
    for w in shared._windows:
        w.left += [0] * n
    return base


def _align(a: SlidingWindows, b: SlidingWindows) -> None:
    """Slide the one behind to the other's clock (a slide is path-independent)."""
    if a._clock < b._clock:
        a.advance(b._clock)
    elif b._clock < a._clock:
        b.advance(a._clock)


def merge(shared: SlidingWindows, own: SlidingWindows, base: int) -> None:
    """Take a shard's own windows (base layout, e.g. decoded from a checkpoint) into the
    space at ``base`` (empty), at the later of the two clocks."""
    _align(shared, own)
    n = len(own._total)
    shared._total[base:base + n] = own._total
    for mine, theirs in zip(shared._windows, own._windows, strict=True):
        mine.left[base:base + n] = theirs.left
        for lst, values in zip(mine.series, theirs.series, strict=True):
            lst.update(values)
        mine.sums = list(map(add, mine.sums, theirs.sums))
    shared._pending += [(ts, c + base, v) for ts, c, v in own._pending]
    chunks = shared._chunks
    for key, ch in own._chunks.items():
        dst = chunks.get(key)
        if dst is None:
            dst = chunks[key] = _Chunk()
        if ch.ts:
            if ch.unsorted or (dst.ts and dst.ts[-1] > ch.ts[0]):
                dst.unsorted = True  # sorted when an edge has to cut through it
            dst.ts.extend(ch.ts)
            dst.codes.extend(map(add, ch.codes, repeat(base)))
        if ch.s_ts:
            rows = sorted(zip(ch.s_ts, map(add, ch.s_codes, repeat(base)), ch.s_values,
                              strict=True))
            if dst.s_ts:
                rows = sorted([*zip(dst.s_ts, dst.s_codes, dst.s_values, strict=True), *rows])
            dst.s_ts = array("H", [r[0] for r in rows])
            dst.s_codes = array("H", [r[1] for r in rows])
            dst.s_values = array("d", [r[2] for r in rows])


def extract(shared: SlidingWindows, base: int, n: int) -> SlidingWindows:
    """The windows of the space at ``base`` on their own, in the base layout: what a shard
    with windows of its own would hold at this clock (for its checkpoint and its drop)."""
    out = copy.copy(shared)
    hi = base + n
    out._windows = [copy.copy(w) for w in shared._windows]
    out._by_name = {w.name: w for w in out._windows}
    out._total = shared._total[base:hi]
    out._code_slots = shared._code_slots[:n]
    out._code_series = shared._code_series[:n]
    out._code_series2 = shared._code_series2[:n]
    out._codes = dict(shared._codes)
    out._pending = [(ts, c - base, v) for ts, c, v in shared._pending if base <= c < hi]
    chunks: dict[int, _Chunk] = {}
    for key, ch in shared._chunks.items():
        mine = _Chunk()
        if ch.codes:
            keep = [base <= c < hi for c in ch.codes]
            if any(keep):
                mine.ts = array("H", compress(ch.ts, keep))
                mine.codes = array("H", [c - base for c in compress(ch.codes, keep)])
                mine.unsorted = ch.unsorted
        if ch.s_ts:
            keep = [base <= c < hi for c in ch.s_codes]
            if any(keep):
                mine.s_ts = array("H", compress(ch.s_ts, keep))
                mine.s_codes = array("H", [c - base for c in compress(ch.s_codes, keep)])
                mine.s_values = array("d", compress(ch.s_values, keep))
        if mine.ts or mine.s_ts:
            chunks[key] = mine
    out._chunks = chunks
    values = out.window_values()  # from the entries: its part of the shared series
    for w in out._windows:
        w.left = w.left[base:hi]
        w.series = [SortedArray("d", v) for v in values[w.name]]
        w.sums = [sum(round(v * 1000) for v in vs) for vs in values[w.name]]
    return out


def remove(shared: SlidingWindows, base: int, n: int, own: SlidingWindows) -> None:
    """Take the space at ``base`` out of the shared windows (``own``: its
    :func:`extract`): its entries, counts, values and sums; its codes stay interned."""
    hi = base + n
    shared._total[base:hi] = [0] * n
    for w, mine in zip(shared._windows, own._windows, strict=True):
        w.left[base:hi] = [0] * n
        for lst, values in zip(w.series, mine.series, strict=True):
            for v in values:
                lst.remove(v)
        w.sums = [s - m for s, m in zip(w.sums, mine.sums, strict=True)]
    shared._pending = [p for p in shared._pending if not base <= p[1] < hi]
    for ch in shared._chunks.values():
        if ch.codes:
            keep = [not base <= c < hi for c in ch.codes]
            if not all(keep):
                ch.ts = array("H", compress(ch.ts, keep))
                ch.codes = array("H", compress(ch.codes, keep))
        if ch.s_ts:
            keep = [not base <= c < hi for c in ch.s_codes]
            if not all(keep):
                ch.s_ts = array("H", compress(ch.s_ts, keep))
                ch.s_codes = array("H", compress(ch.s_codes, keep))
                ch.s_values = array("d", compress(ch.s_values, keep))
