"""3. Memory: RSS growth per open ticket and per open return.

One subprocess per measurement (clean RSS): the default-config ``Engine`` (no Kafka) is
warmed up, then fed N ``ticket.created`` (or ``return.requested``) JSON messages through
the real ``Decoder`` — unique ids of the simulator's shape, event times spread over the
last 20 hours (so every id is also held by the duplicate filter and every event by the
24 h window: the full per-event cost), no resolves. RSS (``/proc/self/statm``, after
``gc.collect()`` and a snapshot) before and after, divided by N. A tracemalloc run of
100 k tickets attributes the Python allocations to source lines (top 10).

Target: ≤ 400 B per open ticket.

    python -m bench.memory --child tickets 1000000     # one measurement, JSON on stdout
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    ROOT,
    Bench,
    Result,
    build_open,
    created_json,
    log,
    new_engine,
    return_json,
    run_child,
    settled_rss,
    verdict,
)

TARGET_BYTES = 400
HOUR_MS = 3_600_000


def measure(kind: str, n: int, trace: bool) -> dict[str, object]:
    cfg, engine, pipeline = new_engine()
    topic = cfg.kafka.tickets_topic if kind == "tickets" else cfg.kafka.logistics_topic
    make = created_json if kind == "tickets" else return_json
    now = int(time.time() * 1000)
    start, end = now - 20 * HOUR_MS, now - HOUR_MS
    # warm-up: interned codes, window buckets, first snapshot, lazily built structures
    warm = 1000
    build_open(pipeline, topic, warm, make, start_ms=start - 60_000, end_ms=start - 1,
               first=10**9)
    pipeline.snapshot()
    rss0 = settled_rss()
    if trace:
        tracemalloc.start(1)
    t = build_open(pipeline, topic, n, make, start_ms=start, end_ms=end)
    pipeline.snapshot()
    rss1 = settled_rss()
    out: dict[str, object] = {
        "kind": kind, "n": n, "rss_before": rss0, "rss_after": rss1,
        "bytes_per": (rss1 - rss0) / n, "fold_events_per_s": n / t,
        "open_tickets": sum(engine.tickets.backlog.values()),
        "open_returns": sum(engine.returns.open_by_region.values()),
        "dedupe_ids": len(engine.seen), "window_entries": engine.windows.entry_count(),
    }
    if trace:
        snap = tracemalloc.take_snapshot()
        traced = sum(s.size for s in snap.statistics("filename"))
        top = []
        for stat in snap.statistics("lineno")[:10]:
            frame = stat.traceback[0]
            fname = frame.filename
            try:
                fname = str(Path(fname).resolve().relative_to(ROOT))
            except ValueError:
                fname = "/".join(Path(fname).parts[-2:])
            line = ""
            with contextlib.suppress(OSError, IndexError):
                line = Path(frame.filename).read_text().splitlines()[frame.lineno - 1].strip()
            top.append({"where": f"{fname}:{frame.lineno}", "bytes_per": stat.size / n,
                        "blocks_per": stat.count / n, "code": line[:70]})
        out["traced_bytes_per"] = traced / n
        out["top"] = top
        tracemalloc.stop()
    return out


def child(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["tickets", "returns"])
    p.add_argument("n", type=int)
    p.add_argument("--trace", action="store_true")
    a = p.parse_args(argv)
    gc.collect()
    print(json.dumps(measure(a.kind, a.n, a.trace)))
    return 0


def run(bench: Bench) -> Result:
    res = Result()
    n: int = bench.args.memory_size  # type: ignore[attr-defined]
    n_trace = 20_000 if bench.quick else 100_000
    out = {}
    for kind in ("tickets", "returns"):
        log(f"memory: {n:,} open {kind}")
        out[kind] = run_child("bench.memory", ["--child", kind, str(n)])
    log(f"memory: tracemalloc breakdown of {n_trace:,} tickets")
    traced = run_child("bench.memory", ["--child", "tickets", str(n_trace), "--trace"])
    res.details.update({"tickets": out["tickets"], "returns": out["returns"], "trace": traced})
    t = out["tickets"]
    r = out["returns"]
    bt = float(t["bytes_per"])
    res.add("3 memory", f"RSS growth per open ticket ({n:,} open, via Decoder + Engine)",
            f"{bt:,.0f} B", f"≤ {TARGET_BYTES} B",
            verdict(bt <= TARGET_BYTES, f"{bt / TARGET_BYTES:.2f}× target"))
    res.add("3 memory", f"RSS growth per open return ({n:,} open)",
            f"{float(r['bytes_per']):,.0f} B", "", "")
    res.add("3 memory", f"tracemalloc per ticket ({n_trace:,}; Python objects only)",
            f"{float(traced['traced_bytes_per']):,.0f} B", "", "top lines below")
    for item in traced["top"][:10]:  # type: ignore[index]
        res.add("3 memory", f"  {item['where']}  {item['code']}", f"{item['bytes_per']:,.0f} B",
                "", f"{item['blocks_per']:.1f} blocks/ticket")
    res.add("3 memory", "fold rate while building (ticket.created)",
            f"{float(t['fold_events_per_s']):,.0f} ev/s", "", "decode + engine.process")
    return res


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    from bench.run import main

    sys.exit(main(["--only", "memory", *sys.argv[1:]]))
