"""Cardinality (issue 7): junk categorical values never create a series or grow state.

A million events (in process, Decoder + Engine, ~10 s) where every other event carries a
fresh junk value in every categorical and free-text field, against a baseline run of the
same events where the junk is one constant unknown value. Both must expose the same
series (names + labels) on /metrics, and keep the same amount of state and memory.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from core.config import load_config
from core.events import (
    CATEGORIES,
    CHANNELS,
    DEFAULT_REGIONS,
    KINDS,
    PRIORITIES,
    RETURN_REASONS,
)
from metrics.engine import Engine
from metrics.snapshot_collector import SnapshotCollector
from pulse.pipeline import Pipeline

CFG = load_config()
TICKETS, LOGISTICS = CFG.kafka.topics
START = 1_795_000_000_000
STEP_MS = 10  # a million events span 2.8 h: all inside the 24 h window


def stream(n: int, junk: bool) -> Iterator[tuple[str, bytes]]:
    """Odd events carry junk (``junk``: a fresh value each time; else always "unknown")."""
    for i in range(n):
        ts = START + i * STEP_MS

        def v(field: str, vocab: tuple[str, ...], i: int = i) -> str:
            if i % 2 == 0:
                return vocab[(i // 2) % len(vocab)]
            if not junk:
                return "unknown"
            return f"{field}-{i}-\u202e<b>{'é' * (i % 7)}\u0007"

        tid = f"T{i // 6}"
        k = i % 6
        obj: dict[str, Any]
        if k == 0:
            obj = {"type": "ticket.created", "ticket_id": tid, "order_id": f"O{i}",
                   "channel": v("channel", CHANNELS), "category": v("category", CATEGORIES),
                   "priority": v("priority", PRIORITIES), "region": v("region", DEFAULT_REGIONS),
                   "customer_tier": v("tier", ("vip", "normal"))}
        elif k == 1:
            obj = {"type": "ticket.replied", "ticket_id": tid, "by": v("by", ("agent", "bot")),
                   "agent_id": v("agent", ("a1", "a2"))}
        elif k == 2:
            obj = {"type": "ticket.escalated", "ticket_id": tid, "reason": v("esc", ("slow",)),
                   "level": v("level", ("2",)), "to": v("to", ("expert",))}
        elif k == 3:
            obj = {"type": "return.requested", "return_id": f"R{i}",
                   "region": v("region", DEFAULT_REGIONS), "reason": v("reason", RETURN_REASONS),
                   "kind": v("kind", KINDS)}
        elif k == 4:
            obj = {"type": "shipment.delivered", "order_id": f"O{i}",
                   "region": v("region", DEFAULT_REGIONS)}
        else:
            obj = {"type": "ticket.resolved", "ticket_id": tid}
        obj.update(event_id=f"e{i}", ts=ts)
        yield (TICKETS if obj["type"].startswith("ticket.") else LOGISTICS), orjson.dumps(obj)


def run(n: int, junk: bool) -> Engine:
    wall = START + n * STEP_MS + 60_000
    pipeline = Pipeline(CFG, wall=lambda: wall)
    for topic, raw in stream(n, junk):
        assert not pipeline.fold(topic, (raw,), wall), raw
    return pipeline.engine


def series(engine: Engine) -> set[str]:
    """Names + labels of every sample on the /metrics page (values dropped)."""
    engine.tick()
    snap = engine.snapshot()
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    text = generate_latest(reg).decode()
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and line[0] != "#"}


def state_sizes(engine: Engine) -> dict[str, int]:
    """Entity state (bounded by the horizon / window, not by labels) and label-keyed dicts."""
    t, r = engine.tickets, engine.returns
    return {
        "tickets": len(t.tickets), "returns": len(r.returns),
        "seen_ids": len(engine.seen),
        "arrivals": len(engine._arrivals), "unanswered": sum(
            len(lst) for ch in t.awaiting for lst in t.unanswered(ch)),
        "open": sum(map(len, t.open_by_priority.values())),
        # keyed by labels: must stay at their configured size
        "backlog_keys": len(t.backlog), "unanswered_keys": len(t.unanswered_idle),
        "open_keys": len(t.open_by_priority), "return_region_keys": len(r.open_by_region),
        "events_total_keys": len(engine.events_total),
        "rejected_keys": len(engine.rejected_total), "orphan_keys": len(engine.orphan_total),
        "h_first_response": len(engine.h_first_response),
        "h_resolution": len(engine.h_resolution), "h_return": len(engine.h_return),
    }


N = 1_000_000


def test_a_million_junk_values_create_no_series() -> None:
    t0 = time.perf_counter()
    junk = run(N, junk=True)
    elapsed = time.perf_counter() - t0
    base = run(N, junk=False)
    assert sum(junk.events_total.values()) == N
    got, want = series(junk), series(base)
    assert got == want, sorted(got ^ want)[:20]
    assert len(got) == len(want)
    # every label value on the page comes from the fixed vocabularies
    assert "-1-" not in "".join(got)
    assert "\u202e" not in "".join(got)
    fresh = state_sizes(Engine(CFG, lambda: START))
    sizes = state_sizes(junk)
    assert sizes == state_sizes(base)
    for key in (k for k in sizes if k.endswith("_keys") or k.startswith("h_")):
        assert sizes[key] == fresh[key], key
    assert sizes["tickets"] == N // 6 + (N % 6 > 0)  # state is the tickets, not the junk
    print(f"\n1M junk events through Decoder+Engine: {elapsed:.1f} s, {len(got)} series")


def _retained(n: int, junk: bool) -> tuple[int, Engine]:
    gc.collect()
    tracemalloc.start()
    try:
        engine = run(n, junk)
        gc.collect()
        return tracemalloc.get_traced_memory()[0], engine
    finally:
        tracemalloc.stop()


def test_junk_values_are_not_retained_in_memory() -> None:
    n = 120_000
    junk_bytes, junk = _retained(n, junk=True)
    base_bytes, base = _retained(n, junk=False)
    growth_per_event = (junk_bytes - base_bytes) / n
    # 7 fresh junk strings of ~25-40 bytes per odd event: retaining them would cost
    # hundreds of bytes per event
    assert growth_per_event < 8, (junk_bytes, base_bytes)
    assert state_sizes(junk) == state_sizes(base)
    print(f"\nretained: junk {junk_bytes / 1e6:.1f} MB, baseline {base_bytes / 1e6:.1f} MB, "
          f"{growth_per_event:+.2f} B/event")
