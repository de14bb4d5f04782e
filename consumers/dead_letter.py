"""The dead-letter topic: every rejected message, untouched, with the reason in headers."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from kafka import KafkaProducer

from consumers.decode import Rejection
from consumers.kafka_settings import client_settings
from pulse.config import KafkaConfig

__all__ = ["DeadLetterQueue", "RecordLike"]

log = logging.getLogger(__name__)


class RecordLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class DeadLetterQueue:
    """Copies rejected records to ``<topic><suffix>``; :meth:`flush` before committing."""

    def __init__(self, cfg: KafkaConfig) -> None:
        settings = client_settings(cfg, "producer")
        settings.update({"acks": "all", "linger_ms": 10, "retries": 5})
        self._producer = KafkaProducer(**settings)
        self._suffix = cfg.dlq_suffix
        self.sent = 0

    def send(self, record: RecordLike, rejection: Rejection) -> None:
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        headers += [
            ("pulse.reason", rejection.reason.value.encode()),
            ("pulse.error", rejection.detail.encode("utf-8", "replace")[:512]),
            ("pulse.source.topic", record.topic.encode()),
            ("pulse.source.partition", str(record.partition).encode()),
            ("pulse.source.offset", str(record.offset).encode()),
        ]
        self._producer.send(
            record.topic + self._suffix, key=record.key, value=record.value, headers=headers
        )
        self.sent += 1

    def flush(self, timeout: float = 30.0) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        try:
            self._producer.close(timeout=5)
        except Exception as exc:
            log.warning("dead-letter producer close failed: %s", exc)

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
