"""The oracle (tests/oracle.py) reproduces the shared conformance scenario exactly, plus
small table-driven checks of the definitions in SPEC.md §3 / docs/semantics.md."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle


def _conformance_dir() -> Path:
    here = Path(__file__).resolve().parents[2] / "shared" / "conformance"
    if (here / "expected.json").exists():
        return here
    env = os.environ.get("PULSE_CONFORMANCE_DIR")
    if env and (Path(env) / "expected.json").exists():
        return Path(env)
    pytest.skip("conformance directory not found (set PULSE_CONFORMANCE_DIR)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def conformance() -> tuple[oracle.Expected, oracle.Expected, dict]:
    cdir = _conformance_dir()
    raw = json.loads((cdir / "expected.json").read_text(encoding="utf-8"))
    messages = oracle.load_conformance(cdir / "messages.jsonl")
    got = oracle.compute(messages, wall_ms=int(time.time() * 1000))
    want = oracle.expected_from_conformance(raw)
    return got, want, raw


# ------------------------------------------------------------------------------------
# Conformance
# ------------------------------------------------------------------------------------


def test_conformance_no_diff(conformance):
    got, want, _ = conformance
    assert oracle.diff(got, want) == []


def test_conformance_clock_is_largest_accepted_ts(conformance):
    got, _, raw = conformance
    assert got.clock_ms == got.watermark_ms == round(raw["clock_seconds"] * 1000)


def test_conformance_counters(conformance):
    got, _, raw = conformance
    assert got.produced == raw["produced"]
    assert got.rejected_by_topic == raw["rejected"]
    assert got.duplicates == raw["duplicates"]
    assert got.orphans_total == raw["orphans"]
    assert got.events_total == {
        (r["topic"], r["type"]): r["count"] for r in raw["accepted_by_type"]
    }
    # produced = accepted + rejected + duplicate, per topic
    for topic, produced in raw["produced"].items():
        accepted = sum(n for (t, _), n in got.events_total.items() if t == topic)
        assert produced == accepted + got.rejected_by_topic.get(topic, 0) + got.duplicates.get(
            topic, 0
        )


def test_conformance_every_gauge_exact(conformance):
    got, _, raw = conformance
    want = {oracle.gauge_key(g["metric"], **g["labels"]): g["value"] for g in raw["gauges"]}
    assert set(got.gauges) == set(want)
    for key, value in want.items():
        assert got.gauges[key] == pytest.approx(value, rel=1e-12), key


def test_conformance_window_first_response_values(conformance):
    got, _, raw = conformance
    want = {
        (r["window"], r["channel"]): r["first_response_seconds_sorted"]
        for r in raw["window_first_response_values"]
        if r["first_response_seconds_sorted"]
    }
    assert got.window_first_response_values == want
    for (window, channel), values in want.items():
        for q in oracle.QUANTILES:
            assert got.quantiles[(window, channel, q)] == oracle.quantile(values, float(q))


def test_conformance_histogram_observations(conformance):
    got, _, raw = conformance
    want = {}
    for title, by_label in raw["histogram_observations"].items():
        metric = title.split()[0]
        for label, h in by_label.items():
            want[(metric, label)] = h
    assert set(got.histograms) == set(want)
    for key, h in want.items():
        mine = got.histograms[key]
        assert mine.count == h["count"], key
        assert mine.values == sorted(h["values"]), key
        assert mine.sum == pytest.approx(h["sum"], rel=1e-12), key


def test_diff_detects_a_change(conformance):
    got, want, _ = conformance
    key = oracle.gauge_key("aftersales_returns_open", region="east")
    changed = oracle.Expected(**{**got.__dict__, "gauges": {**got.gauges, key: 1.0}})
    assert any("aftersales_returns_open" in line for line in oracle.diff(changed, want))
    rate = oracle.gauge_key(oracle.RETURN_RATE, window="15m", region="northeast")
    absent_vs_zero = oracle.Expected(**{**got.__dict__, "gauges": {**got.gauges, rate: 0.0}})
    assert oracle.diff(absent_vs_zero, want) != []


def test_exposition_round_trip(conformance):
    """from_exposition() reads back a /metrics page rendered from the oracle's own values."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    got, want, _ = conformance
    bounds = [30, 60, 300, 900, 1800, 3600, 7200, 86400, 172800, 259200]

    class Collector:
        def collect(self):
            c = CounterMetricFamily("aftersales_events", "", labels=["topic", "type"])
            for (topic, etype), n in got.events_total.items():
                c.add_metric([topic, etype], n)
            yield c
            c = CounterMetricFamily("aftersales_events_rejected", "", labels=["topic", "reason"])
            for (topic, reason), n in got.rejected.items():
                c.add_metric([topic, reason], n)
            yield c
            c = CounterMetricFamily("aftersales_events_duplicate", "", labels=["topic"])
            for topic, n in got.duplicates.items():
                c.add_metric([topic], n)
            yield c
            c = CounterMetricFamily("aftersales_events_orphan", "", labels=["topic", "type"])
            for (topic, etype), n in got.orphans.items():
                c.add_metric([topic, etype], n)
            yield c
            for metric, label in oracle.HISTOGRAM_LABEL.items():
                h = HistogramMetricFamily(metric, "", labels=[label])
                for (m, value), hist in got.histograms.items():
                    if m != metric:
                        continue
                    cum = oracle.buckets_from_values(hist.values, bounds)
                    buckets = [(str(float(b)), cum[b]) for b in bounds]
                    buckets.append(("+Inf", hist.count))
                    h.add_metric([value], buckets, hist.sum)
                yield h
            families: dict[str, GaugeMetricFamily] = {}
            for (metric, items), value in got.gauges.items():
                if metric not in families:
                    families[metric] = GaugeMetricFamily(metric, "", labels=[k for k, _ in items])
                families[metric].add_metric([v for _, v in items], value)
            yield from families.values()
            q = GaugeMetricFamily(
                oracle.WINDOW_QUANTILE_METRIC, "", labels=["window", "channel", "quantile"]
            )
            for (window, channel, quant), value in got.quantiles.items():
                q.add_metric([window, channel, quant], value)
            q.add_metric(["15m", "email", "0.5"], math.nan)  # empty window: NaN is absent
            yield q
            yield GaugeMetricFamily(
                "aftersales_clock_timestamp_seconds", "", value=got.clock_ms / 1000
            )

    registry = CollectorRegistry()
    registry.register(Collector())
    parsed = oracle.from_exposition(generate_latest(registry).decode())
    assert oracle.diff(parsed, got) == []
    assert oracle.diff(parsed, want) == []


