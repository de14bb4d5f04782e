"""Run the benchmark suite of issue 6 and print one table of absolute numbers and ratios.

    python -m bench.run                  # full size (~15-20 min on 2 cores)
    python -m bench.run --quick          # reduced sizes, < 3 min: a smoke check
    python -m bench.run --only throughput,freshness --events 2000000

Benchmarks (in run order): throughput, freshness, rebuild (these start a local Tansu
broker), memory, scrape, scaling (in-process engine, no Kafka). Progress goes to stderr;
the table and the machine description go to stdout (``--markdown FILE`` writes them as
Markdown too, ``--json FILE`` every detail).
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from bench.common import Bench, Result, Row, log, machine_info, table

ORDER = ("throughput", "freshness", "rebuild", "memory", "scrape", "scaling", "dedupe")
NEEDS_BROKER = {"throughput", "freshness", "rebuild"}


def _sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1
        if part.endswith("k"):
            mult, part = 1000, part[:-1]
        elif part.endswith("m"):
            mult, part = 1_000_000, part[:-1]
        out.append(int(float(part) * mult))
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced sizes (< 3 min)")
    p.add_argument("--only", default="", help=f"comma list of: {', '.join(ORDER)}")
    p.add_argument("--events", type=int, help="throughput topic size (1 M; quick 100 k)")
    p.add_argument("--rebuild-events", type=int, help="rebuild topic size (5 M; quick 300 k)")
    p.add_argument("--freshness-seconds", type=float, help="produce time (30; quick 10)")
    p.add_argument("--freshness-rate", type=float, default=5000.0, help="events/s (5000)")
    p.add_argument("--freshness-prefill", type=int, default=0,
                   help="events of 7-day history read before the live run, so snapshots "
                   "read a large state (0)")
    p.add_argument("--freshness-scrape", default="full,watched",
                   help="freshness runs by what is scraped every 50 ms, comma list of: full "
                        "(every series), watched (name[]: the two series the views read)")
    p.add_argument("--freshness-fixed-tick", action="store_true",
                   help="also run as before issue 17 (a snapshot every 0.5 s, "
                   "fetch_max_wait_ms 500), side by side")
    p.add_argument("--memory-size", type=int, help="open tickets / returns (1 M; quick 100 k)")
    p.add_argument("--scrape-tickets", type=int, help="open tickets behind the scrape "
                   "(1 M; quick 100 k)")
    p.add_argument("--scaling-sizes", type=_sizes,
                   help="open tickets, e.g. 10k,100k,1m,10m (default; quick 10k,100k)")
    p.add_argument("--rebuild-timeout", type=float, default=1800.0,
                   help="give up waiting for the rebuild after this many seconds and report "
                        "the rate so far (1800)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the pulse run configs and logs (printed path)")
    p.add_argument("--markdown", help="also write the table and machine as Markdown here")
    p.add_argument("--json", help="write every detail as JSON here")
    args = p.parse_args(argv)
    q = args.quick
    args.events = args.events or (100_000 if q else 1_000_000)
    args.rebuild_events = args.rebuild_events or (300_000 if q else 5_000_000)
    args.freshness_seconds = args.freshness_seconds or (10.0 if q else 30.0)
    args.memory_size = args.memory_size or (100_000 if q else 1_000_000)
    args.scrape_tickets = args.scrape_tickets or (100_000 if q else 1_000_000)
    args.scaling_sizes = args.scaling_sizes or (
        [10_000, 100_000] if q else [10_000, 100_000, 1_000_000, 10_000_000]
    )
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(ORDER)
    unknown = [s for s in only if s not in ORDER]
    if unknown:
        p.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(ORDER)}")
    args.only = [s for s in ORDER if s in only]
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: broker, pulse run


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    machine = machine_info()
    bench = Bench(quick=args.quick, events=args.events, rebuild_events=args.rebuild_events)
    bench.args = args  # type: ignore[attr-defined]
    rows: list[Row] = []
    details: dict[str, object] = {"args": dict(vars(args))}
    notes: list[str] = []
    failed: list[str] = []
    t_all = time.perf_counter()
    try:
        for name in args.only:
            if name not in NEEDS_BROKER:
                bench.close()  # free the broker's RAM before the in-process benchmarks
            gc.collect()
            log(f"=== {name} ===")
            t0 = time.perf_counter()
            run: Callable[[Bench], Result] = import_module(f"bench.{name}").run
            try:
                res = run(bench)
            except Exception:  # one failing benchmark must not hide the others
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(name, "(failed — see stderr)", "", "", "ERROR"))
                continue
            dt = time.perf_counter() - t0
            rows.extend(res.rows)
            notes.extend(res.notes)
            details[name] = {**res.details, "seconds": round(dt, 1)}
            log(f"{name} done in {dt:.0f} s\n" + table(res.rows))
    finally:
        bench.cleanup(keep=args.keep_logs or bool(failed))
    total = time.perf_counter() - t_all
    rows.sort(key=lambda r: r.bench[:2])  # numbered as in the issue (stable within one)
    machine["load average at end"] = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    mode = "quick" if args.quick else "full"
    header = (f"Aftersales Pulse benchmarks ({mode} mode, {total / 60:.1f} min, "
              f"{time.strftime('%Y-%m-%d %H:%M %Z')})")
    print(header)
    print(table(rows))
    print()
    for k, v in machine.items():
        print(f"{k:>22}: {v}")
    for n in notes:
        print(f"note: {n}")
    if args.markdown:
        md = [f"## {header}", "", table(rows, markdown=True), "", "| machine | |", "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in machine.items()]
        if notes:
            md += ["", *[f"- {n}" for n in notes]]
        Path(args.markdown).write_text("\n".join(md) + "\n")
    if args.json:
        details["machine"] = machine
        Path(args.json).write_text(json.dumps(details, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
