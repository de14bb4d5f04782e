"""A thin producer for the simulator, the demo and the tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from consumers.kafka_settings import client_settings
from core.config import KafkaConfig
from core.errors import BrokerError

__all__ = ["EventPublisher"]


class EventPublisher:
    """Sends JSON events (or raw bytes) keyed by entity id, so one ticket stays in order."""

    def __init__(self, cfg: KafkaConfig, **overrides: Any) -> None:
        settings = client_settings(cfg, "producer")
        settings.update({"linger_ms": 20, "batch_size": 256 * 1024, "acks": 1})
        settings.update(overrides)
        try:
            self._producer = KafkaProducer(**settings)
        except KafkaError as exc:  # no broker reachable: one line, not a traceback
            raise BrokerError(f"Kafka at {cfg.bootstrap_servers}: {exc}") from None
        self._topics = {"tickets": cfg.tickets_topic, "logistics": cfg.logistics_topic}

    def topic(self, kind_or_name: str) -> str:
        return self._topics.get(kind_or_name, kind_or_name)

    def send(self, topic: str, key: str | bytes | None, value: dict[str, object] | bytes | None,
             timestamp_ms: int | None = None) -> None:
        if isinstance(value, dict):
            value = orjson.dumps(value)
        if isinstance(key, str):
            key = key.encode()
        self._producer.send(self.topic(topic), key=key, value=value, timestamp_ms=timestamp_ms)

    def send_all(self, messages: Iterable[tuple[str, Any, Any]]) -> int:
        n = 0
        for topic, key, value in messages:
            self.send(topic, key, value)
            n += 1
        return n

    def flush(self, timeout: float | None = 30.0) -> None:
        self._producer.flush(timeout)

    def try_flush(self, timeout: float | None = 30.0) -> bool:
        """False if the broker has not confirmed everything within ``timeout``: the
        records stay buffered and the producer keeps retrying them (a paused broker)."""
        try:
            self._producer.flush(timeout)
        except KafkaTimeoutError:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(KafkaTimeoutError):  # what is unconfirmed by now is lost
            self._producer.close(timeout=timeout)
