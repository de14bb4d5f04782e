"""Create the event topics and their dead-letter twins (idempotent).

A dead-letter topic must accept whatever its source topic accepts, or the copy of a big
rejected message is refused: it is created with the source's ``max.message.bytes`` (read
with DescribeConfigs) plus room for the reason headers. A broker that does not describe
the source's limit (Tansu reports none) gets no override: its default applies.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from consumers.kafka_settings import client_settings
from core.config import KafkaConfig
from core.errors import BrokerError

__all__ = ["DLQ_HEADROOM_BYTES", "ensure_dead_letter_topic", "ensure_topics", "max_message_bytes"]

log = logging.getLogger(__name__)

# the headers a DLQ copy adds (reason, error ≤ 512 B, source topic/partition/offset) and
# the batch overhead, with room to spare
DLQ_HEADROOM_BYTES = 64 * 1024


def ensure_topics(cfg: KafkaConfig, partitions: int = 3, replication: int = 1) -> list[str]:
    """Create ``tickets``, ``logistics`` and both ``.dlq`` topics where missing."""
    try:
        admin = KafkaAdminClient(**client_settings(cfg, "admin"))
    except KafkaError as exc:  # no broker reachable: one line, not a traceback
        raise BrokerError(f"Kafka at {cfg.bootstrap_servers}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        missing = [t for t in cfg.topics if t not in existing]
        for name in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
                admin.create_topics([NewTopic(name, partitions, replication)])
        for topic in cfg.topics:
            dlq = topic + cfg.dlq_suffix
            if dlq not in existing:
                _create_twin(admin, topic, dlq, partitions, replication)
                missing.append(dlq)
        if missing:
            log.info("created topics %s", missing)
        return missing
    finally:
        admin.close()


def ensure_dead_letter_topic(cfg: KafkaConfig, source: str) -> None:
    """Create ``source``'s dead-letter twin if missing, with the source's partition count,
    replication and size limit; an existing twin too small for the source is reported."""
    dlq = source + cfg.dlq_suffix
    admin = KafkaAdminClient(**client_settings(cfg, "admin"))
    try:
        existing = set(admin.list_topics())
        if dlq in existing:
            need, have = max_message_bytes(admin, source), max_message_bytes(admin, dlq)
            if need is not None and have is not None and have < need + DLQ_HEADROOM_BYTES:
                log.warning(
                    "dead-letter topic %s accepts messages up to %d bytes, its source %s up "
                    "to %d: copies of the largest will be refused (raise %s max.message.bytes"
                    " to %d)", dlq, have, source, need, dlq, need + DLQ_HEADROOM_BYTES)
            return
        partitions, replication = 1, 1
        if source in existing:
            partitions, replication = _layout(admin, source)
        _create_twin(admin, source, dlq, partitions, replication)
        log.info("created dead-letter topic %s", dlq)
    finally:
        admin.close()


def max_message_bytes(admin: KafkaAdminClient, topic: str) -> int | None:
    """The topic's ``max.message.bytes`` as the broker describes it; None if it does not."""
    try:
        described: dict[str, Any] = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        value = described["topic"][topic]["max.message.bytes"]["value"]
        return int(value)
    except (KafkaError, KeyError, TypeError, ValueError) as exc:
        log.debug("no max.message.bytes for %s: %r", topic, exc)
        return None


def _layout(admin: KafkaAdminClient, topic: str) -> tuple[int, int]:
    """(partitions, replication factor) of an existing topic."""
    try:
        parts = admin.describe_topics([topic])[0]["partitions"]
        return max(1, len(parts)), max(1, len(parts[0]["replica_nodes"]))
    except (KafkaError, KeyError, IndexError) as exc:
        log.warning("cannot describe topic %s (%r): its dead-letter twin gets 1 partition, "
                    "replication 1", topic, exc)
        return 1, 1


def _create_twin(admin: KafkaAdminClient, source: str, dlq: str, partitions: int,
                 replication: int) -> None:
    limit = max_message_bytes(admin, source)
    configs = {} if limit is None else {"max.message.bytes": str(limit + DLQ_HEADROOM_BYTES)}
    with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
        admin.create_topics([NewTopic(dlq, partitions, replication, topic_configs=configs)])
