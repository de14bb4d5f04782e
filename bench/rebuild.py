"""4. Rebuild: ``pulse run`` starting on 7 days of a large platform's traffic.

The topic pair holds ≥ 5 M simulator events spanning 7 days of event time (the ticket
rate is chosen so that 7 days make the size). ``pulse run`` (subprocess, fresh group,
alerting off) is started and timed by its own log from the first assignment (the rebuild
starts) to "state rebuilt; ready"; from the outside, start → ``/readyz`` 200 is reported
too. Kafka timestamps are the produce time, so every record is folded (none is skipped
by the state-horizon check). Target: ≥ 50 k events/s.
"""

from __future__ import annotations

import os
import time

from bench.common import (
    Bench,
    PulseRun,
    Result,
    dataset_meta,
    fill,
    fmt_rate,
    log,
    metric_sum,
    sim_records,
    verdict,
)

TARGET_RATE = 50_000


def run(bench: Bench) -> Result:
    res = Result()
    n_min = bench.rebuild_events
    records = sim_records(n_min)
    meta = dataset_meta(n_min)
    n = len(records)
    cfg = bench.config("rebuild")
    fill_rate = fill(bench, cfg, records, processes=3)
    del records
    broker_rss = bench.broker_rss()
    log(f"rebuild: pulse run over {n:,} events")
    broker_cpu0 = bench.broker_cpu()
    run_ = PulseRun(bench, bench.fresh_group(cfg), "rebuild").start()
    limit: float = bench.args.rebuild_timeout  # type: ignore[attr-defined]
    timed_out = False
    try:
        try:
            ready_s = run_.wait_ready(timeout_s=limit, poll_s=0.1)
        except TimeoutError:
            timed_out = True
            ready_s = float("nan")
        t_end = time.time()
        # who used the cores from start to ready: on a 2-core machine the broker, the
        # fetch process and the fold share them, and the busiest bounds the rate
        parent_cpu, child_cpu = run_.cpu_split()
        broker_cpu = bench.broker_cpu() - broker_cpu0
        phases = run_.log_phases()
        rss = run_.rss()
        text = run_.scrape()
    finally:
        run_.stop()
    if timed_out:
        # progress so far: events folded (the snapshot published during the rebuild)
        join = run_.join_time()
        phases = {"rebuild_s": t_end - join if join else float("nan"),
                  "start_to_join_s": join - run_.t_start if join else float("nan")}
        res.notes.append(f"rebuild: not ready after {limit:.0f} s; the rate is the events "
                         "folded so far over the time since the rebuild started")
    folded = metric_sum(text, "aftersales_events_total")
    open_tickets = metric_sum(text, "aftersales_backlog_tickets")
    open_returns = metric_sum(text, "aftersales_returns_open")
    rebuild_s = phases.get("rebuild_s", float("nan"))
    rate = (folded if timed_out else n) / rebuild_s
    days = (meta["end_ms"] - meta["start_ms"]) / 86_400_000 if meta else float("nan")
    res.details.update({
        "events": n, "days": days, "dataset": meta, "fill_events_per_s": fill_rate,
        "ready_s": ready_s, **phases, "rss": rss, "broker_rss": broker_rss,
        "folded": folded, "open_tickets": open_tickets, "open_returns": open_returns,
        "cpu_s": {"broker": broker_cpu, "pulse": parent_cpu, "fetch_process": child_cpu},
    })
    res.details["timed_out"] = timed_out
    if folded != n and not timed_out:
        res.notes.append(f"rebuild: /metrics counts {folded:,.0f} accepted events of {n:,}")
    what = (f"TIMED OUT after {rebuild_s:.0f} s, {folded:,.0f} folded" if timed_out
            else f"{rebuild_s:.1f} s")
    res.add("4 rebuild", f"{n:,} events, {days:.1f} days ({meta.get('rate_tickets_per_min', 0):.0f}"
            " tickets/min): rebuild start → ready", what, "", "")
    res.add("4 rebuild", "rebuild rate", fmt_rate(rate), fmt_rate(TARGET_RATE),
            verdict(rate >= TARGET_RATE, f"{rate / TARGET_RATE:.2f}× target"))
    res.add("4 rebuild", "pulse run: start → /readyz 200",
            f"not ready within {limit:.0f} s" if timed_out else f"{ready_s:.1f} s", "",
            f"join {phases.get('start_to_join_s', float('nan')):.1f} s")
    span = t_end - run_.t_start
    res.add("4 rebuild", "cores used, start → ready (broker / fold / fetch process)",
            f"{broker_cpu / span:.2f} / {parent_cpu / span:.2f} / {child_cpu / span:.2f}",
            "", f"of {os.cpu_count()} over {span:.1f} s")
    res.add("4 rebuild", "state at the timeout (partial)" if timed_out else "state after rebuild",
            f"{open_tickets:,.0f} open tickets, {open_returns:,.0f} open returns", "",
            f"RSS {rss / 2**20:,.0f} MiB")
    return res


if __name__ == "__main__":  # pragma: no cover
    import sys

    from bench.run import main

    sys.exit(main(["--only", "rebuild", *sys.argv[1:]]))
