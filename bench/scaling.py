"""6. Scaling curve: throughput and memory at 1×, 10×, 100×, 1000× a base open-ticket count.

One subprocess per size N (default 10 k, 100 k, 1 M, 10 M open tickets; the largest is
skipped when the previous size's bytes/ticket say it would not fit in the free RAM):

* build: N ``ticket.created`` through ``Decoder`` + ``Engine.process`` (ts over the last
  20 h) — build rate and RSS growth per ticket;
* steady traffic on top of that state: a fixed batch of 100 k mixed events (per 20: 4
  new tickets, 4 first agent replies and 3 resolves of random existing tickets, 1 rating,
  1 transfer, 6 deliveries, 1 return request), decoded beforehand, folded in 5 chunks —
  events/s is the median chunk;
* ``engine.snapshot()`` — median of 5.

Cost must grow linearly or better: per-event time and bytes per ticket should stay flat
(a logarithmic creep is fine) and snapshot time must not grow faster than N.

    python -m bench.scaling --child 1000000 100000
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from typing import Any

from bench.common import (
    Bench,
    Result,
    build_open,
    created_json,
    delivered_json,
    fmt_int,
    log,
    median,
    mem_available,
    new_engine,
    return_json,
    run_child,
    settled_rss,
    ticket_json,
    timed,
)

HOUR_MS = 3_600_000
PATTERN = ("created", "replied", "delivered", "resolved", "created", "delivered", "replied",
           "rated", "delivered", "created", "resolved", "replied", "delivered", "transferred",
           "created", "delivered", "replied", "requested", "resolved", "delivered")


def mixed_batch(cfg: Any, n_open: int, m: int, t0: int) -> list[tuple[str, bytes]]:
    rnd = random.Random(6)
    touched = rnd.sample(range(n_open), min(n_open, m))  # distinct existing tickets
    k = 0
    new = n_open
    out: list[tuple[str, bytes]] = []
    tickets, logistics = cfg.kafka.topics
    for j in range(m):
        kind = PATTERN[j % len(PATTERN)]
        ts = t0 + 5 * j
        if kind == "created":
            out.append((tickets, created_json(new, ts)))
            new += 1
        elif kind == "delivered":
            out.append((logistics, delivered_json(j, ts)))
        elif kind == "requested":
            out.append((logistics, return_json(10**9 + j, ts)))
        else:
            out.append((tickets, ticket_json(kind, j, ts, touched[k % len(touched)])))
            k += 1
    return out


def measure(n: int, m: int) -> dict[str, Any]:
    from consumers.decode import Rejection

    cfg, engine, pipeline = new_engine()
    now = int(time.time() * 1000)
    build_open(pipeline, cfg.kafka.tickets_topic, 1000, created_json,
               start_ms=now - 21 * HOUR_MS, end_ms=now - 20 * HOUR_MS - 1, first=2 * 10**9)
    engine.tick()
    engine.snapshot()
    rss0 = settled_rss()
    build_s = build_open(pipeline, cfg.kafka.tickets_topic, n, created_json,
                         start_ms=now - 20 * HOUR_MS, end_ms=now - HOUR_MS)
    engine.tick()
    engine.snapshot()
    rss1 = settled_rss()

    wall = int(time.time() * 1000)
    batch = []
    for topic, payload in mixed_batch(cfg, n, m, now - HOUR_MS + 1):
        ev = pipeline.decoder.decode(payload, wall)
        if type(ev) is Rejection:
            raise RuntimeError(f"rejected: {ev} {payload!r}")
        batch.append((topic, ev))
    process = engine.process
    rates = []
    step = max(1, m // 5)
    for lo in range(0, m, step):
        part = batch[lo:lo + step]
        t = time.perf_counter()
        for topic, ev in part:
            process(topic, ev, wall)
        rates.append(len(part) / (time.perf_counter() - t))
    snap = timed(engine.snapshot, 6)[1:]
    return {
        "n": n, "build_s": build_s, "build_events_per_s": n / build_s,
        "bytes_per_ticket": (rss1 - rss0) / n, "rss": rss1,
        "mixed_events_per_s": median(rates), "mixed_chunk_rates": rates,
        "snapshot_ms": median(snap) * 1000,
        "open_tickets": sum(engine.tickets.backlog.values()),
        "gc_counts": gc.get_count(),
    }


def run(bench: Bench) -> Result:
    res = Result()
    sizes: list[int] = list(bench.args.scaling_sizes)  # type: ignore[attr-defined]
    m = 20_000 if bench.quick else 100_000
    points: list[dict[str, Any]] = []
    skipped: list[int] = []
    for n in sizes:
        if points:
            need = n * points[-1]["bytes_per_ticket"] * 1.5 + (1 << 30)
            if need > 0.8 * mem_available():
                log(f"scaling: skipping {n:,} (needs ~{need / 2**30:.1f} GiB)")
                skipped.append(n)
                continue
        log(f"scaling: {n:,} open tickets")
        points.append(run_child("bench.scaling", ["--child", str(n), str(m)], timeout=7200))
    res.details.update({"points": points, "skipped": skipped, "batch": m})
    base = points[0] if points else None
    for p in points:
        assert base is not None
        f_n = p["n"] / base["n"]
        f_ev = base["mixed_events_per_s"] / p["mixed_events_per_s"]  # per-event time factor
        f_snap = p["snapshot_ms"] / base["snapshot_ms"]
        f_mem = p["bytes_per_ticket"] / base["bytes_per_ticket"]
        flags = []
        if f_n > 1:
            steps = max(1.0, round(len(str(int(f_n))) - 1))  # number of 10× steps
            if f_ev > 1.5 ** steps:
                flags.append("per-event time grows")
            if f_mem > 1.25:
                flags.append("bytes/ticket grow")
            if f_snap > f_n:
                flags.append("snapshot super-linear")
        verdict = ("linear or better" if not flags else "; ".join(flags)) if f_n > 1 else "base"
        res.add("6 scaling", f"{fmt_int(p['n'])} open tickets ({f_n:g}×): mixed events/s · "
                "snapshot · B/ticket · build ev/s",
                f"{p['mixed_events_per_s']:,.0f} · {p['snapshot_ms']:.1f} ms · "
                f"{p['bytes_per_ticket']:,.0f} B · {p['build_events_per_s']:,.0f}",
                "linear or better",
                f"{verdict} (time/event ×{f_ev:.2f}, snapshot ×{f_snap:.1f}, "
                f"B/ticket ×{f_mem:.2f})")
    for n in skipped:
        res.add("6 scaling", f"{fmt_int(n)} open tickets", "skipped", "",
                "not enough free RAM for a clean measurement")
        res.notes.append(f"scaling: {n:,} open tickets skipped (free RAM)")
    return res


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    from bench.run import main

    sys.exit(main(["--only", "scaling", *sys.argv[1:]]))
