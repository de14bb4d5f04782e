"""A deterministic after-sales event simulator (SPEC §1, §6 ``pulse simulate`` / ``pulse demo``).

Pure and reproducible: every random draw comes from one seeded :class:`random.Random`, and
the wall clock is never read — the start time is a parameter and :meth:`Simulator.until`
is driven by the caller (a backfill calls it once with a far ``end_ms``; live mode calls it
every ~100 ms with ``end_ms = now``). The sequence of events does not depend on how
``until`` is chunked.

Model (numbers from the SPEC header, defaults in :class:`ScenarioConfig`):

* ticket arrivals are a Poisson process whose rate is piecewise constant over 15-minute
  slots of the local (+08:00) day — a diurnal curve, night low and evening high, whose 24 h
  mean is ``rate`` — and during a surge ``surge_factor × max(diurnal, surge_floor) × rate``;
* deliveries (``shipment.delivered``) follow the same curve at ``deliveries_per_ticket``
  times the ticket rate; each delivery triggers a ``return.requested`` with probability
  ``return_rate`` (× ``spike_return_factor`` in ``spike_region`` during the surge);
* each ticket's whole lifecycle is planned at creation (bot reply, agent first reply,
  transfer, escalation, resolve, reopen, rating) and its steps are fed through one heap
  of pending events, so lifecycles of different entities interleave in time order.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from statistics import NormalDist
from typing import Any

from core.definitions import DEFAULT_FIRST_RESPONSE_SLA_S, DEFAULT_RESOLUTION_SLA_S
from core.events import (
    CATEGORIES,
    CHANNELS,
    DEFAULT_REGIONS,
    KINDS,
    PRIORITIES,
    RETURN_REASONS,
)

__all__ = [
    "SCENARIOS",
    "ScenarioConfig",
    "SimEvent",
    "Simulator",
    "bad_messages",
    "rfc3339",
    "scenario",
]

SCENARIOS: tuple[str, ...] = ("normal", "double11")

TICKETS = "tickets"
LOGISTICS = "logistics"

_MIN_MS = 60_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_SLOT_MS = 15 * _MIN_MS
_SLOTS_PER_DAY = _DAY_MS // _SLOT_MS
_LOCAL_OFFSET_MS = 8 * _HOUR_MS  # the diurnal curve follows China Standard Time
_CST = timezone(timedelta(hours=8))

# SLAs of SPEC §3 (the defaults of core.definitions), in milliseconds.
FIRST_RESPONSE_SLA_MS: dict[str, int] = {
    ch: s * 1000 for ch, s in DEFAULT_FIRST_RESPONSE_SLA_S.items()}
RESOLUTION_SLA_MS: dict[str, int] = {p: s * 1000 for p, s in DEFAULT_RESOLUTION_SLA_S.items()}

# Mixes (weights need not sum to 1).
CHANNEL_WEIGHTS: dict[str, float] = {"chat": 50, "phone": 20, "app": 20, "email": 10}
CATEGORY_WEIGHTS: dict[str, float] = {
    "return": 25, "exchange": 12, "refund": 22, "repair": 8,
    "complaint": 10, "inquiry": 13, "logistics": 10,
}
PRIORITY_WEIGHTS: dict[str, float] = {"P1": 5, "P2": 20, "P3": 55, "P4": 20}
REGION_WEIGHTS: dict[str, float] = {
    "east": 28, "south": 22, "north": 16, "central": 12,
    "southwest": 10, "northwest": 6, "northeast": 6,
}
_OTHER_REGION_WEIGHT = 10.0
REASON_WEIGHTS: dict[str, float] = {
    "quality": 22, "size": 20, "damaged": 10, "not_as_described": 14,
    "wrong_item": 6, "changed_mind": 23, "other": 5,
}
KIND_WEIGHTS: dict[str, float] = {"return": 70, "exchange": 30}

# Hourly anchors of the diurnal curve (local time, hour 0..23), normalised to mean 1 below.
_DIURNAL_ANCHORS = (
    0.55, 0.35, 0.22, 0.16, 0.14, 0.18, 0.30, 0.55, 0.85, 1.10, 1.25, 1.25,
    1.10, 1.15, 1.25, 1.25, 1.20, 1.10, 1.15, 1.35, 1.60, 1.75, 1.55, 1.00,
)


def _diurnal_slots() -> tuple[float, ...]:
    """96 quarter-hour multipliers, linearly interpolated between hourly anchors, mean 1."""
    raw = []
    for s in range(_SLOTS_PER_DAY):
        h = (s + 0.5) / 4.0 - 0.5  # slot centre, anchors sit at the middle of each hour
        lo = math.floor(h)
        frac = h - lo
        a = _DIURNAL_ANCHORS[lo % 24]
        b = _DIURNAL_ANCHORS[(lo + 1) % 24]
        raw.append(a + (b - a) * frac)
    mean = sum(raw) / len(raw)
    return tuple(v / mean for v in raw)


DIURNAL: tuple[float, ...] = _diurnal_slots()
_FLAT: tuple[float, ...] = (1.0,) * _SLOTS_PER_DAY


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One generated event. ``topic`` is ``"tickets"`` or ``"logistics"``."""

    topic: str
    key: str
    value: dict[str, object]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """A traffic scenario. Times are seconds from the simulator's ``start_ms``."""

    name: str
    rate: float = 20.0  # tickets created per minute, 24 h mean of the normal day
    diurnal: bool = True
    surge_factor: float = 3.0
    surge_start_s: float | None = None
    surge_end_s: float | None = None
    # During a surge arrivals are at least surge_factor × surge_floor × rate: the surge
    # itself lifts the 24 h mean, and the 15m/24h peak ratio must stay clearly above 3.
    surge_floor: float = 1.5
    spike_region: str = "south"
    spike_return_factor: float = 3.0
    reply_slowdown: float = 2.0  # reply and resolution delays × this for surge tickets
    deliveries_per_ticket: float = 10.0
    return_rate: float = 0.12
    first_response_attainment: float = 0.94  # target share within SLA outside a surge

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.deliveries_per_ticket < 0:
            raise ValueError("deliveries_per_ticket must be >= 0")
        if not 0 <= self.return_rate <= 1:
            raise ValueError("return_rate must be within 0..1")
        if not 0.5 < self.first_response_attainment < 1:
            raise ValueError("first_response_attainment must be within 0.5..1")
        if self.surge_factor <= 0 or self.reply_slowdown <= 0 or self.spike_return_factor < 0:
            raise ValueError("surge_factor, reply_slowdown must be > 0")
        if (self.surge_start_s is None) != (self.surge_end_s is None):
            raise ValueError("surge_start_s and surge_end_s go together")
        if (
            self.surge_start_s is not None
            and self.surge_end_s is not None
            and not 0 <= self.surge_start_s < self.surge_end_s
        ):
            raise ValueError("need 0 <= surge_start_s < surge_end_s")

    @property
    def has_surge(self) -> bool:
        return self.surge_start_s is not None


