"""Each signal's in-process face, judged on real engine snapshots."""

from __future__ import annotations

from dataclasses import replace

import pytest
from feed import MIN, T0, Feed

from alerts.signals import SIGNALS, SignalContext


def value(name: str, feed: Feed, ctx: SignalContext | None = None, **params: str) -> dict:
    sig = SIGNALS[name]
    p = {k: spec.default for k, spec in sig.params.items()} | params
    return sig.compute(feed.snap(), ctx or SignalContext(), p)


def test_sla_attainment_counts_first_responses_in_the_window() -> None:
    f = Feed()
    f.answered_tickets(T0, 20, within=18, late=2)
    assert value("first_response_sla_attainment", f) == {(): pytest.approx(0.9)}
    assert value("first_response_sla_attainment", f, min_responses="21") == {}


def test_overdue_twice_the_sla_per_channel() -> None:
    f = Feed()
    f.created("c1", T0, channel="chat")  # SLA 30 s: 2x is 60 s
    f.created("c2", T0 + 45_000, channel="chat")
    f.created("p1", T0, channel="phone")  # SLA 15 min
    f.created("x", T0 + 61_000, channel="email")
    got = value("first_response_overdue_2x", f)
    assert got[(("channel", "chat"),)] == 1  # c1 is 61 s old, c2 16 s
    assert got[(("channel", "phone"),)] == 0
    snap = f.snap()
    assert snap.first_response_overdue["chat"] == 1
    assert snap.first_response_overdue_2x["chat"] == 1


def test_p1_resolution_overdue_and_escalation_rate() -> None:
    f = Feed()
    f.created("p1", T0, priority="P1")
    f.created("p2", T0, priority="P2")
    for i in range(9):
        f.created(f"t{i}", T0 + 1000 * i)
    f.escalated("t0", T0 + 10_000)
    f.created("late", T0 + 2 * 3600_000 + 1)  # the clock passes P1's 2 h SLA
    assert value("resolution_overdue", f) == {(): 1.0}
    assert value("escalation_rate", f, window="24h") == {(): pytest.approx(1 / 12)}
    assert value("escalation_rate", f, window="24h", min_tickets="13") == {}


def test_region_return_rate_excess_needs_enough_deliveries() -> None:
    f = Feed()
    from core.events import ReturnRequested

    def returns(region: str, n: int) -> None:
        for i in range(n):
            ev = ReturnRequested(f"r-{region}-{i}", T0 + 1, f"R{region}{i}", region, "quality",
                                 "return")
            f.engine.process(f.config.kafka.logistics_topic, ev, f.wall_ms)

    f.delivered("east", T0, 1000)
    returns("east", 100)
    f.delivered("south", T0, 1000)
    returns("south", 150)
    f.delivered("northeast", T0, 150)
    returns("northeast", 30)
    got = value("region_return_rate_excess", f)
    overall = 280 / 2150
    assert got == {
        (("region", "east"),): pytest.approx(0.1 / overall - 1),
        (("region", "south"),): pytest.approx(0.15 / overall - 1),
    }  # northeast has 150 < 200 deliveries


def test_peak_ratio_uses_the_history_it_has() -> None:
    f = Feed()
    for m in range(120):  # two hours at 2/min
        f.created(f"a{m}", T0 + m * MIN)
        f.created(f"b{m}", T0 + m * MIN + 30_000)
    assert value("peak_ratio", f) == {(): pytest.approx(1.0, rel=0.05)}
    # a 15-minute-old stream is not a 96x peak: absent until an hour of history
    g = Feed()
    for m in range(15):
        g.created(f"c{m}", T0 + m * MIN)
    assert g.snap().peak_ratio > 50  # the engine's raw SPEC metric
    assert value("peak_ratio", g) == {}
    for m in range(120, 135):  # 15 minutes at 8/min
        for k in range(8):
            f.created(f"s{m}-{k}", T0 + m * MIN + k * 7000)
    assert value("peak_ratio", f) == {(): pytest.approx(8 / (360 / 135), rel=0.02)}


def test_data_stale_only_while_live() -> None:
    f = Feed()
    f.created("x", T0)
    snap = f.snap()
    assert not snap.live
    sig = SIGNALS["last_event_age_seconds"]
    assert sig.compute(snap, SignalContext(), {}) == {}
    live = replace(snap, live=True, wall_ms=snap.last_event_wall_ms + 400_000)  # type: ignore[operator]
    assert sig.compute(live, SignalContext(), {}) == {(): pytest.approx(400.0)}


def test_consumer_lag_is_summed() -> None:
    f = Feed()
    snap = f.snap(lag={("aftersales.tickets", 0): 7000, ("aftersales.tickets", 1): 4000})
    assert SIGNALS["consumer_lag_messages"].compute(snap, SignalContext(), {}) == {(): 11000.0}


def test_backlog_growth_is_a_slope_over_the_range() -> None:
    f = Feed()
    ctx = SignalContext()
    sig = SIGNALS["backlog_growth_per_min"]
    out = {}
    for m in range(12):
        for k in range(3):  # +3 open tickets per minute
            f.created(f"t{m}-{k}", T0 + m * MIN + k)
        snap = f.snap()
        ctx.record(snap)
        out[m] = sig.compute(snap, ctx, {"range": "10m"})
    assert out[2] == {}  # too little history for a trend
    assert out[11] == {(): pytest.approx(3.0, rel=0.02)}
