"""Restart: ``pulse run`` start → ready on 7 days of history, with and without checkpoints.

For each history size, side by side in one run: the topic pair is filled with 7 days of
simulator events; a ``pulse run`` on a fresh group rebuilds from the log (no checkpoint:
``missing``), writes its checkpoints once ready and is stopped (SIGTERM); the same group
is started again and loads them (``loaded``). Reported: start → ``/readyz`` 200 of both,
start → the assignment and the assignment → ready (from pulse's log), the checkpoint size
and write time, the time to read them back.

``--code LABEL=DIR`` (repeatable) runs the same pair with the source tree in DIR (another
checkout, e.g. main's code beside a branch) on the same topics, one after the other,
each on a group of its own; ``--repeat N`` does it N times, the order reversed each time.
Run: ``python -m bench.restart [--sizes 300000,1200000] [--code before=/path --code
after=.]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Bench,
    PulseRun,
    created_json,
    fill,
    fill_stream,
    log,
    metric_sum,
    sim_records,
)

_WRITTEN = re.compile(r"checkpoints of (\d+) partitions written \((\d+) bytes\) in ([\d.]+) s")
_READ = re.compile(r"checkpoints of (\d+) partitions read in ([\d.]+) s \((\d+) loaded\)")


def _wait_log(run: PulseRun, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        m = pattern.search(run.log_path.read_text(errors="replace"))
        if m:
            return m
        time.sleep(0.2)
    raise TimeoutError(f"{pattern.pattern!r} not logged within {timeout_s} s")


def _loop_stall(run: PulseRun, cfg: Any, timeout_s: float) -> tuple[float, int, int]:
    """The longest time ``aftersales_records_read_total`` stood still on /metrics (scraped
    every 0.1 s) from ready until the first checkpoint round was written, while a live
    ticket is produced every 0.1 s: a reader loop that waits stops the count. With it,
    sampled at each scrape: the checkpoint writer's peak unique memory (what the forked
    round costs) and ``pulse run``'s resident memory at that moment."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=0)
    deadline = time.time() + timeout_s
    last: float | None = None
    since, worst, i = time.monotonic(), 0.0, 0
    writer_peak, rss_then = 0, 0
    try:
        while time.time() < deadline:
            i += 1
            producer.send(cfg.kafka.tickets_topic, key=b"stall-%d" % i,
                          value=created_json(2_000_000_000 + i, int(time.time() * 1000)))
            producer.flush()
            read: float | None
            try:
                read = metric_sum(run.scrape(), "aftersales_records_read_total")
            except OSError:
                read = last
            now = time.monotonic()
            if read != last:
                last, since = read, now
            worst = max(worst, now - since)
            writer, rss = run.fork_memory()
            if writer > writer_peak:
                writer_peak, rss_then = writer, rss
            if _WRITTEN.search(run.log_path.read_text(errors="replace")):
                return worst, writer_peak, rss_then
            time.sleep(0.1)
    finally:
        producer.close()
    return worst, writer_peak, rss_then


