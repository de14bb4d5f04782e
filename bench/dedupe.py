"""7. Remembered ids: bytes per id and time per event of the duplicate filter.

A week of a large platform is ~6.2 M accepted events (``bench.rebuild``'s 7-day set), so
the duplicate filter of SPEC §1 ("seen within the state horizon") holds ~6.2 M ids. One
subprocess per structure (clean RSS) feeds it N ids of the simulator's shape
(``101-0000839-867255``), accepted 7 days / N apart over 7 days of event time (``ts`` up
to a minute behind the clock), calling ``expire`` every 10 k ids as the engine's
snapshots do; RSS growth (after ``gc.collect()``) divided by the ids it then holds, and
tracemalloc's count of the Python allocations still live, per held id.

* ``horizon`` — ``metrics.dedupe.SeenIds`` (recent dicts + sealed runs of 64-bit hashes),
  the engine's structure since issue 14;
* ``24h dict`` — the structure before it (one dict ``event_id -> clock``, rebuilt every
  quarter window), as the engine used it: ids of the largest window (24 h) only;
* ``7d dict`` — the same dict asked to remember the whole horizon: what the rule would
  cost without a compact form.

Then, on the ``horizon`` structure: the time per lookup of a copy of a sealed id (a
backfill re-run), of a copy of a recent id, and of a never-seen id with a week-old
``ts`` (a first backfill: every sealed run ending after its ts is searched).

Target: ≤ 24 B per remembered id at 6.2 M ids.

    python -m bench.dedupe --child horizon 6200000     # one measurement, JSON on stdout
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Protocol

from bench.common import Bench, Result, log, run_child, settled_rss, verdict
from metrics.dedupe import SeenIds

TARGET_BYTES = 24
WEEK_MS = 7 * 86_400_000
DAY_MS = 86_400_000
T0 = 1_795_000_000_000
TICK = 10_000


class _Filter(Protocol):
    def add(self, event_id: str, clock_ms: int, ts_ms: int) -> bool: ...
    def expire(self, clock_ms: int) -> None: ...
    def __len__(self) -> int: ...


class LegacySeenIds:
    """The structure before issue 14 (metrics/dedupe.py at 74f1b27), with the engine's
    inlined lookup folded into ``add``: one dict ``event_id -> acceptance clock``,
    rebuilt without the ids that left at most once every quarter window."""

    def __init__(self, window_ms: int) -> None:
        self._window_ms = window_ms
        self._gen_ms = max(1, window_ms // 4)
        self._accepted: dict[str, int] = {}
        self._next_expiry: int | None = None
        self._oldest: float = -math.inf

    def add(self, event_id: str, clock_ms: int, ts_ms: int) -> bool:
        accepted = self._accepted.get(event_id)
        if accepted is not None and accepted > clock_ms - self._window_ms:
            return True
        self._accepted[event_id] = clock_ms if clock_ms > ts_ms else ts_ms
        return False

    def expire(self, clock_ms: int) -> None:
        nxt = self._next_expiry
        if nxt is not None and clock_ms < nxt:
            return
        floor = clock_ms - self._window_ms
        if self._oldest <= floor and self._accepted:
            kept = self._accepted = {k: v for k, v in self._accepted.items() if v > floor}
            self._oldest = min(kept.values()) if kept else clock_ms
        self._next_expiry = clock_ms + self._gen_ms

    def __len__(self) -> int:
        return len(self._accepted)


def make(kind: str) -> _Filter:
    if kind == "horizon":
        return SeenIds(WEEK_MS)
    if kind == "24h dict":
        return LegacySeenIds(DAY_MS)
    if kind == "7d dict":
        return LegacySeenIds(WEEK_MS)
    raise ValueError(kind)


def event_id(i: int) -> str:
    """The simulator's shape of id: ``<seed>-<7-digit counter>-<6 hex digits>``."""
    return f"101-{i:07d}-{(i * 2654435761) & 0xFFFFFF:06x}"


def fill(f: _Filter, n: int) -> tuple[float, int]:
    """N ids accepted over 7 days; returns (seconds, final clock)."""
    step = WEEK_MS / n
    add, expire = f.add, f.expire
    clock = T0
    t0 = time.process_time()
    for i in range(n):
        clock = T0 + int(i * step)
        add(event_id(i), clock, clock - (i * 7919) % 60_000)
        if i % TICK == 0:
            expire(clock)
    expire(clock)
    return time.process_time() - t0, clock


