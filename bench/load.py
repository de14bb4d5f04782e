"""Sustained load (issue 7): 10x the double11 surge rate for N minutes; lag and RSS over time.

    python -m bench.load --minutes 10                 # a fresh, empty state fills up
    python -m bench.load --minutes 10 --prefill       # the state is at steady state first

Starts a local Tansu broker, ``pulse simulate`` (double11 at ten times the default rate,
surging throughout) and ``pulse run`` (alerts on, board off). Every ``--sample-s`` it
samples the consumer lag (sum over partitions), the RSS of ``pulse run`` (with any child
processes) and the events handled, and prints a table, the RSS slope over the second half
(least squares, MiB/min) and the lag; the verdict is whether lag and RSS stop growing.

A fresh state only grows during a short run (open tickets, windows and duplicate ids
filling), so it cannot show a plateau. ``--prefill`` first produces a whole state horizon
of history at the same rate, before ``pulse run`` starts: the service rebuilds it, and
during the timed live phase every new entry is matched by an old one evicted. With the
production horizons that is 7 days of history (117 M events at this rate), so
``--prefill`` runs the service on time-compressed horizons (``--compress``, default 144:
the "24h" window is 10 minutes, the state horizon 70 minutes, resolution SLAs ÷ 144) —
the same event rate and the same insert/evict churn per second, over a state that
reaches its steady size within the prefill.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from core.config import Config
from pulse.broker import LocalBroker, free_port

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {"lag": 0.0, "events": 0.0, "ready": 0.0, "open": 0.0,
                             "window": 0.0}
    for line in text.splitlines():
        if line.startswith("aftersales_consumer_lag_messages{"):
            out["lag"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith(("aftersales_events_total{", "aftersales_events_rejected_total{",
                              "aftersales_events_duplicate_total{")):
            out["events"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("aftersales_backlog_tickets{"):
            out["open"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("aftersales_window_tickets_created{") and 'window="24h"' in line:
            out["window"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("aftersales_ready "):
            out["ready"] = float(line.rsplit(" ", 1)[1])
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a fetch child process counts towards the service)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_mib(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * _PAGE / 2**20


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return 60.0 * sxy / sxx if sxx else 0.0


def compressed_config(factor: float) -> dict[str, object]:
    """The default windows, SLAs and state horizon divided by ``factor`` (names kept, so
    the shipped alert rules still load)."""
    d = Config()

    def f(s: int) -> int:
        return max(1, round(s / factor))

    return {
        "windows": {name: f(s) for name, s in d.windows.items()},
        "state_horizon_s": f(d.state_horizon_s),
        "sla": {"first_response_s": {k: f(v) for k, v in d.sla.first_response_s.items()},
                "resolution_s": {k: f(v) for k, v in d.sla.resolution_s.items()},
                "return_processing_s": f(d.sla.return_processing_s)},
    }


def _producer(args: argparse.Namespace) -> int:
    """The traffic: ``prefill_s`` of history at full speed, then live until SIGTERM.

    ``pulse simulate`` with the double11 surge from the first event on; unlike the CLI it
    can turn the time-of-day curve off, so the arrival rate is flat."""
    import threading
    from dataclasses import replace

    from consumers.admin import ensure_topics
    from core.config import load_config
    from pulse.simulate import LiveTraffic
    from pulse.simulation import Simulator

    cfg = load_config(args.config, kafka__bootstrap_servers=args.bootstrap_servers)
    ensure_topics(cfg.kafka)
    traffic = LiveTraffic(cfg, scenario_name="double11", rate=args.rate, seed=1,
                          backfill_s=args.prefill_s, surge_after_s=-args.prefill_s,
                          surge_for_s=args.prefill_s + 30 * 86400)
    if not args.diurnal:
        sim = traffic.sim
        traffic.sim = Simulator(replace(sim.config, diurnal=False), seed=sim.seed,
                                start_ms=traffic.start_ms)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    n = traffic.backfill()
    print(f"backfilled {n} events", flush=True)
    traffic.run(stop)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0, help="timed live phase")
    ap.add_argument("--rate", type=float, default=200.0, help="tickets/min (10x the default 20)")
    ap.add_argument("--prefill", action="store_true",
                    help="produce a state horizon of history first (compressed horizons)")
    ap.add_argument("--compress", type=float, default=144.0,
                    help="with --prefill: divide windows, SLAs and the state horizon by this")
    ap.add_argument("--sample-s", type=float, default=15.0)
    ap.add_argument("--diurnal", action="store_true",
                    help="follow the simulator's time-of-day curve (default: a flat surge rate, "
                         "so that the steady state is steady)")
    ap.add_argument("--producer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap-servers", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--prefill-s", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.producer:
        return _producer(args)
    # SIGTERM unwinds like Ctrl-C, so the broker and both children are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        conf = Path(tmp) / "load.yaml"
        data: dict[str, object] = {"alerting": {"enabled": True},
                                   "kafka": {"bootstrap_servers": broker.bootstrap}}
        prefill_s = 0.0
        if args.prefill:
            compressed = compressed_config(args.compress)
            data.update(compressed)
            horizon = Config().state_horizon_s / args.compress
            prefill_s = horizon * 1.15 + 60  # a horizon and some: the oldest is evicted
        conf.write_text(yaml.safe_dump(data))
        port = free_port()
        bs = broker.bootstrap
        common = [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING"]
        t_start = time.monotonic()
        sim = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--producer", "--bootstrap-servers", bs,
             "--config", str(conf), "--rate", str(args.rate), "--prefill-s", str(prefill_s),
             *(["--diurnal"] if args.diurnal else [])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        run: subprocess.Popen[bytes] | None = None
        rows: list[tuple[float, float, float, float, float, float]] = []
        try:
            assert sim.stdout is not None
            line = sim.stdout.readline()  # "backfilled N events; producing live …"
            backfilled = int(line.split()[1]) if line.startswith("backfilled") else 0
            t_filled = time.monotonic()
            print(f"prefill: {backfilled:,} events ({prefill_s / 60:.0f} min of event time) "
                  f"produced in {t_filled - t_start:.0f} s; config {data}", flush=True)
            run = subprocess.Popen(
                [*common, "run", "--bootstrap-servers", bs, "--config", str(conf),
                 "--metrics-port", str(port), "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 1800
            t_ready: float | None = None
            ready_handled = 0.0
            while True:
                if run.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("pulse run exited or never became ready")
                try:
                    m = _metrics(port)
                except OSError:
                    time.sleep(0.5)
                    continue
                if m["ready"] == 1.0 and t_ready is None:
                    t_ready = time.monotonic()
                    ready_handled = m["events"]
                # caught up: the whole prefill folded in, no lag (ready alone is not enough:
                # it has been seen at 1 with 2 % of the prefill handled)
                if m["ready"] == 1.0 and m["events"] >= backfilled and m["lag"] == 0:
                    break
                time.sleep(0.5)
            t0 = time.monotonic()
            assert t_ready is not None
            print(f"aftersales_ready 1 after {t_ready - t_filled:.0f} s with {ready_handled:,.0f} "
                  f"handled; caught up (prefill handled, lag 0) after {t0 - t_filled:.0f} s; "
                  f"RSS {_rss_mib(run.pid):.1f} MiB; live phase {args.minutes:g} min", flush=True)
            end = t0 + args.minutes * 60
            while time.monotonic() < end:
                time.sleep(min(args.sample_s, max(0.0, end - time.monotonic())))
                if sim.poll() is not None or run.poll() is not None:
                    raise SystemExit("the simulator or pulse run stopped early")
                try:
                    m = _metrics(port)
                except OSError:
                    continue
                row = (time.monotonic() - t0, m["events"], m["lag"], _rss_mib(run.pid),
                       m["open"], m["window"])
                rows.append(row)
                print(f"{row[0]:6.0f} s  handled {row[1]:>11,.0f}  lag {row[2]:>7,.0f}"
                      f"  RSS {row[3]:7.1f} MiB  open tickets {row[4]:>8,.0f}"
                      f"  24h-window tickets {row[5]:>8,.0f}", flush=True)
        finally:
            sim.terminate()
            if run is not None:
                run.terminate()
                run.wait(30)
            sim.wait(30)
    if len(rows) >= 4:
        half = len(rows) // 2
        first, second = rows[:half], rows[half:]
        rate = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])
        rss_slope = _slope([(r[0], r[3]) for r in second])
        lag_slope = _slope([(r[0], r[2]) for r in second])
        print(f"\nevents/s handled: {rate:,.0f}; lag max first half "
              f"{max(r[2] for r in first):,.0f}, second half {max(r[2] for r in second):,.0f} "
              f"(slope {lag_slope:+,.1f}/min); "
              f"RSS {rows[0][3]:.1f} -> {rows[half][3]:.1f} -> {rows[-1][3]:.1f} MiB, "
              f"second-half slope {rss_slope:+.2f} MiB/min "
              f"(min {min(r[3] for r in second):.1f}, max {max(r[3] for r in second):.1f}); "
              f"open tickets second-half slope {_slope([(r[0], r[4]) for r in second]):+,.1f}/min, "
              f"24h-window tickets {_slope([(r[0], r[5]) for r in second]):+,.1f}/min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