# ------------------------------------------------------------------------------------
# Definitions, table-driven
# ------------------------------------------------------------------------------------

T0 = 1_762_800_000_000  # 2025-11-10T18:40:00Z, epoch ms
WALL = T0 + 10 * 86_400_000
TICKETS = "aftersales.tickets"
LOGISTICS = "aftersales.logistics"
_counter = iter(range(10**9))


def ev(topic: str, etype: str, ts: int | str, **fields) -> tuple[str, str, bytes]:
    body = {"event_id": f"e{next(_counter)}", "type": etype, "ts": ts, **fields}
    key = fields.get("ticket_id") or fields.get("return_id") or fields.get("order_id")
    return (topic, key, json.dumps(body).encode())


def created(tid: str, ts: int, channel="chat", priority="P2", **kw):
    return ev(
        TICKETS,
        "ticket.created",
        ts,
        ticket_id=tid,
        channel=channel,
        category="return",
        priority=priority,
        region="east",
        **kw,
    )


def replied(tid: str, ts: int, by="agent"):
    return ev(TICKETS, "ticket.replied", ts, ticket_id=tid, by=by)


@pytest.mark.parametrize(
    ("channel", "delay_ms", "within"),
    [
        ("chat", 30_000, True),
        ("chat", 30_001, False),
        ("phone", 900_000, True),
        ("phone", 900_001, False),
        ("app", 1_800_000, True),
        ("email", 86_400_000, True),
        ("email", 86_400_001, False),
        ("fax", 86_400_000, True),  # unknown channel -> other, email's SLA
        ("fax", 86_400_001, False),
    ],
)
def test_first_response_within_sla_is_inclusive(channel, delay_ms, within):
    msgs = [created("T1", T0, channel=channel), replied("T1", T0 + delay_ms)]
    out = oracle.compute(msgs, wall_ms=WALL)
    label = channel if channel in oracle.CHANNELS else "other"
    assert out.gauge("aftersales_window_first_responses", window="24h", channel=label) == 1
    assert out.gauge(
        "aftersales_window_first_responses_within_sla", window="24h", channel=label
    ) == (1 if within else 0)
    assert out.histograms[(oracle.FIRST_RESPONSE_HIST, label)].values == [delay_ms / 1000]


