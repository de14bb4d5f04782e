"""A rebalance that gives a member back every partition it had: ``pulse run``'s fetch child
is killed (SIGKILL) while a backlog is written, so the member leaves the group and joins
again with the same partitions and positions.

For each source tree (``--code LABEL=DIR``, repeatable; side by side on one broker, each
on a topic pair of its own filled with the same events): the topics hold ``--events`` of
7 days of history; once ``pulse run`` is ready its fetch child is killed and the last
``--backlog`` events of the set are written. ``/metrics`` is read every 0.1 s. Reported:
kill → ``aftersales_ready`` 1 again, how far through the backlog the watermark was then
(0 %: ready at its start, so the backlog is judged on the way; 100 %: only at its end),
kill → caught up, and the rebuilds pulse logged after the kill.

Run: ``python -m bench.rebalance [--events 1200000] [--backlog 200000] [--code before=DIR
--code after=.] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Bench, PulseRun, fill, log, sim_records
from bench.restart import _code


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _fetch_child(run: PulseRun) -> int:
    import psutil

    assert run.proc is not None
    for child in psutil.Process(run.proc.pid).children():
        if "child_main" in " ".join(child.cmdline()):
            return int(child.pid)
    raise RuntimeError("pulse run has no fetch child")


def one_code(bench: Bench, label: str, root: Path, history: list[Any], backlog: list[Any],
             timeout_s: float, i: int) -> dict[str, Any]:
    cfg = bench.config(f"rebalance-{label}-{i}")
    fill(bench, cfg, history, processes=2)
    run = PulseRun(bench, cfg, f"rebalance-{label}-{i}", root=root).start()
    out: dict[str, Any] = {"code": label, "history": len(history), "backlog": len(backlog)}
    try:
        run.wait_ready(timeout_s, poll_s=0.1)
        base = _gauge(run.scrape(), "aftersales_watermark_timestamp_seconds") or 0.0
        samples: list[tuple[float, float, float]] = []  # (t, ready, watermark)
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    text = run.scrape()
                except OSError:
                    text = ""
                ready = _gauge(text, "aftersales_ready")
                wm = _gauge(text, "aftersales_watermark_timestamp_seconds")
                if ready is not None and wm is not None:
                    samples.append((time.monotonic(), ready, wm))
                stop.wait(0.1)

        lines_before = len(run.log_path.read_text(errors="replace").splitlines())
        t_kill = time.monotonic()
        os.kill(_fetch_child(run), signal.SIGKILL)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        fill(bench, cfg, backlog, processes=1)
        t_written = time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # caught up: ready, the watermark still
            if (len(samples) > 20 and all(s[1] == 1 for s in samples[-20:])
                    and samples[-1][2] == samples[-20][2] and samples[-1][2] > base
                    and samples[-1][0] > t_written + 2):
                break
            time.sleep(0.2)
        stop.set()
        watcher.join()
        top = samples[-1][2]  # the backlog's last event time
        down = next((k for k, s in enumerate(samples) if s[1] == 0), None)
        back = next((s for s in samples[(down or 0):] if s[1] == 1), None) if down is not None \
            else None
        caught = next(s for s in samples if s[1] == 1 and s[2] >= samples[-1][2])
        out["not_ready_seen"] = down is not None
        out["kill_to_ready_s"] = (back[0] - t_kill) if back else 0.0
        out["backlog_read_at_ready"] = ((back[2] - base) / (top - base)
                                        if back and top > base else 0.0)
        out["kill_to_caught_up_s"] = caught[0] - t_kill
        out["write_s"] = t_written - t_kill
        after = run.log_path.read_text(errors="replace").splitlines()[lines_before:]
        out["rebuilds_logged"] = sum("rebuilding state from the log for" in x for x in after)
        out["resumes_logged"] = sum("partitions kept as they were; reading on" in x
                                    for x in after)
        out["load_average"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    finally:
        run.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_200_000, help="history + backlog")
    p.add_argument("--backlog", type=int, default=200_000,
                   help="the last events of the set, written after the kill")
    p.add_argument("--code", type=_code, action="append", metavar="LABEL=DIR",
                   help="a source tree to run (repeatable; default: this one)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args(argv)
    records = sim_records(args.events)
    history, backlog = records[: -args.backlog], records[-args.backlog:]
    codes = args.code or [("this", ROOT)]
    bench = Bench(quick=True, events=0, rebuild_events=0)
    rows = []
    try:
        for i in range(args.repeat):
            for label, root in (codes if i % 2 == 0 else codes[::-1]):
                row = one_code(bench, label, root, history, backlog, args.timeout, i)
                log(json.dumps(row))
                rows.append(row)
    finally:
        bench.cleanup()
    print("| code | history / backlog | kill → ready | backlog read when ready again "
          "| kill → caught up | backlog written in | rebuilds / resumes logged | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['code']} | {r['history']:,} / {r['backlog']:,} "
              f"| {r['kill_to_ready_s']:.1f} s | {r['backlog_read_at_ready']:.0%} "
              f"| {r['kill_to_caught_up_s']:.1f} s | {r['write_s']:.1f} s "
              f"| {r['rebuilds_logged']} / {r['resumes_logged']} | {r['load_average']} |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
