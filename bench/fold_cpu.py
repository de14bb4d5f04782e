"""The fold's CPU cost, robust to a loaded machine: CPU seconds (``time.process_time``) of
decode + ``Engine.process`` + ``tick`` (no Kafka, no threads; payloads built beforehand).

Two workloads: ``data`` -- the first 300 k events of the cached simulator dataset (the old
event mix; tick + snapshot every 20 k events), and the turn streams of :mod:`bench.memory`
(``turns_scored`` / ``turns_unscored``: created, agent reply, customer message; event
times fixed per UTC day, so two trees measured the same day fold the same stream and must
print the same totals). Run one tree after another, alternating, best of several.

    python -m bench.fold_cpu data
    python -m bench.fold_cpu turns_scored 100000
"""

from __future__ import annotations

import heapq
import itertools
import json
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import memory as m
from bench.common import created_json, fold, new_engine, ticket_json

DATASET = Path("/tmp/pulse-bench/sim-s11-d7-n300000.pickle")


def turn_chunks(n: int, scored_only: bool, start: int, end: int,
                chunk: int = 20_000) -> list[list[bytes]]:
    minutes = m.in_hours_minutes(start, end)
    span = len(minutes) * m.MINUTE_MS

    def stream(after: int, make: Callable[[int, int], bytes]) -> Iterator[tuple[int, bytes]]:
        for k in range(n):
            i = 4 * (k // 2) + 3 * (k % 2) if scored_only else k
            at = k * span // n
            ts = minutes[at // m.MINUTE_MS] + at % m.MINUTE_MS + after
            yield ts, make(i, ts)

    events = heapq.merge(
        stream(0, created_json),
        stream(m.REPLY_AFTER_MS, lambda i, ts: ticket_json("replied", 2 * i, ts, i)),
        stream(m.MESSAGE_AFTER_MS, lambda i, ts: ticket_json("message", 2 * i + 1, ts, i)),
        key=lambda e: e[0])
    out = []
    while c := [p for _, p in itertools.islice(events, chunk)]:
        out.append(c)
    return out


def run_turns(kind: str, n: int) -> dict[str, Any]:
    day = int(time.time() * 1000) // 86_400_000 * 86_400_000
    chunks = turn_chunks(n, kind != "turns", day - 20 * m.HOUR_MS, day - m.HOUR_MS)
    scores = [] if kind == "turns_unscored" else m.DEMO_SCORES
    cfg, engine, pipeline = new_engine(business_hours=m.DEMO_HOURS, scores=scores)
    topic = cfg.kafka.tickets_topic
    t = time.process_time()
    for c in chunks:
        fold(pipeline, topic, c, day)
        engine.tick()
    cpu = time.process_time() - t
    snap = engine.snapshot()
    return {"kind": kind, "events": 3 * n, "ev_per_cpu_s": round(3 * n / cpu),
            "score_turns_total": dict(snap.score_turns_total),
            "score_turns_within_total": dict(snap.score_turns_within_total),
            "awaiting_reply": dict(snap.awaiting_reply),
            "response_overdue": dict(snap.response_overdue)}


def run_data() -> dict[str, Any]:
    data = pickle.loads(DATASET.read_bytes())[:300_000]
    cfg, engine, pipeline = new_engine()
    tt, lt = cfg.kafka.tickets_topic, cfg.kafka.logistics_topic
    items = [(tt if b'"type":"ticket.' in v else lt, v) for _, _, v in data]
    wall = json.loads(items[-1][1])["ts"]
    t = time.process_time()
    for k in range(0, len(items), 20_000):
        for topic, run in itertools.groupby(items[k:k + 20_000], key=lambda x: x[0]):
            fold(pipeline, topic, [v for _, v in run], wall)
        engine.tick()
        engine.snapshot()
    cpu = time.process_time() - t
    return {"kind": "data", "events": len(items), "ev_per_cpu_s": round(len(items) / cpu),
            "open_tickets": sum(engine.tickets.backlog.values())}


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "data"
    out = run_data() if kind == "data" else run_turns(kind, int(sys.argv[2]))
    print(json.dumps(out))
