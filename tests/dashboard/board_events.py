"""Realistic after-sales traffic for the board's tests, with SPEC §1 JSON events.

``pulse.simulation`` is the project's generator; this small seeded one keeps the board's
tests independent of its scenarios and lets a test pin exactly what happens when (a
surge, a regional return spike, tickets left unanswered).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from consumers.decode import Decoder
from core.events import DEFAULT_REGIONS
from metrics.engine import Engine

__all__ = ["Message", "feed", "traffic"]

Message = tuple[str, str, dict[str, Any]]  # (topic kind, key, value)

_CHANNELS = (("chat", 0.5, 30), ("phone", 0.2, 900), ("app", 0.2, 1800), ("email", 0.1, 86400))
_PRIOS = (("P1", 0.05), ("P2", 0.2), ("P3", 0.5), ("P4", 0.25))
_CATS = ("return", "exchange", "refund", "repair", "complaint", "inquiry", "logistics")
_REGION_W = (0.3, 0.2, 0.15, 0.12, 0.1, 0.06, 0.07)


def _pick(rng: random.Random, items: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    x, acc = rng.random(), 0.0
    for item in items:
        acc += item[1]
        if x < acc:
            return item
    return items[-1]


def traffic(start_ms: int, end_ms: int, *, rate: float = 20.0, seed: int = 7,
            surge: tuple[int, int] | None = None, spike_region: str = "south",
            tickets_only: bool = False, prefix: str = "T") -> list[Message]:
    """Events with ``start_ms <= ts < end_ms``, sorted by ``ts``; ``rate`` tickets/min.

    During ``surge`` (ms span) arrivals are 3.5×; ``spike_region`` returns 1.6× as often.
    """
    rng = random.Random(seed)
    out: list[tuple[int, Message]] = []
    t = start_ms
    n = 0
    while True:
        mult = 3.5 if surge and surge[0] <= t < surge[1] else 1.0
        t += int(rng.expovariate(rate * mult / 60000.0)) + 1
        if t >= end_ms:
            break
        n += 1
        tid = f"{prefix}{n:07d}"
        ch, _w, sla = _pick(rng, _CHANNELS)
        prio = _pick(rng, _PRIOS)[0]
        region = rng.choices(DEFAULT_REGIONS, _REGION_W)[0]

        def ev(ts: int, etype: str, _tid: str = tid, **extra: Any) -> None:
            out.append((ts, ("tickets", _tid, {
                "event_id": f"{_tid}-{etype}-{ts}", "type": etype, "ts": ts,
                "ticket_id": _tid, **extra})))

        ev(t, "ticket.created", channel=ch, category=rng.choice(_CATS), priority=prio,
           region=region)
        if rng.random() < 0.06:  # answered by the bot alone
            ev(t + rng.randint(5000, 120000), "ticket.replied", by="bot")
            ev(t + rng.randint(120000, 600000), "ticket.resolved")
        elif rng.random() < 0.995:
            reply = t + int(rng.expovariate(1.0 / (sla * 0.3 * mult)) * 1000) + 1000
            ev(reply, "ticket.replied", by="agent", agent_id=f"a{rng.randint(1, 40)}")
            if rng.random() < 0.09:
                ev(reply + 60000, "ticket.escalated", level="2", reason="angry")
            elif rng.random() < 0.1:
                ev(reply + 30000, "ticket.transferred", to="expert")
            if rng.random() < 0.8:
                done = reply + int(rng.expovariate(1.0 / 5400.0) * 1000) + 60000
                ev(done, "ticket.resolved")
                if rng.random() < 0.35:
                    ev(done + 120000, "ticket.rated", csat=rng.choice((5, 5, 5, 4, 4, 4, 4, 3, 2)),
                       nps=rng.choice((10, 10, 9, 9, 9, 8, 7, 6, 3)))
        if tickets_only:
            continue
        for _ in range(3):  # deliveries, and returns against them
            r = rng.choices(DEFAULT_REGIONS, _REGION_W)[0]
            oid = f"O{n:07d}{_}"
            dts = t + rng.randint(0, 59000)
            out.append((dts, ("logistics", oid, {
                "event_id": f"{oid}-d", "type": "shipment.delivered", "ts": dts,
                "order_id": oid, "region": r, "promised_ts": dts + rng.randint(-3600000, 86400000),
            })))
            if rng.random() < 0.1 * (1.6 if r == spike_region else 1.0):
                rid = f"R{n:07d}{_}"
                rts = dts + 1000
                out.append((rts, ("logistics", rid, {
                    "event_id": f"{rid}-q", "type": "return.requested", "ts": rts,
                    "return_id": rid, "region": r, "order_id": oid, "kind": "return",
                    "reason": rng.choice(("quality", "size", "damaged", "changed_mind")),
                })))
    out.sort(key=lambda x: x[0])
    return [m for ts, m in out if ts < end_ms]


def feed(engine: Engine, messages: list[Message], wall_ms: int) -> int:
    """Decode and fold ``messages`` into ``engine`` as the reader would; returns accepted."""
    cfg = engine.config
    dec = Decoder(regions=cfg.regions, max_message_bytes=cfg.max_message_bytes,
                  max_future_skew_s=cfg.max_future_skew_s)
    topics = {"tickets": cfg.kafka.tickets_topic, "logistics": cfg.kafka.logistics_topic}
    n = 0
    for kind, _key, value in messages:
        event = dec.decode(orjson.dumps(value), wall_ms)
        if hasattr(event, "event_id"):
            engine.process(topics[kind], event, wall_ms)  # type: ignore[arg-type]
            n += 1
    return n

