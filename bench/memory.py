"""3. Memory: RSS growth per open ticket and per open return.

One subprocess per measurement (clean RSS): the default-config ``Engine`` (no Kafka) is
warmed up, then fed N ``ticket.created`` (or ``return.requested``) JSON messages through
the real ``Decoder`` — unique ids of the simulator's shape, event times spread over the
last 20 hours (so every id is also held by the duplicate filter and every event by the
24 h window: the full per-event cost), no resolves. RSS (``/proc/self/statm``, after
``gc.collect()`` and a snapshot) before and after, divided by N. A tracemalloc run of
100 k tickets attributes the Python allocations to source lines (top 10).

With its turns (SPEC §7, issue 16): the same, but each ticket gets an agent reply 60 s after
its creation (its first turn answered, within every score's limit) and a customer
``ticket.message`` 300 s after it, which opens a second turn that stays open: the ticket
sits in the awaiting-reply index and, with the demo's platform scores configured
(``DEMO_SCORES``: taobao_3min, douyin_3min on chat/app, jd_30s on chat, 08:00-23:00 /
09:00-23:00, wall clock) and its email office calendar, the ScoreBook holds the turn
(decided missed at start + 180 s, kept until it is answered). Turn starts are placed in
the rules' hours (Asia/Shanghai), so the covered share does not depend on the time of day
the benchmark runs; the engine ticks after every chunk of 20 k tickets, as the reader
does every 0.5 s, so the score deadlines are popped as they pass. Two mixes: the four
channels in turn (half of the turns covered by a score) and chat/app only (every turn
covered: the upper bound). RSS growth / N counts everything the ticket's three events
leave: the ticket, its open turn, three remembered ids, the window entries.

Target: ≤ 400 B per open ticket (including its turns).

``--no-dedupe``: the same with the duplicate filter bypassed (every event is new to it, and
it remembers nothing): the difference to the full run is the cost of the remembered ids,
reported apart from the ticket's own state (issue 17's per-ticket work, 2026-12-02).

    python -m bench.memory --child tickets 1000000     # one measurement, JSON on stdout
    python -m bench.memory --child tickets 1000000 --no-dedupe

Every kind ticks the engine after each chunk of 20 k events, as the reader does on every
snapshot (the clock moves, windows slide, the duplicate filter seals its older ids into
12-byte runs); until 2026-12-02 the plain kinds other than ``deliveries`` did not, so every
id of the 19 h stayed in the recent dicts (``--no-tick`` measures that).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import heapq
import itertools
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Bench,
    Result,
    build_open,
    created_json,
    delivered_json,
    fold,
    log,
    new_engine,
    return_json,
    run_child,
    settled_rss,
    ticket_json,
    verdict,
)

TARGET_BYTES = 400
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# The demo's business hours and platform scores (pulse/demo.yaml of issue 16's simulator)
DEMO_HOURS = {
    "timezone": "Asia/Shanghai",
    "calendars": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                             "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"}},
    "channels": {"email": "office"},
}
DEMO_SCORES = [
    {"name": "taobao_3min", "channels": ["chat", "app"], "hours": "08:00-23:00",
     "within_s": 180, "clock": "wall", "target": 0.9},
    {"name": "douyin_3min", "channels": ["chat", "app"], "hours": "08:00-23:00",
     "within_s": 180, "clock": "wall", "target": 0.9},
    {"name": "jd_30s", "channels": ["chat"], "hours": "09:00-23:00",
     "within_s": 30, "clock": "wall", "target": 0.9},
]
REPLY_AFTER_MS = 60_000  # the first turn's agent reply (within every score's limit)
MESSAGE_AFTER_MS = 300_000  # the customer writes again: the second turn, left open
# four-channel mix (half the turns scored); chat/app only (every turn scored); chat/app
# with no scores configured (what the turns cost without the ScoreBook)
TURN_KINDS = ("turns", "turns_scored", "turns_unscored")
TURN_ROWS = {
    "turns": "chat/phone/email/app: half the turns scored",
    "turns_scored": "chat/app: every turn scored",
    "turns_unscored": "chat/app, NO scores configured",
}


def in_hours_minutes(start_ms: int, end_ms: int, tz: str = "Asia/Shanghai") -> list[int]:
    """The minutes (epoch ms) of [start, end) whose local time lets both turns of a ticket
    created in it start inside 08:00-23:00 (the message comes 5 min later)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    lo, hi = 8 * 3600, 23 * 3600 - MESSAGE_AFTER_MS // 1000 - 60
    out = []
    for m in range(start_ms // MINUTE_MS + 1, end_ms // MINUTE_MS):
        t = datetime.fromtimestamp(m * 60, UTC).astimezone(zone)
        if lo <= t.hour * 3600 + t.minute * 60 < hi:
            out.append(m * MINUTE_MS)
    return out


def build_turns(pipeline: Any, topic: str, n: int, *, scored_only: bool,
                start_ms: int, end_ms: int, first: int = 0, chunk: int = 20_000) -> float:
    """Fold ``n`` tickets with their turns (created, agent reply, customer message; ids
    ``first``…, creation times spread over the in-hours minutes of [start, end]) in ``ts``
    order, as the stream interleaves them, ``chunk`` events at a time; the engine ticks
    after each chunk. Returns the seconds it took (JSON generation excluded).
    ``scored_only``: ticket numbers ≡ 0 or 3 mod 4, i.e. chat and app (see created_json)."""
    minutes = in_hours_minutes(start_ms, end_ms)
    span = len(minutes) * MINUTE_MS

    def stream(after_ms: int, make: Callable[[int, int], bytes]) -> Iterator[tuple[int, bytes]]:
        for k in range(n):
            i = first + (4 * (k // 2) + 3 * (k % 2) if scored_only else k)
            at = k * span // n
            ts = minutes[at // MINUTE_MS] + at % MINUTE_MS + after_ms
            yield ts, make(i, ts)

    events = heapq.merge(
        stream(0, created_json),
        stream(REPLY_AFTER_MS, lambda i, ts: ticket_json("replied", 2 * i, ts, i)),
        stream(MESSAGE_AFTER_MS, lambda i, ts: ticket_json("message", 2 * i + 1, ts, i)),
        key=lambda e: e[0],
    )
    spent = 0.0
    wall = int(time.time() * 1000)
    while payloads := [p for _, p in itertools.islice(events, chunk)]:
        t = time.perf_counter()
        bad = fold(pipeline, topic, payloads, wall)
        pipeline.engine.tick()
        spent += time.perf_counter() - t
        if bad:
            raise RuntimeError(f"{bad} synthetic events were rejected")
    return spent


def measure(kind: str, n: int, trace: bool, dedupe: bool = True,
            tick: bool = True) -> dict[str, object]:
    turns = kind in TURN_KINDS
    if turns:
        scores = [] if kind == "turns_unscored" else DEMO_SCORES
        cfg, engine, pipeline = new_engine(business_hours=DEMO_HOURS, scores=scores)
    else:
        cfg, engine, pipeline = new_engine()
    if not dedupe:
        from metrics.shards import FOLD_KEY

        def never_seen(event_id: str, clock_ms: int, ts_ms: int) -> bool:
            return False

        engine.shard(*FOLD_KEY)._seen_add = never_seen
    topic = (cfg.kafka.logistics_topic if kind in ("returns", "deliveries")
             else cfg.kafka.tickets_topic)
    make = {"returns": return_json, "deliveries": delivered_json}.get(kind, created_json)
    now = int(time.time() * 1000)
    start, end = now - 20 * HOUR_MS, now - HOUR_MS
    # warm-up: interned codes, window buckets, first snapshot, lazily built structures
    warm = 1000
    if turns:
        # the same hours a day earlier (in-hours minutes depend on the time of day), so
        # that the measured events come after it, in ts order, as in the plain case
        build_turns(pipeline, topic, warm, scored_only=kind != "turns",
                    start_ms=start - 24 * HOUR_MS, end_ms=end - 24 * HOUR_MS, first=10**9)
    else:
        build_open(pipeline, topic, warm, make, start_ms=start - 60_000,
                   end_ms=start - 1, first=10**9)
    pipeline.snapshot()
    rss0 = settled_rss()
    if trace:
        tracemalloc.start(1)
    if turns:
        t = build_turns(pipeline, topic, n, scored_only=kind != "turns",
                        start_ms=start, end_ms=end)
    else:
        t = build_open(pipeline, topic, n, make, start_ms=start, end_ms=end, tick=tick)
    pipeline.snapshot()
    rss1 = settled_rss()
    out: dict[str, object] = {
        "kind": kind, "n": n, "dedupe": dedupe, "rss_before": rss0, "rss_after": rss1,
        "bytes_per": (rss1 - rss0) / n, "fold_events_per_s": (3 * n if turns else n) / t,
        "open_tickets": sum(engine.tickets.backlog.values()),
        "open_returns": sum(engine.returns.open_by_region.values()),
        "dedupe_ids": engine.remembered_ids(), "window_entries": engine.windows.entry_count(),
        "ticks": tick,
    }
    if turns:
        snap = engine.snapshot()
        book = engine.scores
        out.update({
            "events": 3 * n,
            "awaiting": engine.tickets.awaiting_count(),
            "later_turns": engine.tickets.later_turns_open(),
            "score_open_turns": book.open_turns() if book is not None else 0,
            "score_heap": len(book._heap) if book is not None else 0,
            "score_window_entries": book.windows.entry_count() if book is not None else 0,
            "score_turns_total": dict(snap.score_turns_total),
            "score_turns_within_total": dict(snap.score_turns_within_total),
        })
    if trace:
        snap = tracemalloc.take_snapshot()
        traced = sum(s.size for s in snap.statistics("filename"))
        top = []
        for stat in snap.statistics("lineno")[:10]:
            frame = stat.traceback[0]
            fname = frame.filename
            try:
                fname = str(Path(fname).resolve().relative_to(ROOT))
            except ValueError:
                fname = "/".join(Path(fname).parts[-2:])
            line = ""
            with contextlib.suppress(OSError, IndexError):
                line = Path(frame.filename).read_text().splitlines()[frame.lineno - 1].strip()
            top.append({"where": f"{fname}:{frame.lineno}", "bytes_per": stat.size / n,
                        "blocks_per": stat.count / n, "code": line[:70]})
        out["traced_bytes_per"] = traced / n
        out["top"] = top
        tracemalloc.stop()
    return out


def child(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser()
    # deliveries: N shipment.delivered over the last 20 h, each held by the 24 h window
    # and the duplicate filter and nothing else: the cost per event (issue 17: ≤ 48 B)
    p.add_argument("kind", choices=["tickets", "returns", "deliveries", *TURN_KINDS])
    p.add_argument("n", type=int)
    p.add_argument("--trace", action="store_true")
    p.add_argument("--no-dedupe", action="store_true", help="bypass the duplicate filter")
    p.add_argument("--no-tick", action="store_true",
                   help="plain kinds: never tick (every id stays in the recent dicts)")
    a = p.parse_args(argv)
    gc.collect()
    print(json.dumps(measure(a.kind, a.n, a.trace, dedupe=not a.no_dedupe,
                             tick=not a.no_tick)))
    return 0


def run(bench: Bench) -> Result:
    res = Result()
    n: int = bench.args.memory_size  # type: ignore[attr-defined]
    n_trace = 20_000 if bench.quick else 100_000
    out = {}
    for kind in ("tickets", "returns"):
        log(f"memory: {n:,} open {kind}")
        out[kind] = run_child("bench.memory", ["--child", kind, str(n)])
    for kind in TURN_KINDS:
        log(f"memory: {n:,} open tickets with their turns ({kind})")
        out[kind] = run_child("bench.memory", ["--child", kind, str(n)])
    log(f"memory: tracemalloc breakdown of {n_trace:,} tickets")
    traced = run_child("bench.memory", ["--child", "tickets", str(n_trace), "--trace"])
    log(f"memory: tracemalloc breakdown of {n_trace:,} tickets with their turns (scored)")
    traced_turns = run_child("bench.memory", ["--child", "turns_scored", str(n_trace),
                                              "--trace"])
    res.details.update({"tickets": out["tickets"], "returns": out["returns"], "trace": traced,
                        **{k: out[k] for k in TURN_KINDS}, "trace_turns": traced_turns})
    t = out["tickets"]
    r = out["returns"]
    bt = float(t["bytes_per"])
    res.add("3 memory", f"RSS growth per open ticket ({n:,} open, via Decoder + Engine)",
            f"{bt:,.0f} B", f"≤ {TARGET_BYTES} B",
            verdict(bt <= TARGET_BYTES, f"{bt / TARGET_BYTES:.2f}× target"))
    for kind, what in TURN_ROWS.items():
        o = out[kind]
        b = float(o["bytes_per"])
        res.add("3 memory", f"RSS growth per open ticket WITH its turns ({n:,}: created + "
                f"agent reply + open 2nd turn; demo hours; {what})",
                f"{b:,.0f} B", f"≤ {TARGET_BYTES} B",
                verdict(b <= TARGET_BYTES, f"{b / TARGET_BYTES:.2f}× target; "
                        f"{int(o['awaiting']):,} awaiting, {int(o['score_open_turns']):,} "
                        f"held by the ScoreBook"))
    res.add("3 memory", f"RSS growth per open return ({n:,} open)",
            f"{float(r['bytes_per']):,.0f} B", "", "")
    res.add("3 memory", f"tracemalloc per ticket ({n_trace:,}; Python objects only)",
            f"{float(traced['traced_bytes_per']):,.0f} B", "", "top lines below")
    for item in traced["top"][:10]:  # type: ignore[index]
        res.add("3 memory", f"  {item['where']}  {item['code']}", f"{item['bytes_per']:,.0f} B",
                "", f"{item['blocks_per']:.1f} blocks/ticket")
    res.add("3 memory", "fold rate while building (ticket.created)",
            f"{float(t['fold_events_per_s']):,.0f} ev/s", "", "decode + engine.process")
    res.add("3 memory", f"tracemalloc per ticket WITH its turns ({n_trace:,}; every turn "
            "scored)", f"{float(traced_turns['traced_bytes_per']):,.0f} B", "",
            "top lines below")
    for item in traced_turns["top"][:10]:  # type: ignore[index]
        res.add("3 memory", f"  {item['where']}  {item['code']}", f"{item['bytes_per']:,.0f} B",
                "", f"{item['blocks_per']:.1f} blocks/ticket")
    for kind in TURN_KINDS:
        res.add("3 memory", f"fold rate while building ({kind}: created, replied, message)",
                f"{float(out[kind]['fold_events_per_s']):,.0f} ev/s", "",
                "decode + engine.process + tick every 20 k events")
    return res


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    from bench.run import main

    sys.exit(main(["--only", "memory", *sys.argv[1:]]))
