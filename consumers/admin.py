"""Create the event topics and their dead-letter twins (idempotent)."""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from consumers.kafka_settings import client_settings
from pulse.config import KafkaConfig
from pulse.errors import BrokerError

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)


def ensure_topics(cfg: KafkaConfig, partitions: int = 3, replication: int = 1) -> list[str]:
    """Create ``tickets``, ``logistics`` and both ``.dlq`` topics where missing."""
    names = [t for topic in cfg.topics for t in (topic, topic + cfg.dlq_suffix)]
    try:
        admin = KafkaAdminClient(**client_settings(cfg, "admin"))
    except KafkaError as exc:  # no broker reachable: one line, not a traceback
        raise BrokerError(f"Kafka at {cfg.bootstrap_servers}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        for name in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
                admin.create_topics([NewTopic(name, partitions, replication)])
        if missing:
            log.info("created topics %s", missing)
        return missing
    finally:
        admin.close()
