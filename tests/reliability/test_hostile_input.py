"""Hostile input (issue 7): the decoder never raises, and nothing is lost on the way.

produced = accepted + rejected + duplicate, in process and through the real broker, and
every rejected message is in the dead-letter topic byte for byte.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.decode import Decoder, Rejection
from core.config import load_config
from core.events import (
    CATEGORIES,
    CHANNELS,
    DEFAULT_REGIONS,
    EVENT_TYPES,
    KINDS,
    OTHER,
    PRIORITIES,
    RETURN_REASONS,
    RejectReason,
    ReturnRequested,
    ShipmentDelivered,
    TicketCreated,
)
from metrics.engine import Engine
from pulse.pipeline import Pipeline
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled, produce, read_topic, simulated

WALL = 1_795_000_000_000  # 2026-11-18
DEC = Decoder(regions=DEFAULT_REGIONS)
REASONS = {r.value for r in RejectReason}

# -- strategies ------------------------------------------------------------------------
_junk_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x1F), max_size=20),  # control
    st.sampled_from(["<script>alert(1)</script>", "</metric>{a=\"b\"}", "\u202e\u0000",
                     "a\nb\"c\\", "' OR 1=1 --", "${jndi:ldap://x}", "😀" * 50, ""]),
    st.builds(lambda n: "x" * n, st.integers(0, 80_000)),  # huge strings
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    _junk_text,
)
_json_values = st.recursive(
    _scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                   max_size=4),
    max_leaves=12,
)
_absurd_ts = st.one_of(
    st.sampled_from([
        "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999-01:00", "9999-12-31T23:59:59.999+14:00",
        "2026-02-30T00:00:00+08:00", "2026-11-11T25:00:00+08:00", "2026-11-11T00:00:00+99:00",
        "2026-11-11T00:00:00.123456789123456789+08:00", "2026-11-11T00:00:00", "now", "",
        "１９７０-01-01T00:00:00Z",
    ]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 253402300799999, 253402300800000, WALL + 301_000,
                     WALL + 10 * 365 * 86400_000, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_field_names = st.sampled_from([
    "ticket_id", "order_id", "return_id", "channel", "category", "priority", "region",
    "reason", "kind", "by", "csat", "nps", "passed", "promised_ts", "to", "level",
    "customer_tier", "agent_id",
])


@st.composite
def hostile_objects(draw: st.DrawFn) -> dict[str, Any]:
    """An event-shaped object with some fields right, some wrong, some missing."""
    obj: dict[str, Any] = {}
    if draw(st.booleans()):
        obj["event_id"] = draw(st.one_of(st.text(min_size=1, max_size=140), _json_values))
    if draw(st.integers(0, 9)):
        obj["type"] = draw(st.one_of(st.sampled_from(EVENT_TYPES), _json_values))
    if draw(st.integers(0, 9)):
        obj["ts"] = draw(st.one_of(st.integers(WALL - 86400_000, WALL), _absurd_ts))
    for name in draw(st.lists(_field_names, max_size=8)):
        obj[name] = draw(st.one_of(
            st.sampled_from([*CHANNELS, *CATEGORIES, *PRIORITIES, *DEFAULT_REGIONS,
                             *RETURN_REASONS, *KINDS, "agent", "bot"]),
            st.integers(-3, 12), _json_values, st.just("T1"),
        ))
    return obj


def _dumps(obj: Any) -> bytes:
    # the standard library writes NaN / Infinity literals; orjson cannot
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def _nested(depth: int, kind: str) -> bytes:
    open_, close = {"list": (b"[", b"]"), "dict": (b'{"a":', b"}")}[kind]
    return open_ * depth + b"1" + close * depth


hostile_bytes = st.one_of(
    st.binary(max_size=300),
    hostile_objects().map(_dumps),
    st.builds(_nested, st.integers(1, 3000), st.sampled_from(["list", "dict"])),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'{"ts":NaN}', b"", b"null", b"[]",
                     b"\xef\xbb\xbf{}", b'{"event_id":"a","event_id":7}', b"\x00" * 10]),
    _json_values.map(_dumps),
)


def _check_verdict(result: object) -> None:
    if isinstance(result, Rejection):
        assert result.reason.value in REASONS
        assert isinstance(result.detail, str)
        assert len(result.detail) < 400
        return
    # an accepted event: its labels come from the fixed vocabularies, its id and time hold
    assert 1 <= len(result.event_id) <= 128  # type: ignore[attr-defined]
    assert 0 <= result.ts_ms <= WALL + DEC.max_skew_ms  # type: ignore[attr-defined]
    if isinstance(result, TicketCreated):
        assert result.channel in (*CHANNELS, OTHER)
        assert result.category in (*CATEGORIES, OTHER)
        assert result.priority in (*PRIORITIES, OTHER)
        assert result.region in (*DEFAULT_REGIONS, OTHER)
    elif isinstance(result, ReturnRequested):
        assert result.region in (*DEFAULT_REGIONS, OTHER)
        assert result.reason in RETURN_REASONS
        assert result.kind in (*KINDS, OTHER)
    elif isinstance(result, ShipmentDelivered):
        assert result.region in (*DEFAULT_REGIONS, OTHER)


# -- the decoder -----------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(hostile_bytes)
def test_decoder_never_raises_on_hostile_bytes(raw: bytes) -> None:
    _check_verdict(DEC.decode(raw, WALL))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(hostile_objects())
def test_decoder_never_raises_on_hostile_objects(obj: dict[str, Any]) -> None:
    _check_verdict(DEC.decode(_dumps(obj), WALL))


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [1023, 1025, 5000, 60_000])
def test_deep_nesting_is_a_rejection_not_a_crash(depth: int, kind: str) -> None:
    result = DEC.decode(_nested(depth, kind), WALL)
    assert isinstance(result, Rejection)
    if depth > 1024 and len(_nested(depth, kind)) <= DEC.max_bytes:
        assert result.reason is RejectReason.INVALID_JSON
        assert "depth" in result.detail


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_timestamps_are_rejections(literal: bytes) -> None:
    raw = b'{"event_id":"e","type":"ticket.resolved","ticket_id":"T","ts":' + literal + b"}"
    result = DEC.decode(raw, WALL)
    assert isinstance(result, Rejection)
    assert result.reason in (RejectReason.INVALID_JSON, RejectReason.INVALID_TIMESTAMP)


@pytest.mark.parametrize(("ts", "reason"), [
    ("0001-01-01T00:00:00Z", RejectReason.INVALID_TIMESTAMP),
    ("9999-12-31T23:59:59Z", RejectReason.FUTURE_TIMESTAMP),
    ("3000-01-01T00:00:00+08:00", RejectReason.FUTURE_TIMESTAMP),
    (WALL + 400_000, RejectReason.FUTURE_TIMESTAMP),
    (-1, RejectReason.INVALID_TIMESTAMP),
    (2**64, RejectReason.INVALID_TIMESTAMP),
])
def test_absurd_timestamps(ts: object, reason: RejectReason) -> None:
    raw = _dumps({"event_id": "e", "type": "ticket.resolved", "ticket_id": "T", "ts": ts})
    result = DEC.decode(raw, WALL)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result


# -- the pipeline identity, in process -------------------------------------------------
_CFG = load_config()
_SIM: list[Message] = simulated(_CFG, hours=3, seed=11, rate=4.0, start_ms=WALL - 4 * 3600_000)


def _run_in_process(messages: list[Message], wall_ms: int) -> tuple[Engine, Counter[str]]:
    pipeline = Pipeline(_CFG, wall=lambda: wall_ms)
    verdicts: Counter[str] = Counter()
    for topic, _key, value in messages:
        verdicts["rejected" if pipeline.fold(topic, (value,), wall_ms) else "decoded"] += 1
    return pipeline.engine, verdicts


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(st.lists(st.one_of(
    st.sampled_from(_SIM),  # valid, repeats are duplicate deliveries
    st.tuples(st.sampled_from(_CFG.kafka.topics), st.none(), hostile_bytes),
), max_size=120))
def test_pipeline_identity_in_process(messages: list[Message]) -> None:
    engine, verdicts = _run_in_process(messages, WALL)
    accepted = sum(engine.events_total.values())
    rejected = sum(engine.rejected_total.values())
    duplicate = sum(engine.duplicate_total.values())
    assert accepted + rejected + duplicate == len(messages)
    assert rejected == verdicts["rejected"]
    assert set(engine.rejected_total) <= {(t, r) for t in _CFG.kafka.topics for r in REASONS}
    assert engine.clock.clock_ms <= WALL + DEC.max_skew_ms


# -- the pipeline identity, through the real broker ------------------------------------
def _hostile_corpus(rnd: random.Random, n: int, now_ms: int) -> list[bytes]:
    """Deterministic hostile messages (the broker run is one fixed seed, not a search)."""
    base = {"event_id": "x", "type": "ticket.created", "ts": now_ms - 3600_000,
            "ticket_id": "T", "channel": "chat", "category": "return", "priority": "P1",
            "region": "east"}
    mutations: list[Any] = [
        lambda o: o.pop("event_id"), lambda o: o.update(event_id=rnd.randint(0, 9)),
        lambda o: o.update(event_id="e" * 129), lambda o: o.update(type="ticket.💥"),
        lambda o: o.update(type=None), lambda o: o.update(ts="0001-01-01T00:00:00Z"),
        lambda o: o.update(ts="9999-12-31T23:59:59Z"), lambda o: o.update(ts=float("nan")),
        lambda o: o.update(ts=now_ms + 86400_000 * rnd.randint(1, 10_000)),
        lambda o: o.update(ts=[1, 2]), lambda o: o.pop("ticket_id"),
        lambda o: o.update(ticket_id={"$ne": 1}), lambda o: o.update(channel=7),
        lambda o: o.update(region=["east"]), lambda o: o.update(type="ticket.rated", csat=99),
        lambda o: o.update(type="return.inspected", return_id="R", passed="yes"),
        lambda o: o.update(pad="<b>" * 20_000),
    ]
    out: list[bytes] = []
    for i in range(n):
        pick = rnd.randrange(len(mutations) + 6)
        if pick < len(mutations):
            obj = dict(base, event_id=f"h{i}")
            mutations[pick](obj)
            out.append(_dumps(obj))
        elif pick == len(mutations):
            out.append(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))))
        elif pick == len(mutations) + 1:
            out.append(_nested(rnd.randint(1025, 5000), rnd.choice(["list", "dict"])))
        elif pick == len(mutations) + 2:
            out.append(b'{"event_id":"h%d","type":"ticket.resolved","ts":Infinity}' % i)
        elif pick == len(mutations) + 3:
            out.append("\u0000\u001b[31m<script>\u202e".encode() * rnd.randint(1, 50))
        elif pick == len(mutations) + 4:
            out.append(b"[" + b"1," * rnd.randint(0, 100) + b"1]")
        else:
            out.append(b"")
    return out


def _sum(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix + "{"))


@pytest.mark.broker
def test_pipeline_identity_through_the_broker(make_config) -> None:
    cfg = make_config()
    now = int(time.time() * 1000)
    rnd = random.Random(7)
    good = simulated(cfg, hours=2, seed=13, rate=4.0)
    good += [rnd.choice(good) for _ in range(100)]  # redeliveries
    topics = cfg.kafka.topics
    bad = [(rnd.choice(topics), None, raw) for raw in _hostile_corpus(rnd, 1000, now)]
    messages: list[Message] = good + bad
    rnd.shuffle(messages)  # per-ticket order is broken too: orphans, still accepted
    assert len(messages) >= 2000
    want: Counter[tuple[str, str]] = Counter()
    for topic, _key, value in messages:
        item = DEC.decode(value, now)
        if isinstance(item, Rejection):
            want[(topic, item.reason.value)] += 1
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, messages)
        wait_for(lambda: handled(scrape(svc.metrics_url)) >= len(messages), timeout=60)
        time.sleep(0.7)
        text = scrape(svc.metrics_url)
    assert handled(text) == len(messages)
    got: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if line.startswith("aftersales_events_rejected_total{"):
            labels = dict(p.split("=", 1) for p in line[line.index("{") + 1:line.index("}")]
                          .split(","))
            n = int(float(line.rsplit(" ", 1)[1]))
            if n:
                got[(labels["topic"].strip('"'), labels["reason"].strip('"'))] = n
    assert got == want
    assert _sum(text, "aftersales_events_total") + _sum(
        text, "aftersales_events_duplicate_total") == len(messages) - sum(want.values())
    dlq = read_topic(cfg, topics[0] + ".dlq") + read_topic(cfg, topics[1] + ".dlq")
    rejected_values = sorted(v for t, _k, v in messages
                             if isinstance(DEC.decode(v, now), Rejection))
    assert sorted(r.value or b"" for r in dlq) == rejected_values
    by_reason = Counter((r.topic[: -len(cfg.kafka.dlq_suffix)],
                         dict(r.headers)["pulse.reason"].decode()) for r in dlq)
    assert by_reason == want