def one_code(bench: Bench, cfg: Any, label: str, root: Path, timeout_s: float
             ) -> dict[str, Any]:
    """The rebuild, then the restart from its checkpoints, of one source tree."""
    cfg = bench.fresh_group(cfg)
    out: dict[str, Any] = {"code": label}
    # 1. no checkpoint yet: the full rebuild, then the checkpoints are written
    first = PulseRun(bench, cfg, f"restart-rebuild-{label}", root=root).start()
    try:
        out["without_ready_s"] = first.wait_ready(timeout_s, poll_s=0.1)
        out["without_rebuild_s"] = first.log_phases().get("rebuild_s", float("nan"))
        out["loop_stall_s"], out["writer_peak"], out["rss_at_writer_peak"] = _loop_stall(
            first, cfg, timeout_s)
        m = _wait_log(first, _WRITTEN, timeout_s)
        out["checkpoint_bytes"] = int(m.group(2))
        out["checkpoint_write_s"] = float(m.group(3))
        out["folded"] = metric_sum(first.scrape(), "aftersales_events_total")
    finally:
        first.stop()
    # 2. the same group again: every partition from its checkpoint
    second = PulseRun(bench, cfg, f"restart-checkpoint-{label}", root=root).start()
    try:
        out["with_ready_s"] = second.wait_ready(timeout_s, poll_s=0.1)
        phases = second.log_phases()
        out["with_rebuild_s"] = phases.get("rebuild_s", float("nan"))
        out["with_start_to_assignment_s"] = phases.get("start_to_join_s", float("nan"))
        m = _wait_log(second, _READ, 30)
        out["checkpoint_read_s"] = float(m.group(2))
        out["loaded"] = int(m.group(3))
        text = second.scrape()
        out["folded_after"] = metric_sum(text, "aftersales_events_total")
        out["rss"] = second.rss()
    finally:
        second.stop()
    out["load_average"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return out


def one_size(bench: Bench, n_min: int, timeout_s: float,
             codes: list[tuple[str, Path]] | None = None, repeat: int = 1,
             fill_processes: int = 2, stream: bool = False) -> list[dict[str, Any]]:
    cfg = bench.config(f"restart{n_min}")
    if stream:
        n = fill_stream(bench, cfg, n_min)
    else:
        records = sim_records(n_min)
        n = len(records)
        fill(bench, cfg, records, processes=fill_processes)
        del records
    codes = codes or [("this", ROOT)]
    rows = []
    for i in range(repeat):
        for label, root in (codes if i % 2 == 0 else codes[::-1]):
            row = {"events": n, **one_code(bench, cfg, label, root, timeout_s)}
            log(json.dumps(row))
            rows.append(row)
    return rows


def _code(text: str) -> tuple[str, Path]:
    label, _, where = text.partition("=")
    root = Path(where or label).resolve()
    if not (root / "pulse" / "cli.py").exists():
        raise argparse.ArgumentTypeError(f"{root} holds no pulse source tree")
    return (label if where else root.name), root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="300000,1200000",
                   help="history sizes in events, comma-separated (7 days each)")
    p.add_argument("--code", type=_code, action="append", metavar="LABEL=DIR",
                   help="a source tree to run (repeatable; default: this one)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each code per size")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--fill-processes", type=int, default=2,
                   help="producer processes (forked: each copies the records' pages as "
                        "it reads them; 1 produces in this process: for 4x the large "
                        "platform, ~7 GiB of records)")
    p.add_argument("--stream", action="store_true",
                   help="write the simulator's events as they are generated, zstd batches "
                        "by librdkafka, none held in memory (bench.common.fill_stream): "
                        "for 10x the large platform")
    args = p.parse_args(argv)
    bench = Bench(quick=True, events=0, rebuild_events=0)
    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            log(f"restart: {size:,} events")
            rows += one_size(bench, size, args.timeout, args.code, args.repeat,
                             args.fill_processes, args.stream)
    finally:
        bench.cleanup()
    print("| events (7 days) | code | start → ready, no checkpoint | start → ready, checkpoints "
          "| start → assignment, checkpoints | assignment → ready (no / with) "
          "| checkpoint size | write | loop stood still | writer's peak unique memory "
          "(pulse run's RSS then) | read back | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['events']:,} | {r['code']} | {r['without_ready_s']:.1f} s "
              f"| {r['with_ready_s']:.1f} s | {r['with_start_to_assignment_s']:.1f} s "
              f"| {r['without_rebuild_s']:.1f} s / {r['with_rebuild_s']:.1f} s "
              f"| {r['checkpoint_bytes'] / 2**20:.1f} MiB | {r['checkpoint_write_s']:.2f} s "
              f"| {r.get('loop_stall_s', float('nan')):.1f} s "
              f"| {r.get('writer_peak', 0) / 2**20:.0f} MiB "
              f"({r.get('rss_at_writer_peak', 0) / 2**20:.0f} MiB) "
              f"| {r['checkpoint_read_s']:.2f} s "
              f"| {r['load_average']} |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
