"""Producing message lists to the real broker and reading metrics back, for the tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson
from kafka import KafkaConsumer

from consumers.admin import ensure_topics
from consumers.publish import EventPublisher
from core.config import Config
from pulse.simulation import Simulator, bad_messages, scenario

Message = tuple[str, str | None, bytes]  # (topic, key, value)


def produce(cfg: Config, messages: Iterable[Message]) -> int:
    ensure_topics(cfg.kafka)
    pub = EventPublisher(cfg.kafka)
    n = 0
    for topic, key, value in messages:
        pub.send(topic, key, value)
        n += 1
    pub.flush()
    pub.close()
    return n


def simulated(cfg: Config, *, hours: float, seed: int, rate: float = 4.0,
              start_ms: int | None = None, bad_every: int = 0,
              scenario_name: str = "normal", customer_messages: bool = False) -> list[Message]:
    """A simulator scenario as (real topic, key, value bytes), historical by default;
    ``customer_messages``: customers write again (``ticket.message``, SPEC §7)."""
    start = start_ms if start_ms is not None else int(time.time() * 1000) - int(
        (hours + 48) * 3600 * 1000
    )
    sim = Simulator(scenario(scenario_name, rate=rate, customer_messages=customer_messages),
                    seed=seed, start_ms=start)
    topics = {"tickets": cfg.kafka.tickets_topic, "logistics": cfg.kafka.logistics_topic}
    out: list[Message] = []
    bad = bad_messages(seed, start) if bad_every else []
    for i, ev in enumerate(sim.until(start + int(hours * 3600 * 1000))):
        out.append((topics[ev.topic], ev.key, orjson.dumps(ev.value)))
        if bad_every and i % bad_every == bad_every - 1 and bad:
            kind, key, raw = bad[(i // bad_every) % len(bad)]
            out.append((topics[kind], key, raw))
    return out


def handled(text: str) -> float:
    """Messages the service has dealt with: accepted + rejected + duplicate."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(("aftersales_events_total{", "aftersales_events_rejected_total{",
                            "aftersales_events_duplicate_total{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def read_topic(cfg: Config, topic: str, timeout_ms: int = 3000) -> list[Any]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=None,
        auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()
