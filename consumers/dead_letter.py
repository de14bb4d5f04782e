"""The dead-letter topic: every rejected message, untouched, with the reason in headers.

Whatever the reader receives it must be able to copy: the producer's request limit is
far above anything a broker delivers (kafka-python's default, 1 MiB, refused the copy of
a 2 MiB message by raising out of the reader, and every restart met the same record).
The twin topic is created on first use with its source's size limit
(``consumers.admin``). A copy the broker still refuses, or cannot take in time, is
counted in ``aftersales_dead_letter_failures_total{topic,reason}`` and logged with the
record's partition and offset, and a copy refused for its size leaves a marker in the DLQ
instead (empty value, the same headers plus ``pulse.dlq_error`` and
``pulse.source.size``): the DLQ still says which source offset to fetch. The stream goes on.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from itertools import product
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from consumers.admin import ensure_dead_letter_topic
from consumers.decode import Rejection
from consumers.kafka_settings import client_settings
from core.config import KafkaConfig

__all__ = ["DLQ_MAX_REQUEST_BYTES", "DeadLetterFailure", "DeadLetterQueue", "RecordLike"]

log = logging.getLogger(__name__)

# Apache Kafka refuses any request above socket.request.max.bytes (100 MiB by default):
# nothing larger can have been produced in the first place
DLQ_MAX_REQUEST_BYTES = 100 * 1024 * 1024
_UNAVAILABLE_RETRY_S = 30.0


class DeadLetterFailure(enum.Enum):
    """Why a copy is missing from the DLQ; the ``reason`` label of
    ``aftersales_dead_letter_failures_total``."""

    TOO_LARGE = "too_large"  # over the DLQ topic's (or the producer's) size limit
    UNAVAILABLE = "unavailable"  # no metadata for the topic, or no answer in time
    REFUSED = "refused"  # any other refusal (authorization, invalid record…)


def _failure(exc: BaseException) -> DeadLetterFailure:
    if isinstance(exc, MessageSizeTooLargeError | RecordListTooLargeError):
        return DeadLetterFailure.TOO_LARGE
    if isinstance(exc, KafkaTimeoutError) or getattr(exc, "retriable", False):
        return DeadLetterFailure.UNAVAILABLE
    return DeadLetterFailure.REFUSED


class RecordLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class DeadLetterQueue:
    """Copies rejected records to ``<topic><suffix>``; :meth:`flush` before committing."""

    def __init__(self, cfg: KafkaConfig, *, ensure_topics: bool = True) -> None:
        settings: dict[str, Any] = {
            "acks": "all", "linger_ms": 10, "retries": 5,
            "max_request_size": DLQ_MAX_REQUEST_BYTES,
            # a missing topic must not hold the reader for kafka-python's 60 s per copy
            "max_block_ms": 10_000,
        }
        settings.update(client_settings(cfg, "producer"))  # kafka.client, kafka.producer win
        self._producer = KafkaProducer(**settings)
        self._cfg = cfg
        self._suffix = cfg.dlq_suffix
        self._ensure = ensure_topics
        self._prepared: set[str] = set()
        self._unavailable_until: dict[str, float] = {}
        self._lock = threading.Lock()  # failures are counted on the producer's IO thread too
        self._failures: dict[tuple[str, str], int] = dict.fromkeys(
            product(cfg.topics, [r.value for r in DeadLetterFailure]), 0)
        # markers for copies refused for their size, sent from the reader's thread
        self._markers: deque[tuple[str, bytes | None, list[tuple[str, bytes]]]] = deque()
        self.sent = 0

    def send(self, record: RecordLike, rejection: Rejection) -> None:
        """Never raises: a copy that cannot be made is counted and logged."""
        topic = record.topic
        if topic not in self._prepared:
            self._prepare(topic)
        if self._markers:
            self._send_markers()
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        headers += [
            ("pulse.reason", rejection.reason.value.encode()),
            ("pulse.error", rejection.detail.encode("utf-8", "replace")[:512]),
            ("pulse.source.topic", topic.encode()),
            ("pulse.source.partition", str(record.partition).encode()),
            ("pulse.source.offset", str(record.offset).encode()),
        ]
        if time.monotonic() < self._unavailable_until.get(topic, 0.0):
            self._failed(record, headers, KafkaTimeoutError("dead-letter topic unavailable"))
            return
        try:
            future = self._producer.send(
                topic + self._suffix, key=record.key, value=record.value, headers=headers
            )
        except KafkaTimeoutError as exc:  # no metadata in max_block_ms: do not wait again
            self._unavailable_until[topic] = time.monotonic() + _UNAVAILABLE_RETRY_S
            self._failed(record, headers, exc)
            return
        except (KafkaError, ValueError, TypeError) as exc:
            self._failed(record, headers, exc)
            return
        future.add_errback(lambda exc: self._failed(record, headers, exc))
        self.sent += 1

    def _send_markers(self) -> None:
        while self._markers:
            topic, key, headers = self._markers.popleft()
            try:
                self._producer.send(topic + self._suffix, key=key, value=b"",
                                    headers=headers).add_errback(
                    lambda exc, t=topic: log.error("dead-letter marker for %s lost: %s", t, exc))
            except (KafkaError, ValueError, TypeError) as exc:
                log.error("dead-letter marker for %s lost: %s", topic, exc)

    def _prepare(self, topic: str) -> None:
        """Create the twin topic once, at the first copy (the broker answers by then)."""
        self._prepared.add(topic)
        if not self._ensure:
            return
        try:
            ensure_dead_letter_topic(self._cfg, topic)
        except Exception as exc:  # no admin rights, say: the producer may auto-create it
            log.warning("cannot ensure dead-letter topic %s%s: %r", topic, self._suffix, exc)

    def _failed(self, record: RecordLike, headers: list[tuple[str, bytes]],
                exc: BaseException) -> None:
        reason = _failure(exc)
        with self._lock:
            key = (record.topic, reason.value)
            self._failures[key] = self._failures.get(key, 0) + 1
        size = len(record.value) if record.value is not None else 0
        if reason is DeadLetterFailure.TOO_LARGE:
            self._markers.append((record.topic, record.key, [
                *headers, ("pulse.dlq_error", f"{type(exc).__name__}: {exc}".encode()[:512]),
                ("pulse.source.size", str(size).encode())]))
        log.error(
            "dead-letter copy failed (%s): %s partition %d offset %d (%d bytes) is not in "
            "%s%s: %s", reason.value, record.topic, record.partition, record.offset, size,
            record.topic, self._suffix, exc,
        )

    def failures(self) -> dict[tuple[str, str], int]:
        """Copies that failed since start, by (source topic, reason)."""
        with self._lock:
            return dict(self._failures)

    def flush(self, timeout: float = 30.0) -> None:
        self._send_markers()
        self._producer.flush(timeout)

    def close(self) -> None:
        try:
            self._send_markers()
            self._producer.close(timeout=5)
        except Exception as exc:
            log.warning("dead-letter producer close failed: %s", exc)

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