@pytest.mark.parametrize(
    ("priority", "delay_s", "label", "within"),
    [
        ("P1", 7200, "P1", True),
        ("P1", 7201, "P1", False),
        ("P4", 259200, "P4", True),
        (None, 172800, "P3", True),  # missing priority -> P3
        ("P9", 172800, "other", True),  # unknown -> other, P3's SLA
        ("P9", 172801, "other", False),
    ],
)
def test_resolution_within_sla_is_inclusive(priority, delay_s, label, within):
    fields = {} if priority is None else {"priority": priority}
    msgs = [
        ev(TICKETS, "ticket.created", T0, ticket_id="T1", channel="chat", **fields),
        ev(TICKETS, "ticket.resolved", T0 + delay_s * 1000, ticket_id="T1"),
    ]
    out = oracle.compute(msgs, wall_ms=WALL, windows={"15m": 900, "1h": 3600, "72h": 259200})
    assert out.gauge("aftersales_window_resolutions", window="72h", priority=label) == 1
    assert out.gauge("aftersales_window_resolutions_within_sla", window="72h", priority=label) == (
        1 if within else 0
    )


@pytest.mark.parametrize(
    ("age_ms", "in_15m"),
    [
        (0, True),  # ts == clock counts
        (899_999, True),
        (900_000, False),  # ts == clock - window does not
        (900_001, False),
    ],
)
def test_window_boundary(age_ms, in_15m):
    clock = T0 + 86_400_000
    msgs = [
        ev(LOGISTICS, "shipment.delivered", clock - age_ms, order_id="O1", region="east"),
        ev(LOGISTICS, "shipment.delivered", clock, order_id="O2", region="south"),
    ]
    out = oracle.compute(msgs, wall_ms=WALL)
    assert out.clock_ms == clock
    expected = 1 if in_15m else 0
    assert out.gauge("aftersales_window_orders_delivered", window="15m", region="east") == (
        expected
    )


def test_event_after_explicit_clock_is_outside_windows():
    msgs = [ev(LOGISTICS, "shipment.delivered", T0 + 1, order_id="O1", region="east")]
    out = oracle.compute(msgs, wall_ms=WALL, clock_ms=T0)
    assert out.gauge("aftersales_window_orders_delivered", window="24h", region="east") == 0


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([7.0], 0.5, 7.0),
        ([7.0], 0.99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0.9, 3.7),
        ([1.0, 2.0, 3.0, 4.0], 0.99, 3.97),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),  # order of input does not matter
        ([0.0, 10.0], 0.9, 9.0),
        ([1.0, 1.0, 1.0, 100.0], 0.5, 1.0),
    ],
)
def test_quantile_linear_interpolation(values, q, expected):
    assert oracle.quantile(values, q) == pytest.approx(expected, rel=1e-12)


def test_return_rate_absent_without_deliveries():
    msgs = [
        ev(
            LOGISTICS,
            "return.requested",
            T0,
            return_id="R1",
            region="east",
            reason="size",
            kind="return",
        ),
        ev(LOGISTICS, "shipment.delivered", T0, order_id="O1", region="south"),
        ev(LOGISTICS, "shipment.delivered", T0, order_id="O2", region="south"),
    ]
    out = oracle.compute(msgs, wall_ms=WALL)
    rate = oracle.RETURN_RATE
    assert oracle.gauge_key(rate, window="15m", region="east") not in out.gauges
    assert out.gauges[oracle.gauge_key(rate, window="15m", region="south")] == 0.0
    assert out.gauges[oracle.gauge_key(rate, window="15m", region="all")] == 0.5
    out = oracle.compute(msgs[:1], wall_ms=WALL)
    assert not any(k[0] == rate for k in out.gauges)


