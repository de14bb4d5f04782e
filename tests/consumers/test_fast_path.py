"""The decoder's msgspec fast path agrees with the full rules, message for message.

``Decoder.decode`` tries the fast path first and falls back to ``decode_full`` whenever
the fast path declines. So the only thing that can go wrong is the fast path *accepting*
something differently from the full rules: these tests throw valid, mutated and hostile
messages at both and demand the same event (same class, same fields) or a decline.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.decode import Decoder, Rejection, fast_ts_ms, parse_ts_ms
from core.config import load_config
from core.events import DEFAULT_REGIONS, EVENT_TYPES
from pulse.simulation import rfc3339
from tests.integration.helpers import simulated
from tests.reliability.test_hostile_input import WALL, hostile_bytes, hostile_objects

DEC = Decoder(regions=DEFAULT_REGIONS)


def _same(raw: bytes) -> None:
    if len(raw) > DEC.max_bytes:
        return  # decode never tries the fast path on these
    fast = DEC._fast(raw, WALL)
    full = DEC.decode_full(raw, WALL)
    assert DEC.decode(raw, WALL) == (fast if fast is not None else full)
    if fast is not None:
        assert not isinstance(full, Rejection), (raw[:200], full)
        assert (type(fast), fast) == (type(full), full)


def _sim_messages() -> list[bytes]:
    cfg = load_config(kafka__bootstrap_servers="127.0.0.1:1")
    return [v for _t, _k, v in simulated(cfg, hours=2, seed=5, rate=20.0,
                                         start_ms=WALL - 3 * 3600_000)]


SIM = _sim_messages()


def test_the_fast_path_takes_every_simulated_event_and_agrees() -> None:
    assert len(SIM) > 1000
    types = set()
    for raw in SIM:
        _same(raw)
        if DEC._fast(raw, WALL) is not None:
            types.add(type(DEC._fast(raw, WALL)).__name__)
    # well-formed traffic does not fall back (that would only cost speed, not correctness)
    declined = [raw for raw in SIM if DEC._fast(raw, WALL) is None
                and not isinstance(DEC.decode_full(raw, WALL), Rejection)]
    assert not declined, declined[:3]
    assert len(types) >= 9, types  # ReturnClosed stands for three wire types


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bytes)
def test_hostile_bytes_agree(raw: bytes) -> None:
    _same(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_objects())
def test_hostile_objects_agree(obj: dict[str, Any]) -> None:
    _same(json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"))


_mutations = st.sampled_from([
    None, "", 0, -1, 1.5, True, "x" * 200, [], {}, "2026-11-18T00:00:00.000Z", 7, 11, "agent",
    "bot", "P1", "east", "chat", "other", "１",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SIM) - 1), st.lists(st.tuples(st.text(max_size=12), _mutations),
                                               max_size=3), st.booleans())
def test_mutated_real_events_agree(i: int, changes: list[tuple[str, Any]], drop: bool) -> None:
    obj = json.loads(SIM[i])
    keys = list(obj)
    for name, value in changes:
        obj[name if name else random.Random(i).choice(keys)] = value
    if drop:
        obj.pop(random.Random(i + 1).choice(keys), None)
    _same(json.dumps(obj).encode())


def test_duplicate_keys_take_the_last_value_in_both() -> None:
    _same(b'{"event_id":"a","event_id":7,"type":"ticket.resolved","ts":1,"ticket_id":"T"}')
    _same(b'{"event_id":7,"event_id":"a","type":"ticket.resolved","ts":1,"ticket_id":"T"}')
    _same(b'{"type":"ticket.resolved","type":"ticket.nope","event_id":"a","ts":1,'
          b'"ticket_id":"T"}')


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 253402300799999), st.sampled_from(
    ["Z", "z", "+00:00", "+08:00", "-05:30", "+14:00", "-12:00", "+99:00", "+08:60"]))
def test_fast_timestamps_equal_the_full_parser(ms: int, offset: str) -> None:
    text = rfc3339(ms % (253402300799999 - 86400_000 * 2) + 86400_000)
    for candidate in (text, text[:23] + offset, text[:19] + offset, text[:23] + "9" + offset):
        assert fast_ts_ms(candidate) == parse_ts_ms(candidate), candidate


@given(st.text(alphabet="0123456789-:T.Z+٣", min_size=20, max_size=30))
def test_fast_timestamps_equal_the_full_parser_on_noise(text: str) -> None:
    assert fast_ts_ms(text) == parse_ts_ms(text)


def test_every_event_type_has_a_fast_builder() -> None:
    assert len(DEC._fast_builders) == len(EVENT_TYPES)