def lookups(s: SeenIds, n: int, clock: int) -> dict[str, float]:
    """ns per ``add`` of copies (sealed, recent) and of never-seen week-old ids."""
    step = WEEK_MS / n
    out = {}
    m = 200_000
    cases = {
        # ids accepted between 1 and 6 days before the clock: sealed runs
        "resend_sealed_ns": [(event_id(i), T0 + int(i * step) - (i * 7919) % 60_000)
                             for i in range(n // 7, 6 * n // 7, max(1, 5 * n // 7 // m))],
        # the last hour's ids: the dicts
        "resend_recent_ns": [(event_id(i), T0 + int(i * step) - (i * 7919) % 60_000)
                             for i in range(n - n // 168, n)],
        # never seen, ts 6 days old: every run ending after it is searched
        "new_week_old_ns": [(f"new-{i}", clock - 6 * DAY_MS + i)
                            for i in range(min(m, 50_000))],
    }
    for name, items in cases.items():
        add = s.add
        t0 = time.process_time()
        dups = sum(add(eid, clock, ts) for eid, ts in items)
        out[name] = (time.process_time() - t0) / len(items) * 1e9
        want = len(items) if name.startswith("resend") else 0
        assert dups == want, (name, dups, want)
    return out


def measure(kind: str, n: int, trace: bool) -> dict[str, object]:
    f = make(kind)
    gc.collect()
    if trace:
        tracemalloc.start(1)
        base = tracemalloc.get_traced_memory()[0]
    rss0 = settled_rss()
    seconds, clock = fill(f, n)
    rss1 = settled_rss()
    held = len(f)
    out: dict[str, object] = {
        "kind": kind, "n": n, "held": held, "rss_before": rss0, "rss_after": rss1,
        "bytes_per_held": (rss1 - rss0) / held, "ns_per_add": seconds / n * 1e9,
    }
    if trace:
        out["traced_bytes_per_held"] = (tracemalloc.get_traced_memory()[0] - base) / held
        tracemalloc.stop()
    if isinstance(f, SeenIds):
        out["sealed_ids"] = f.sealed_ids
        out["sealed_bytes_per_id"] = f.sealed_bytes / max(1, f.sealed_ids)
        if not trace:
            out.update(lookups(f, n, clock))
    return out


def child(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["horizon", "24h dict", "7d dict"])
    p.add_argument("n", type=int)
    p.add_argument("--trace", action="store_true")
    a = p.parse_args(argv)
    print(json.dumps(measure(a.kind, a.n, a.trace)))
    return 0


def run(bench: Bench) -> Result:
    res = Result()
    n = 620_000 if bench.quick else 6_200_000
    out = {}
    for kind in ("horizon", "24h dict", "7d dict"):
        log(f"dedupe: {n:,} ids over 7 days into the {kind}")
        out[kind] = run_child("bench.dedupe", ["--child", kind, str(n)])
        log(f"dedupe: the same under tracemalloc ({kind})")
        out[kind + " traced"] = run_child("bench.dedupe", ["--child", kind, str(n), "--trace"])
    res.details.update(out)
    h = out["horizon"]
    bh = float(h["bytes_per_held"])
    res.add("7 dedupe", f"horizon (SeenIds): RSS growth per remembered id ({int(h['held']):,} "
            f"held of {n:,}, 7 days)", f"{bh:,.1f} B", f"≤ {TARGET_BYTES} B",
            verdict(bh <= TARGET_BYTES, f"{bh / TARGET_BYTES:.2f}× target"))
    res.add("7 dedupe", "  tracemalloc per remembered id (Python allocations live)",
            f"{float(out['horizon traced']['traced_bytes_per_held']):,.1f} B", "",
            f"sealed runs: {float(h['sealed_bytes_per_id']):.0f} B/id, "
            f"{int(h['sealed_ids']):,} ids")
    for kind in ("24h dict", "7d dict"):
        d = out[kind]
        res.add("7 dedupe", f"{kind} (before): RSS growth per remembered id "
                f"({int(d['held']):,} held)", f"{float(d['bytes_per_held']):,.1f} B", "",
                f"total {(int(d['rss_after']) - int(d['rss_before'])) / 2**20:,.0f} MiB")
        res.add("7 dedupe", "  tracemalloc per remembered id",
                f"{float(out[kind + ' traced']['traced_bytes_per_held']):,.1f} B", "", "")
    res.add("7 dedupe", "horizon: total for the week",
            f"{(int(h['rss_after']) - int(h['rss_before'])) / 2**20:,.0f} MiB", "", "")
    for kind in ("horizon", "24h dict", "7d dict"):
        res.add("7 dedupe", f"{kind}: time per add while filling (incl. expire)",
                f"{float(out[kind]['ns_per_add']):,.0f} ns", "", "")
    res.add("7 dedupe", "horizon: copy of a sealed id (a backfill re-run)",
            f"{float(h['resend_sealed_ns']):,.0f} ns", "", "per lookup")
    res.add("7 dedupe", "horizon: copy of a recent id", f"{float(h['resend_recent_ns']):,.0f} ns",
            "", "per lookup")
    res.add("7 dedupe", "horizon: never-seen id with a 6-day-old ts (a first backfill)",
            f"{float(h['new_week_old_ns']):,.0f} ns", "", "per lookup")
    return res


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    from bench.run import main

    sys.exit(main(["--only", "dedupe", *sys.argv[1:]]))