def scenario(
    name: str,
    *,
    rate: float = 20.0,
    surge_start_s: float | None = None,
    surge_end_s: float | None = None,
    **overrides: Any,
) -> ScenarioConfig:
    """The named scenario. ``double11``: a normal day, then (by default) a 1 h surge at
    24 h after the start; other :class:`ScenarioConfig` fields may be overridden."""
    if name == "normal":
        if surge_start_s is not None or surge_end_s is not None:
            raise ValueError("the normal scenario has no surge")
        cfg = ScenarioConfig(name=name, rate=rate)
    elif name == "double11":
        start = 86_400.0 if surge_start_s is None else float(surge_start_s)
        end = start + 3_600.0 if surge_end_s is None else float(surge_end_s)
        cfg = ScenarioConfig(name=name, rate=rate, surge_start_s=start, surge_end_s=end)
    else:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return replace(cfg, **overrides) if overrides else cfg


class _Picker:
    """Weighted choice by bisect over precomputed cumulative weights."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, weights: dict[str, float], values: Sequence[str]) -> None:
        self._values = tuple(values)
        self._cum = list(accumulate(float(weights.get(v, 0.0)) for v in self._values))
        self._total = self._cum[-1]
        if self._total <= 0:
            raise ValueError("weights sum to zero")

    def __call__(self, u: float) -> str:
        """The value for a uniform draw ``u`` in [0, 1)."""
        return self._values[bisect(self._cum, u * self._total)]


class _Plan:
    """The pending steps of one ticket or return: ``(ts_ms, type, extra fields)``."""

    __slots__ = ("idfield", "key", "steps", "topic")

    def __init__(
        self, topic: str, idfield: str, key: str, steps: list[tuple[int, str, dict[str, object]]]
    ) -> None:
        self.topic = topic
        self.idfield = idfield
        self.key = key
        self.steps = steps


_NO_EXTRA: dict[str, object] = {}
_STREAM_TICKETS = 0
_STREAM_DELIVERIES = 1
_RING = 256  # recent order ids kept per region (tickets and returns refer to them)


class Simulator:
    """Generates the event stream of one scenario from ``start_ms`` on."""

    def __init__(
        self,
        config: ScenarioConfig,
        *,
        seed: int,
        start_ms: int,
        regions: Sequence[str] = DEFAULT_REGIONS,
    ) -> None:
        if not regions:
            raise ValueError("at least one region is needed")
        self.config = config
        self.seed = seed
        self.start_ms = int(start_ms)
        self.regions = tuple(regions)
        self.emitted = 0
        self._rng = random.Random(seed)
        self._slots = DIURNAL if config.diurnal else _FLAT
        if config.surge_start_s is not None and config.surge_end_s is not None:
            self._surge_start = self.start_ms + round(config.surge_start_s * 1000)
            self._surge_end = self.start_ms + round(config.surge_end_s * 1000)
        else:
            self._surge_start = self._surge_end = -1
        self._prefix = f"{seed}-"
        self._ticket_n = 0
        self._order_n = 0
        self._return_n = 0
        self._seq = 0
        self._heap: list[tuple[int, int, _Plan | None, int]] = []
        self._next_t = [float(self.start_ms), float(self.start_ms)]
        self._base_per_ms = (
            config.rate / _MIN_MS, config.rate * config.deliveries_per_ticket / _MIN_MS,
        )
        self._seg = [(0.0, -math.inf), (0.0, -math.inf)]  # (events per ms, valid until)

        self._channel = _Picker(CHANNEL_WEIGHTS, CHANNELS)
        self._category = _Picker(CATEGORY_WEIGHTS, CATEGORIES)
        self._priority = _Picker(PRIORITY_WEIGHTS, PRIORITIES)
        self._region = _Picker(
            {r: REGION_WEIGHTS.get(r, _OTHER_REGION_WEIGHT) for r in self.regions}, self.regions
        )
        self._reason = _Picker(REASON_WEIGHTS, RETURN_REASONS)
        self._kind = _Picker(KIND_WEIGHTS, KINDS)
        self._recent_orders: dict[str, list[str]] = {r: [] for r in self.regions}
        self._recent_pos: dict[str, int] = dict.fromkeys(self.regions, 0)

        # first response delay ~ lognormal, P(delay <= SLA) = target outside a surge
        self._fr_sigma = 0.7
        z = NormalDist().inv_cdf(config.first_response_attainment)
        self._fr_mu = {
            ch: math.log(sla) - z * self._fr_sigma for ch, sla in FIRST_RESPONSE_SLA_MS.items()
        }
        # total resolution time ~ lognormal by priority: (median ms, sigma)
        self._res = {
            "P1": (math.log(35 * _MIN_MS), 0.6),
            "P2": (math.log(5 * _HOUR_MS), 0.9),
            "P3": (math.log(10 * _HOUR_MS), 0.9),
            "P4": (math.log(16 * _HOUR_MS), 0.9),
        }

        self._push_arrival(_STREAM_TICKETS)
        if config.deliveries_per_ticket > 0:
            self._push_arrival(_STREAM_DELIVERIES)

    # ------------------------------------------------------------------ arrivals
    def in_surge(self, ts_ms: float) -> bool:
        """Whether ``ts_ms`` falls inside the configured surge."""
        return self._surge_start <= ts_ms < self._surge_end

    def rate_per_min(self, ts_ms: float) -> float:
        """Expected tickets created per minute at ``ts_ms``."""
        return self._mult_and_end(ts_ms)[0] * self.config.rate

    def _mult_and_end(self, t: float) -> tuple[float, float]:
        """The arrival multiplier at ``t`` and the time until which it stays constant."""
        local = t + _LOCAL_OFFSET_MS
        slot_index = math.floor(local / _SLOT_MS)
        end = float((slot_index + 1) * _SLOT_MS - _LOCAL_OFFSET_MS)
        mult = self._slots[slot_index % _SLOTS_PER_DAY]
        if self._surge_start >= 0:
            if t < self._surge_start:
                end = min(end, float(self._surge_start))
            elif t < self._surge_end:
                cfg = self.config
                mult = cfg.surge_factor * max(mult, cfg.surge_floor)
                end = min(end, float(self._surge_end))
        return mult, end

    def _push_arrival(self, stream: int) -> None:
        t = self._next_t[stream]
        mult_per_ms, end = self._seg[stream]
        expo = self._rng.expovariate
        while True:  # exact piecewise-constant Poisson process (memoryless restart at edges)
            if t >= end:
                mult, end = self._mult_and_end(t)
                mult_per_ms = mult * self._base_per_ms[stream]
                self._seg[stream] = (mult_per_ms, end)
            nxt = t + expo(mult_per_ms)
            if nxt < end:
                break
            t = end
        self._next_t[stream] = nxt
        self._seq += 1
        heapq.heappush(self._heap, (int(nxt), self._seq, None, stream))

    # ------------------------------------------------------------------ iteration
    def until(self, end_ms: int) -> Iterator[SimEvent]:
        """Every event with ``ts <= end_ms`` not yet generated, in non-decreasing ts order.

        Call it again with a larger ``end_ms`` to go on (live mode: every ~100 ms with
        ``end_ms = now``); the sequence is the same however the calls are chunked, and an
        iterator dropped part-way loses nothing (unyielded events stay pending).
        """
        heap = self._heap
        pop = heapq.heappop
        push = heapq.heappush
        while heap and heap[0][0] <= end_ms:
            ts, _, plan, arg = pop(heap)
            if plan is None:
                ev = self._new_ticket(ts) if arg == _STREAM_TICKETS else self._new_delivery(ts)
                self._push_arrival(arg)
                yield ev
                continue
            step_ts, etype, extra = plan.steps[arg]
            nxt = arg + 1
            if nxt < len(plan.steps):
                self._seq += 1
                push(heap, (plan.steps[nxt][0], self._seq, plan, nxt))
            value: dict[str, object] = {
                "event_id": "",
                "type": etype,
                "ts": step_ts,
                plan.idfield: plan.key,
            }
            if extra:
                value.update(extra)
            yield self._finish(plan.topic, plan.key, value, step_ts)

    def _finish(self, topic: str, key: str, value: dict[str, object], ts: int) -> SimEvent:
        n = self.emitted
        self.emitted = n + 1
        value["event_id"] = self._prefix + str(n)
        if n % 8 == 3:  # deterministic share of RFC 3339 timestamps
            value["ts"] = rfc3339(ts)
        return SimEvent(topic, key, value, ts)

    def _schedule(self, plan: _Plan) -> None:
        steps = plan.steps
        if not steps:
            return
        steps.sort(key=_step_ts)
        prev = steps[0][0]
        for i in range(1, len(steps)):  # strictly increasing within one entity
            t, etype, extra = steps[i]
            if t <= prev:
                t = prev + 1
                steps[i] = (t, etype, extra)
            prev = t
        self._seq += 1
        heapq.heappush(self._heap, (steps[0][0], self._seq, plan, 0))

    def _recent_order(self, region: str) -> str | None:
        ring = self._recent_orders[region]
        if not ring:
            return None
        return ring[int(self._rng.random() * len(ring))]

    # ------------------------------------------------------------------ tickets
    def _new_ticket(self, ts: int) -> SimEvent:
        rnd = self._rng.random
        lognorm = self._rng.lognormvariate
        self._ticket_n += 1
        tid = f"T{self._prefix}{self._ticket_n}"
        channel = self._channel(rnd())
        category = self._category(rnd())
        priority = self._priority(rnd())
        region = self._region(rnd())
        value: dict[str, object] = {
            "event_id": "",
            "type": "ticket.created",
            "ts": ts,
            "ticket_id": tid,
            "channel": channel,
            "category": category,
            "priority": priority,
            "region": region,
            "customer_tier": "vip" if rnd() < 0.12 else "normal",
        }
        if category != "inquiry" or rnd() < 0.3:
            order = self._recent_order(region)
            if order is not None:
                value["order_id"] = order

        slow = self.config.reply_slowdown if self.in_surge(ts) else 1.0
        steps: list[tuple[int, str, dict[str, object]]] = []
        resolved_at: int | None

        bot_p = 0.18 if channel == "chat" else 0.10 if channel == "app" else 0.0
        if category != "complaint" and rnd() < bot_p:
            # resolved by the bot, no agent reply ever
            b = ts + 1000 + int(rnd() * 4000)
            steps.append((b, "ticket.replied", {"by": "bot"}))
            resolved_at = b + 30_000 + int(rnd() * 570_000)
            steps.append((resolved_at, "ticket.resolved", _NO_EXTRA))
        else:
            sla = FIRST_RESPONSE_SLA_MS[channel]
            f = lognorm(self._fr_mu[channel], self._fr_sigma) * slow
            f = min(max(f, 1000.0), 1.9 * sla * slow)  # tail capped below 2x SLA normally
            mu, sigma = self._res[priority]
            r = lognorm(mu, sigma) * slow
            if priority == "P1":
                r = min(r, 0.97 * RESOLUTION_SLA_MS["P1"] * slow)
                f = min(f, 0.4 * r)  # P1 tickets are picked up first
            else:
                r = min(r, 3.0 * RESOLUTION_SLA_MS[priority])
            r = max(r, f + 60_000 + rnd() * 1_200_000)
            if channel == "chat" and rnd() < 0.6:  # the bot greets before an agent
                steps.append((ts + int(f * (0.1 + 0.5 * rnd())), "ticket.replied", {"by": "bot"}))
            agent: dict[str, object] = {"by": "agent", "agent_id": f"A{int(rnd() * 300):03d}"}
            steps.append((ts + int(f), "ticket.replied", agent))
            span = r - f
            if rnd() < 0.5:
                steps.append((ts + int(f + span * (0.2 + 0.6 * rnd())), "ticket.replied", agent))
            if rnd() < 0.08:
                steps.append(
                    (ts + int(f + span * (0.1 + 0.3 * rnd())), "ticket.transferred",
                     {"to": "expert"})
                )
            esc_p = 0.10 if category == "complaint" else 0.01
            if rnd() < esc_p:
                steps.append(
                    (ts + int(f + span * (0.2 + 0.4 * rnd())), "ticket.escalated",
                     {"level": "L2", "reason": "complaint" if category == "complaint"
                      else "sla_risk"})
                )
            if priority in ("P3", "P4") and rnd() < 0.01:
                resolved_at = None  # left open
            else:
                resolved_at = ts + int(r)
                steps.append((resolved_at, "ticket.resolved", _NO_EXTRA))

        if resolved_at is not None:
            if rnd() < 0.03:
                reopen = resolved_at + 1_800_000 + int(rnd() * 12 * _HOUR_MS)
                steps.append((reopen, "ticket.reopened", _NO_EXTRA))
                resolved_at = reopen + int(lognorm(math.log(2 * _HOUR_MS), 0.6))
                steps.append((resolved_at, "ticket.resolved", _NO_EXTRA))
            if rnd() < 0.4:
                steps.append(
                    (resolved_at + 60_000 + int(rnd() * 2 * _HOUR_MS), "ticket.rated",
                     self._rating())
                )
        if steps:
            self._schedule(_Plan(TICKETS, "ticket_id", tid, steps))
        return self._finish(TICKETS, tid, value, ts)

    def _rating(self) -> dict[str, object]:
        rnd = self._rng.random
        u = rnd()
        out: dict[str, object] = {}
        if u < 0.9:
            c = rnd()
            out["csat"] = 5 if c < 0.45 else 4 if c < 0.75 else 3 if c < 0.87 else (
                2 if c < 0.93 else 1
            )
        if u >= 0.3:
            c = rnd()
            out["nps"] = (
                10 if c < 0.25 else 9 if c < 0.45 else 8 if c < 0.60 else 7 if c < 0.72
                else int(rnd() * 7)
            )
        return out

    # ------------------------------------------------------------------ logistics
    def _new_delivery(self, ts: int) -> SimEvent:
        rnd = self._rng.random
        self._order_n += 1
        oid = f"O{self._prefix}{self._order_n}"
        region = self._region(rnd())
        value: dict[str, object] = {
            "event_id": "",
            "type": "shipment.delivered",
            "ts": ts,
            "order_id": oid,
            "region": region,
        }
        if rnd() < 0.9:
            if rnd() < 0.05:
                promised = ts - _HOUR_MS - int(rnd() * 47 * _HOUR_MS)  # late
            else:
                promised = ts + 2 * _HOUR_MS + int(rnd() * 70 * _HOUR_MS)
            value["promised_ts"] = rfc3339(promised) if self._order_n % 5 == 0 else promised
        ring = self._recent_orders[region]
        if len(ring) < _RING:
            ring.append(oid)
        else:
            pos = self._recent_pos[region]
            ring[pos] = oid
            self._recent_pos[region] = (pos + 1) % _RING

        cfg = self.config
        p = cfg.return_rate
        if region == cfg.spike_region and self.in_surge(ts):
            p = min(1.0, p * cfg.spike_return_factor)
        if rnd() < p:
            self._plan_return(ts + 1 + int(rnd() * 5_000), region)
        return self._finish(LOGISTICS, oid, value, ts)

    def _plan_return(self, t: int, region: str) -> None:
        rnd = self._rng.random
        self._return_n += 1
        rid = f"R{self._prefix}{self._return_n}"
        kind = self._kind(rnd())
        requested: dict[str, object] = {
            "region": region,
            "reason": self._reason(rnd()),
            "kind": kind,
        }
        order = self._recent_order(region)  # an earlier order of that region
        if order is not None:
            requested["order_id"] = order
        steps: list[tuple[int, str, dict[str, object]]] = [(t, "return.requested", requested)]
        u = rnd()
        if u < 0.05:  # cancelled by the customer before shipping it back
            steps.append((t + 600_000 + int(rnd() * 12 * _HOUR_MS), "return.cancelled",
                          _NO_EXTRA))
        else:
            v = rnd()
            if v < 0.10:
                total = 12 + 12 * rnd()
            elif v < 0.92:
                total = 24 + 24 * rnd()
            else:
                total = 48 + 24 * rnd()
            total_ms = int(total * _HOUR_MS)
            received = t + int(total_ms * (0.3 + 0.3 * rnd()))
            inspected = received + int((t + total_ms - received) * (0.3 + 0.5 * rnd()))
            passed = rnd() < 0.95
            steps.append((received, "return.received", _NO_EXTRA))
            steps.append((inspected, "return.inspected", {"passed": passed}))
            if passed:
                end_type = "return.refunded" if kind == "return" else "return.exchanged"
                steps.append((t + total_ms, end_type, _NO_EXTRA))
            else:
                steps.append((inspected + 600_000 + int(rnd() * 6 * _HOUR_MS),
                              "return.cancelled", _NO_EXTRA))
        self._schedule(_Plan(LOGISTICS, "return_id", rid, steps))


def _step_ts(step: tuple[int, str, dict[str, object]]) -> int:
    return step[0]


def rfc3339(ts_ms: int) -> str:
    """``ts_ms`` as an RFC 3339 string with the +08:00 offset and milliseconds."""
    dt = datetime.fromtimestamp(ts_ms // 1000, tz=_CST).replace(microsecond=(ts_ms % 1000) * 1000)
    return dt.isoformat(timespec="milliseconds")


def bad_messages(seed: int, ts_ms: int) -> list[tuple[str, str, bytes]]:
    """Malformed messages ``(topic kind, key, raw value)`` for the demo and tests.

    Each one is rejected by the decoder with a distinct reason (see docs/semantics.md);
    ``ts_ms`` should be close to the wall clock so only the far-future one is in the future.
    """
    def enc(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    p = f"bad-{seed}-"
    created: dict[str, object] = {
        "type": "ticket.created", "ts": ts_ms, "channel": "chat", "category": "return",
        "priority": "P3", "region": "east",
    }
    return [
        # invalid_json: truncated JSON
        (TICKETS, p + "0", b'{"event_id":"' + (p + "0").encode() + b'","type":"ticket.created",'),
        # invalid_json: not UTF-8
        (TICKETS, p + "1",
         b'{"event_id":"' + (p + "1").encode() + b'\xff\xfe","type":"ticket.resolved","ts":'
         + str(ts_ms).encode() + b',"ticket_id":"T1"}'),
        # invalid_json: JSON but not an object
        (LOGISTICS, p + "2", b'["shipment.delivered", 1]'),
        # missing_field: no event_id
        (TICKETS, p + "3", enc({**created, "ticket_id": p + "3"})),
        # unknown_type
        (TICKETS, p + "4", enc({"event_id": p + "4", "type": "ticket.deleted", "ts": ts_ms,
                                "ticket_id": p + "4"})),
        # too_large: over 64 KiB
        (TICKETS, p + "5", enc({**created, "event_id": p + "5", "ticket_id": p + "5",
                                "note": "x" * 70_000})),
        # invalid_field: csat "five"
        (TICKETS, p + "6", enc({"event_id": p + "6", "type": "ticket.rated", "ts": ts_ms,
                                "ticket_id": p + "6", "csat": "five"})),
        # future_timestamp: a year ahead
        (LOGISTICS, p + "7", enc({"event_id": p + "7", "type": "shipment.delivered",
                                  "ts": ts_ms + 365 * _DAY_MS, "order_id": p + "7",
                                  "region": "east"})),
        # invalid_timestamp
        (LOGISTICS, p + "8", enc({"event_id": p + "8", "type": "return.received",
                                  "ts": "yesterday", "return_id": p + "8"})),
    ]