def test_duplicates_orphans_late_and_rejects():
    late_ts = T0 - 86_400_000  # exactly one largest window behind the watermark: late
    dup = created("T1", T0)
    msgs = [
        dup,
        dup,  # duplicate delivery
        replied("T404", T0),  # orphan
        ev(LOGISTICS, "return.refunded", T0, return_id="R404"),  # orphan
        ev(LOGISTICS, "shipment.delivered", late_ts, order_id="O1", region="mars"),  # late
        (TICKETS, "T2", b"{not json"),
        ev(TICKETS, "ticket.created", WALL + 300_001, ticket_id="T3"),  # future
        ev(TICKETS, "ticket.created", WALL + 300_000, ticket_id="T4"),  # not future (=skew)
        ev(TICKETS, "ticket.rated", T0, ticket_id="T1", csat=True),  # bool is not an int
        ev(TICKETS, "ticket.created", 1.5e12, ticket_id="T5"),  # float ts
        ev(TICKETS, "ticket.created", "2025-11-10T18:40:00", ticket_id="T6"),  # no offset
    ]
    out = oracle.compute(msgs, wall_ms=WALL, clock_ms=T0)
    assert out.duplicates == {TICKETS: 1}
    assert out.orphans == {(TICKETS, "ticket.replied"): 1, (LOGISTICS, "return.refunded"): 1}
    assert out.orphans_total == 2
    assert out.late == {LOGISTICS: 1}
    assert out.rejected == {
        (TICKETS, "invalid_json"): 1,
        (TICKETS, "future_timestamp"): 1,
        (TICKETS, "invalid_field"): 1,
        (TICKETS, "invalid_timestamp"): 2,
    }
    assert out.events_total[(TICKETS, "ticket.created")] == 2
    assert out.watermark_ms == WALL + 300_000


def test_ticket_state_definitions():
    h = 3_600_000
    msgs = [
        created("A", T0, channel="chat", priority="P1"),  # unanswered, overdue both ways
        created("B", T0, channel="phone"),
        replied("B", T0 + 1000, by="bot"),  # bot reply: still unanswered
        ev(TICKETS, "ticket.resolved", T0 + 2000, ticket_id="B"),  # by bot, first contact
        ev(TICKETS, "ticket.reopened", T0 + 3000, ticket_id="B"),  # open again
        replied("B", T0 + 4000),  # first response (agent)
        ev(TICKETS, "ticket.resolved", T0 + 5000, ticket_id="B"),  # not first contact
        created("C", T0 + 2 * h, channel="email"),
    ]
    out = oracle.compute(msgs, wall_ms=WALL)
    clock = T0 + 2 * h
    assert out.clock_ms == clock
    g = out.gauge
    assert g("aftersales_unanswered_tickets", channel="chat") == 1
    assert g("aftersales_unanswered_tickets", channel="email") == 1
    assert g("aftersales_unanswered_tickets", channel="phone") == 0
    assert g("aftersales_first_response_overdue_tickets", channel="chat") == 1
    assert g("aftersales_first_response_overdue_tickets", channel="email") == 0
    assert g("aftersales_oldest_unanswered_age_seconds", channel="chat") == 7200
    assert g("aftersales_oldest_unanswered_age_seconds", channel="email") == 0
    # P1 SLA is 7200 s and the age is exactly 7200 s: not overdue (strictly older)
    assert g("aftersales_resolution_overdue_tickets", priority="P1") == 0
    assert g("aftersales_backlog_tickets", priority="P1", category="return", region="east") == 1
    assert g("aftersales_window_resolutions", window="24h", priority="P2") == 2
    assert g("aftersales_window_resolutions_by_bot", window="24h") == 1
    assert g("aftersales_window_resolutions_first_contact", window="24h") == 1
    assert g("aftersales_window_reopens", window="24h") == 1
    assert out.histograms[(oracle.FIRST_RESPONSE_HIST, "phone")].values == [4.0]
    assert out.histograms[(oracle.RESOLUTION_HIST, "P2")].values == [2.0, 5.0]
    # peak ratio: 3 created in 15m? no -- only C is within 15m of the clock
    assert g("aftersales_window_peak_ratio") == pytest.approx((1 / 15) / (3 / 1440))


@pytest.mark.parametrize(
    ("ts", "ms"),
    [
        ("2026-11-11T00:00:05.120+08:00", 1_794_326_405_120),
        ("2026-11-10T16:00:05.12Z", 1_794_326_405_120),
        ("2026-11-10T11:00:05.1209-05:00", 1_794_326_405_120),
        (1_794_326_405_120, 1_794_326_405_120),
        ("2026-11-10 16:00:05Z", None),
        ("2026-11-10T16:00:05", None),
        ("2026-02-30T16:00:05Z", None),
        ("1969-12-31T23:59:59Z", None),
        (-1, None),
        (True, None),
        (1.0, None),
        ("", None),
    ],
)
def test_parse_ts(ts, ms):
    assert oracle.parse_ts(ts) == ms
