"""Sustained load (issue 7): 10x the double11 surge rate for N minutes; lag and RSS over time.

    python -m bench.load --minutes 10

Starts a local Tansu broker, ``pulse run`` (alerts on, board off) and ``pulse simulate``
with the double11 scenario at ten times the default rate, surging from the start. Every
30 s it samples the consumer lag (sum over partitions), the service's RSS and the events
handled, and prints a table; the verdict is whether lag and RSS stop growing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pulse.broker import LocalBroker, free_port


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {"lag": 0.0, "events": 0.0}
    for line in text.splitlines():
        if line.startswith("aftersales_consumer_lag_messages{"):
            out["lag"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("aftersales_events_total{"):
            out["events"] += float(line.rsplit(" ", 1)[1])
    return out


def _rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=200.0, help="tickets/min (10x the default 20)")
    args = ap.parse_args()
    with LocalBroker() as broker:
        port = free_port()
        bs = broker.bootstrap
        run = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run",
             "--bootstrap-servers", bs, "--metrics-port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sim = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "simulate",
             "--bootstrap-servers", bs, "--create-topics", "--scenario", "double11",
             "--rate", str(args.rate), "--surge-after", "0", "--surge-for", "86400",
             "--duration", str(args.minutes * 60)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = []
        t0 = time.monotonic()
        try:
            while sim.poll() is None:
                time.sleep(30)
                try:
                    m = _metrics(port)
                except OSError:
                    continue
                row = (time.monotonic() - t0, m["events"], m["lag"], _rss_mib(run.pid))
                rows.append(row)
                print(f"{row[0]:6.0f} s  events {row[1]:>10,.0f}  lag {row[2]:>7,.0f}"
                      f"  RSS {row[3]:7.1f} MiB", flush=True)
        finally:
            sim.terminate()
            run.terminate()
            run.wait(30)
    if len(rows) >= 4:
        half = len(rows) // 2
        rate = (rows[-1][1] - rows[0][1]) / (rows[-1][0] - rows[0][0])
        print(f"\nevents/s sustained: {rate:,.0f}; max lag first half "
              f"{max(r[2] for r in rows[:half]):,.0f}, second half "
              f"{max(r[2] for r in rows[half:]):,.0f}; RSS {rows[half][3]:.0f} -> "
              f"{rows[-1][3]:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
