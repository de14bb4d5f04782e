"""The engine without a broker, against the independent oracle (tests/oracle.py)."""

from __future__ import annotations

import importlib.resources
import random
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from core.config import load_config
from metrics.snapshot_collector import SnapshotCollector
from pulse.demo import DEMO_CONFIG
from pulse.pipeline import Pipeline
from pulse.simulation import Simulator, bad_messages, scenario
from tests.oracle import Expected, compute, diff, from_exposition
from tests.oracle.section7 import kwargs_from_config

Message = tuple[str, str | None, bytes | None]


def run_engine(messages: list[Message], wall_ms: int, config: Path | None = None) -> str:
    pipeline = Pipeline(load_config(config), wall=lambda: wall_ms)
    for topic, _key, value in messages:
        pipeline.fold(topic, (value,), wall_ms)
    snap = pipeline.snapshot()
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snap))
    return generate_latest(registry).decode()


def scenario_messages(seed: int, hours: float, name: str = "normal",
                      customer_messages: bool = True, *, start_ms: int | None = None,
                      rate: float = 3.0, redeliveries: int = 100) -> list[Message]:
    """The simulator's stream of ``hours`` from ``start_ms`` (default: ending 50 h ago),
    bad messages mixed in, then ``redeliveries`` copies of recent messages."""
    start = (int(time.time() * 1000) - int((hours + 50) * 3600_000)
             if start_ms is None else start_ms)
    sim = Simulator(scenario(name, rate=rate, customer_messages=customer_messages),
                    seed=seed, start_ms=start)
    topics = {"tickets": "aftersales.tickets", "logistics": "aftersales.logistics"}
    out: list[Message] = [(topics[e.topic], e.key, orjson.dumps(e.value))
                          for e in sim.until(start + int(hours * 3600_000))]
    rnd = random.Random(seed)
    for kind, key, raw in bad_messages(seed, start):
        out.insert(rnd.randrange(len(out)), (topics[kind], key, raw))
    for _ in range(redeliveries):  # redeliveries of recent messages
        out.append(rnd.choice(out[len(out) // 2:]))
    return out


def _summed(exp: Expected, metric: str, **labels: str) -> float:
    """A §7 series summed over every label not given."""
    assert exp.gauges7 is not None
    want = set(labels.items())
    return sum(v for (name, lab), v in exp.gauges7.items() if name == metric and want <= set(lab))


@pytest.mark.parametrize(("seed", "hours", "name"), [(1, 30, "normal"), (2, 26, "double11")])
def test_engine_matches_oracle(seed: int, hours: float, name: str) -> None:
    """The simulated stream, customers writing again: every series of §3 and §7 (turns,
    responses, awaiting reply, today) equal to the oracle's."""
    wall = int(time.time() * 1000)
    messages = scenario_messages(seed, hours, name)
    got = from_exposition(run_engine(messages, wall))
    problems = diff(got, compute(messages, wall_ms=wall))
    assert not problems, "\n".join(problems[:30])
    assert sum(n for (_topic, etype), n in got.events_total.items()
               if etype == "ticket.message") > 100
    # later turns are compared, not only first ones
    turns = _summed(got, "aftersales_window_turns", window="24h")
    first = sum(v for (metric, lab), v in got.gauges.items()
                if metric == "aftersales_window_first_responses" and ("window", "24h") in lab)
    assert turns > 1.2 * first > 0, (turns, first)


def test_engine_matches_oracle_with_the_demo_config(tmp_path: Path) -> None:
    """The demo's configuration (email on office hours with China's calendar, the three
    platform scores) on the simulated double11 with customers writing again:
    business-time SLA judgements, business_hours_open and the scores equal the oracle's."""
    text = (importlib.resources.files("pulse") / DEMO_CONFIG).read_text(encoding="utf-8")
    conf = tmp_path / "demo.yaml"
    conf.write_text(text, encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    wall = int(time.time() * 1000)
    messages = scenario_messages(3, 26, "double11")
    got = from_exposition(run_engine(messages, wall, conf))
    problems = diff(got, compute(messages, wall_ms=wall, **kwargs_from_config(raw)))
    assert not problems, "\n".join(problems[:30])
    for score in ("taobao_3min", "douyin_3min", "jd_30s"):
        decided = got.counter("aftersales_score_turns_total", score=score)
        within = got.counter("aftersales_score_turns_within_total", score=score)
        assert decided > within > 0, (score, decided, within)


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
