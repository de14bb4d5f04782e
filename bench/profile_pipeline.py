"""Profile the in-process pipeline without Kafka: where does the CPU of one event go?

Messages of the benchmark dataset (the simulator's realistic mix: by default the 5 M
events / 7 days of ``bench.rebuild``, generated and cached on first use) are wrapped in
kafka-python ``ConsumerRecord``s, 3 partitions per topic, and served by
``bench.fake_kafka.FakeConsumer`` to the unchanged ``StreamReader.run`` loop — poll,
rebuild, decode, validate, event-time alignment, dedupe, state, windows, snapshots every
0.5 s, progress, commits — until it reports ready. The first ``--warm`` events build a
steady state (tickets open, replies and resolves flowing) unmeasured; the rest are
measured: once plain (with the time spent in CPython's cyclic GC), once under cProfile,
whose top functions by tottime are printed.

    python -m bench.profile_pipeline [--events 200000] [--warm 800000] [--top 25]
                                     [--dataset 5000000] [--out prof.pstats] [--kafka]

``--kafka`` runs the same against a local Tansu broker filled with those events, with the
real consumer (counting records fetched, seeks, time in ``poll``): the profile then shows
what Kafka and the reader's fetch pattern cost on top.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import sim_records
from bench.fake_kafka import by_partition, folded, run_kafka_reader, run_reader


class GcTimer:
    """Time spent in CPython's cyclic garbage collector (gc.callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.runs = [0, 0, 0]
        self._t = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._t
            self.runs[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


class Marker:
    """Called after every poll: once ``at`` events are folded, starts the clock (and the
    profiler / GC timer) — the events before it only build the state."""

    def __init__(self, at: int, prof: cProfile.Profile | None, gct: GcTimer) -> None:
        self.at = at
        self.prof = prof
        self.gct = gct
        self.t0: float | None = None
        self.n0 = 0

    def __call__(self, reader: Any) -> None:
        if self.t0 is None and (n := folded(reader)) >= self.at:
            self.n0 = n
            self.t0 = time.perf_counter()
            gc.callbacks.append(self.gct)
            if self.prof is not None:
                self.prof.enable()


def measured_run(runner: Callable[[Marker], Any], warm: int,
                 prof: cProfile.Profile | None) -> tuple[float, int, GcTimer, Any]:
    """(seconds, events folded while measured, GC timer, reader)."""
    gct = GcTimer()
    marker = Marker(warm, prof, gct)
    gc.collect()
    try:
        reader = runner(marker)
        t1 = time.perf_counter()
    finally:
        if prof is not None:
            prof.disable()
        if gct in gc.callbacks:
            gc.callbacks.remove(gct)
    assert marker.t0 is not None
    return t1 - marker.t0, folded(reader) - marker.n0, gct, reader


def main(argv: Sequence[str] | None = None) -> int:
    from core.config import load_config

    p = argparse.ArgumentParser(prog="python -m bench.profile_pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative…)")
    p.add_argument("--out", help="also write the raw pstats file here")
    p.add_argument("--warm", type=int, default=800_000,
                   help="events folded before the measured ones (state warm-up)")
    p.add_argument("--dataset", type=int, default=5_000_000,
                   help="the cached benchmark dataset to read (bench.run's --rebuild-events)")
    p.add_argument("--kafka", action="store_true",
                   help="read from a local Tansu broker (filled with the same events) with "
                        "the real kafka-python consumer instead of the in-memory stand-in")
    args = p.parse_args(argv)

    data = sim_records(max(args.dataset, args.warm + args.events))
    records = data[: args.warm + args.events]
    del data
    bench = None
    kstats: dict[str, float] = {}
    if args.kafka:
        from bench.common import Bench, fill

        bench = Bench(quick=False, events=0, rebuild_events=0)
        cfg = bench.config("profile")
        fill(bench, cfg, records, processes=3)

        def runner(marker: Marker) -> Any:
            assert bench is not None
            kstats.clear()
            return run_kafka_reader(bench.fresh_group(cfg), kstats, on_poll=marker)
    else:
        cfg = load_config(dashboard__enabled=False, alerting__enabled=False)

        def runner(marker: Marker) -> Any:
            return run_reader(cfg, by_partition(cfg, records), on_poll=marker)

    try:
        return _profile(args, records, runner, kstats)
    finally:
        if bench is not None:
            bench.cleanup()


def _profile(args: argparse.Namespace, records: Sequence[Any],
             runner: Callable[[Marker], Any], kstats: dict[str, float]) -> int:
    plain, n, gct, reader = measured_run(runner, args.warm, None)
    shards = list(reader.engine.shards.values())  # one engine per source partition
    print(f"state after {len(records):,} events in {len(shards)} shards: "
          f"{sum(len(e.tickets) for e in shards):,} tickets, "
          f"{sum(sum(e.tickets.backlog.values()) for e in shards):,} open")
    del reader
    print(f"measured {n:,} events after the first {len(records) - n:,}, unprofiled: "
          f"{plain:.2f} s = {n / plain:,.0f} ev/s "
          f"({plain / n * 1e6:.1f} µs/event); cyclic GC {gct.total:.2f} s "
          f"({gct.total / plain:.0%}; gen0/1/2 runs {gct.runs})")
    if kstats:
        print(f"kafka: {kstats['records'] / len(records):.2f} records fetched per record in the "
              f"topic, {kstats['seeks']:.0f} seeks rewinding {kstats['rewound']:,.0f} records, "
              f"{kstats['poll_s']:.1f} s in poll() over {kstats['polls']:.0f} polls")

    prof = cProfile.Profile()
    profiled, n_prof, _, _ = measured_run(runner, args.warm, prof)
    profiled *= n / max(1, n_prof)  # same number of events as the plain run
    print(f"profiled: {profiled:.2f} s (profiler overhead {profiled / plain:.1f}×)\n")
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats(args.sort).print_stats(args.top)
    text = buf.getvalue()
    # keep the table, drop pstats' preamble noise
    start = text.find("   ncalls")
    print(text[start:] if start >= 0 else text)
    if args.out:
        stats.dump_stats(args.out)
        print(f"pstats written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
