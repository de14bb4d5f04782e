"""The engine without a broker, against the independent oracle (tests/oracle.py)."""

from __future__ import annotations

import random
import time

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from core.config import load_config
from metrics.snapshot_collector import SnapshotCollector
from pulse.pipeline import Pipeline
from pulse.simulator import Simulator, bad_messages, scenario
from tests.oracle import compute, diff, from_exposition

Message = tuple[str, str | None, bytes | None]


def run_engine(messages: list[Message], wall_ms: int) -> str:
    pipeline = Pipeline(load_config(), wall=lambda: wall_ms)
    for topic, _key, value in messages:
        pipeline.fold(topic, (value,), wall_ms)
    snap = pipeline.snapshot()
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snap))
    return generate_latest(registry).decode()


def scenario_messages(seed: int, hours: float, name: str = "normal") -> list[Message]:
    start = int(time.time() * 1000) - int((hours + 50) * 3600_000)
    sim = Simulator(scenario(name, rate=3.0), seed=seed, start_ms=start)
    topics = {"tickets": "aftersales.tickets", "logistics": "aftersales.logistics"}
    out: list[Message] = [(topics[e.topic], e.key, orjson.dumps(e.value))
                          for e in sim.until(start + int(hours * 3600_000))]
    rnd = random.Random(seed)
    for kind, key, raw in bad_messages(seed, start):
        out.insert(rnd.randrange(len(out)), (topics[kind], key, raw))
    for _ in range(100):  # redeliveries of recent messages
        out.append(rnd.choice(out[len(out) // 2:]))
    return out


@pytest.mark.parametrize(("seed", "hours", "name"), [(1, 30, "normal"), (2, 26, "double11")])
def test_engine_matches_oracle(seed: int, hours: float, name: str) -> None:
    wall = int(time.time() * 1000)
    messages = scenario_messages(seed, hours, name)
    problems = diff(from_exposition(run_engine(messages, wall)), compute(messages, wall_ms=wall))
    assert not problems, "\n".join(problems[:30])


def _ev(etype: str, eid: str, ts: int, **fields: object) -> Message:
    topic = "aftersales.tickets" if etype.startswith("ticket") else "aftersales.logistics"
    return (topic, None, orjson.dumps({"event_id": eid, "type": etype, "ts": ts, **fields}))


def test_ticket_lifecycle_definitions() -> None:
    """Reopen, transfer, bot resolution, orphan and return processing, case by case."""
    t0 = 1_762_000_000_000
    m = [
        _ev("ticket.created", "c1", t0, ticket_id="A", channel="chat", category="return",
            priority="P1", region="east"),
        _ev("ticket.replied", "r1", t0 + 5_000, ticket_id="A", by="bot"),
        _ev("ticket.resolved", "s1", t0 + 10_000, ticket_id="A"),  # by bot, first contact
        _ev("ticket.reopened", "o1", t0 + 20_000, ticket_id="A"),
        _ev("ticket.replied", "r2", t0 + 40_000, ticket_id="A"),  # first agent reply: 40 s
        _ev("ticket.resolved", "s2", t0 + 60_000, ticket_id="A"),  # not FCR (reopened)
        _ev("ticket.created", "c2", t0, ticket_id="B", channel="phone", category="refund",
            priority="P2", region="south"),
        _ev("ticket.transferred", "x1", t0 + 1_000, ticket_id="B", to="expert"),
        _ev("ticket.replied", "r3", t0 + 2_000, ticket_id="GHOST"),  # orphan
        _ev("return.requested", "q1", t0, return_id="R", region="east", reason="size",
            kind="return"),
        _ev("return.refunded", "f1", t0 + 3_600_000, return_id="R"),
        _ev("return.cancelled", "f2", t0 + 3_700_000, return_id="R"),  # already closed
    ]
    wall = t0 + 4_000_000
    got = from_exposition(run_engine(m, wall))
    assert not diff(got, compute(m, wall_ms=wall))
    g = got.gauge
    assert g("aftersales_window_resolutions_by_bot", window="24h") == 1
    assert g("aftersales_window_resolutions_first_contact", window="24h") == 1
    assert g("aftersales_window_resolutions", window="24h", priority="P1") == 2
    assert g("aftersales_window_first_responses", window="24h", channel="chat") == 1
    assert g("aftersales_window_first_responses_within_sla", window="24h", channel="chat") == 0
    assert g("aftersales_backlog_tickets", priority="P2", category="refund", region="south") == 1
    assert g("aftersales_returns_open", region="east") == 0
    assert got.orphans == {("aftersales.tickets", "ticket.replied"): 1} | {
        k: 0 for k, v in (got.orphans or {}).items() if v == 0}
    assert got.histograms[("aftersales_return_processing_seconds", "east")].count == 1
