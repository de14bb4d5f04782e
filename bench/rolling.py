"""Rolling restart of three replicas, watched by a real Prometheus (issue 17).

What a deploy looks like from Grafana: three ``pulse run`` replicas in one consumer group
read the topic pair (7 days of simulator history, 3 partitions each) while a steady live
stream arrives; one more ``pulse run`` in a group of its own (never restarted) is the
reference, one process holding everything. Prometheus (the Debian binary, the project's
own config and recording rules, 1 s scrapes) scrapes all four. After a minute of steady
state the replicas are restarted one after the other, as a Deployment's rolling update
does: SIGTERM, wait for the exit, start again, wait for ``/readyz`` 200, next.

Measured, per membership mode side by side in one run:

* the time from the first SIGTERM until every replica is ready again;
* the largest step of ``sum(rate(aftersales_events_total[1m]))`` over the replicas
  against the same rate of the reference, before and during the rollout (events/s);
* the largest difference between the replicas' summed window gauge
  ``aftersales_window_tickets_created{window="24h"}`` and the reference's (tickets): the
  target is none beyond the events that arrived between the two scrapes;
* the same for the per-partition counts summed as the recording rule
  ``aftersales:partition_window_events:bridged`` sums them (each partition once, a
  partition nobody shows at its last value for 2 min), and the largest fall of each sum
  between two scrapes beside the reference's (a 24 h window loses a day-old event too).

Modes: ``dynamic`` (kafka-python's default membership: every stop and start moves
partitions, and the replicas that gain them rebuild them) and ``static``
(``group_instance_id`` per replica, KIP-345: a replica restarted within the session
timeout gets its own partitions back and no other replica rebuilds anything).

    python -m bench.rolling [--events 300000] [--modes dynamic,static] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from dataclasses import replace
from itertools import pairwise
from typing import Any

from bench.common import Bench, PulseRun, created_json, fill, log, sim_records

REPLICAS = 3
SESSION_MS = 30_000  # static members keep their partitions this long while restarting


class LiveStream:
    """``ticket.created`` events at ``rate``/s with the current time, on every partition,
    in a thread (kafka-python producer): the arrivals the sums may change by."""

    def __init__(self, bootstrap: str, topic: str, rate: float) -> None:
        from kafka import KafkaProducer

        self._producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
        self._topic = topic
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def __enter__(self) -> LiveStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._producer.flush(30)
        self._producer.close(10)

    def _run(self) -> None:
        t0 = time.monotonic()
        base = 90_000_000 + random.randrange(1_000_000) * 1_000
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self._rate)
            while self.sent < due:
                i = base + self.sent
                self._producer.send(self._topic, key=b"live-%d" % i,
                                    value=created_json(i, int(time.time() * 1000)))
                self.sent += 1
            self._stop.wait(0.02)


def _range(prom: Any, expr: str, start: float, end: float) -> list[tuple[float, float]]:
    import requests

    r = requests.get(prom.url + "/api/v1/query_range",
                     params={"query": expr, "start": start, "end": end, "step": "1s"},
                     timeout=60)
    body = r.json()
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    result = body["data"]["result"]
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def _largest_gap(a: list[tuple[float, float]], b: list[tuple[float, float]],
                 start: float, end: float) -> float:
    ref = dict(b)
    gaps = [abs(v - ref[t]) for t, v in a if start <= t <= end and t in ref]
    return max(gaps, default=float("nan"))


def _largest_drop(a: list[tuple[float, float]], start: float, end: float) -> float:
    """The largest fall between two consecutive samples (a 24 h window also loses the
    events of a day ago: the reference's own drops are that)."""
    inside = [v for t, v in a if start <= t <= end]
    return max((x - y for x, y in pairwise(inside)), default=0.0)


def _bridged_expr() -> str:
    """The expression of aftersales:partition_window_events:bridged, as deploy/ ships it."""
    import yaml

    from tests.deploy.stack import RECORDING

    for group in yaml.safe_load(RECORDING.read_text("utf-8"))["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == "aftersales:partition_window_events:bridged":
                return str(rule["expr"])
    raise LookupError("aftersales:partition_window_events:bridged is not in " + str(RECORDING))


def one_mode(bench: Bench, records: list[Any], mode: str, rate: float,
             timeout_s: float) -> dict[str, Any]:
    from pulse.broker import free_port
    from tests.deploy.stack import Prometheus

    cfg = bench.config(f"roll-{mode}")
    fill(bench, cfg, records, processes=2)
    replicas = []
    for i in range(REPLICAS):
        own = {"group_instance_id": f'"replica-{i}"'} if mode == "static" else None
        replicas.append(PulseRun(bench, replace(cfg, metrics_port=free_port()),
                                 f"roll-{mode}-{i}", consumer=own,
                                 kafka={"session_timeout_ms": SESSION_MS},
                                 extra_yaml="partition_window_series: true\n"))
    ref = PulseRun(bench, bench.fresh_group(cfg), f"roll-{mode}-ref")
    ref_target = f"127.0.0.1:{ref.port}"
    targets = [f"127.0.0.1:{r.port}" for r in replicas] + [ref_target]
    prom = Prometheus(f"prom-{mode}", bench.tmp, targets).wait_ready()
    out: dict[str, Any] = {"mode": mode, "events": len(records), "rate": rate}
    everyone = [*replicas, ref]
    try:
        with LiveStream(bench.bootstrap, cfg.kafka.tickets_topic, rate) as live:
            t0 = time.time()
            for r in everyone:
                r.start()
            for r in everyone:
                r.wait_ready(timeout_s, poll_s=0.1)
            out["first_ready_s"] = time.time() - t0
            time.sleep(70)  # a full [1m] rate window of steady state before the rollout
            roll_start = time.time()
            steps = []
            for r in replicas:
                t = time.time()
                r.stop()
                r.start()
                r.wait_ready(timeout_s, poll_s=0.1)
                steps.append(round(time.time() - t, 1))
            # ready is not enough: the others may still rebuild what moved to them
            for r in replicas:
                r.wait_ready(timeout_s, poll_s=0.1)
            out["rollout_s"] = time.time() - roll_start
            out["per_replica_s"] = steps
            time.sleep(65)
            end = time.time()
            out["live_sent"] = live.sent
        inst = f'instance="{ref_target}"'
        sel = f'instance!="{ref_target}"'
        rate_sum = _range(prom, f"sum(rate(aftersales_events_total{{{sel}}}[1m]))",
                          roll_start - 60, end)
        rate_ref = _range(prom, f"sum(rate(aftersales_events_total{{{inst}}}[1m]))",
                          roll_start - 60, end)
        w = 'aftersales_window_tickets_created{window="24h",%s}'
        win_sum = _range(prom, f"sum({w % sel})", roll_start - 60, end)
        win_ref = _range(prom, f"sum({w % inst})", roll_start - 60, end)
        # the per-partition counts, bridged by the recording rule's own expression (the
        # rule itself would fold the reference's partitions in too)
        per = 'aftersales_partition_window_events{window="24h",gauge="tickets_created",%s}'
        bridged = _range(prom, _bridged_expr().replace(
            "aftersales_partition_window_events", per % sel), roll_start - 60, end)
        out["bridged_gap_before"] = _largest_gap(bridged, win_ref, roll_start - 60, roll_start)
        out["bridged_gap_rollout"] = _largest_gap(bridged, win_ref, roll_start, end)
        for key, series in (("window", win_sum), ("bridged", bridged), ("ref", win_ref)):
            out[f"{key}_drop_rollout"] = _largest_drop(series, roll_start, end)
        out["rate_gap_before"] = _largest_gap(rate_sum, rate_ref, roll_start - 60, roll_start)
        out["rate_gap_rollout"] = _largest_gap(rate_sum, rate_ref, roll_start, end)
        out["window_gap_before"] = _largest_gap(win_sum, win_ref, roll_start - 60, roll_start)
        out["window_gap_rollout"] = _largest_gap(win_sum, win_ref, roll_start, end)
    finally:
        for r in everyone:
            r.stop()
        prom.proc.stop()
    return out


def table(results: list[dict[str, Any]]) -> str:
    head = ("| membership | events | live ev/s | rollout: first SIGTERM → all ready | per replica "
            "| Σ rate(events_total[1m]) vs one process: before / rollout (ev/s) "
            "| Σ window 24h tickets vs one process: before / rollout "
            "| the same, bridged per partition: before / rollout "
            "| largest fall in the rollout: Σ / bridged / one process |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    rows = "".join(
        f"| {r['mode']} | {r['events']:,} | {r['rate']:g} | {r['rollout_s']:.1f} s "
        f"| {', '.join(f'{s:g}' for s in r['per_replica_s'])} s "
        f"| {r['rate_gap_before']:.1f} / {r['rate_gap_rollout']:.1f} "
        f"| {r['window_gap_before']:.0f} / {r['window_gap_rollout']:.0f} "
        f"| {r['bridged_gap_before']:.0f} / {r['bridged_gap_rollout']:.0f} "
        f"| {r['window_drop_rollout']:.0f} / {r['bridged_drop_rollout']:.0f} "
        f"/ {r['ref_drop_rollout']:.0f} |\n"
        for r in results)
    return head + rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=300_000, help="history size (300000)")
    p.add_argument("--modes", default="dynamic,static")
    p.add_argument("--rate", type=float, default=50.0, help="live events/s (50)")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args(argv)
    bench = Bench(quick=False, events=args.events, rebuild_events=args.events)
    results = []
    try:
        records = sim_records(args.events)
        for mode in args.modes.split(","):
            log(f"rolling restart, {mode} membership")
            results.append(one_mode(bench, records, mode, args.rate, args.timeout))
            log(json.dumps(results[-1]))
    finally:
        bench.cleanup(keep=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
