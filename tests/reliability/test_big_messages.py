"""Messages over 1 MiB: rejected ``too_large``, kept whole in the DLQ, never a crash loop.

Written by librdkafka among good events: a 2 MiB value, a 1.7 MB JSON object with 100 k
keys and a 9 MiB value (over the reader's 8 MiB partition fetch size: brokers since
KIP-74 return a first batch whole whatever the fetch size, Tansu too). Before, the DLQ
producer's 1 MiB request limit raised out of the reader and every restart met the same
record again.
"""

from __future__ import annotations

import time
from pathlib import Path

import confluent_kafka
import orjson
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from consumers.admin import (
    DLQ_HEADROOM_BYTES,
    ensure_dead_letter_topic,
    ensure_topics,
    max_message_bytes,
)
from consumers.kafka_settings import client_settings
from tests.integration.helpers import Message, handled, produce, read_topic, simulated
from tests.reliability.pulse_process import PulseRun, total

pytestmark = pytest.mark.broker

MIB = 1024 * 1024


def big_values(now_ms: int) -> list[bytes]:
    base = {"type": "ticket.created", "ts": now_ms - 3_600_000, "channel": "chat",
            "category": "return", "priority": "P2", "region": "east"}
    two_mib = orjson.dumps({**base, "event_id": "big-1", "ticket_id": "TB1",
                            "note": "x" * (2 * MIB)})
    keys = {f"key{i:06d}": i for i in range(100_000)}
    many_keys = orjson.dumps({**base, "event_id": "big-2", "ticket_id": "TB2", **keys})
    nine_mib = orjson.dumps({**base, "event_id": "big-3", "ticket_id": "TB3",
                             "note": "y" * (9 * MIB)})
    assert len(two_mib) > 2 * MIB
    assert 1_600_000 < len(many_keys) < 1_800_000
    return [two_mib, many_keys, nine_mib]


def produce_big(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap,
                                         "message.max.bytes": 16 * MIB})
    for v in values:
        producer.produce(topic, value=v)
    assert producer.flush(30) == 0


def _setup(cfg) -> tuple[list[Message], list[bytes]]:
    ensure_topics(cfg.kafka)
    good = simulated(cfg, hours=1, seed=31)
    big = big_values(int(time.time() * 1000))
    produce(cfg, good[: len(good) // 2])
    produce_big(cfg.kafka.bootstrap_servers, cfg.kafka.tickets_topic, big)
    produce(cfg, good[len(good) // 2:])
    return good, big


def test_big_messages_rejected_kept_whole_and_restart_is_ready(make_config,
                                                               tmp_path: Path) -> None:
    cfg = make_config()
    good, big = _setup(cfg)
    tickets = cfg.kafka.tickets_topic

    with PulseRun(cfg, tmp_path) as pulse:
        text = pulse.wait_ready()
        assert handled(text) == len(good) + len(big)
        assert total(text, "aftersales_events_rejected_total", topic=tickets,
                     reason="too_large") == len(big)
        assert total(text, "aftersales_events_rejected_total") == len(big)
        assert total(text, "aftersales_dead_letter_failures_total") == 0
        assert pulse.alive
        assert pulse.stop() == 0  # a clean stop: the offsets are committed

    dlq = read_topic(cfg, tickets + cfg.kafka.dlq_suffix)
    assert sorted(r.value for r in dlq) == sorted(big)  # whole, byte for byte
    assert {dict(r.headers)["pulse.reason"] for r in dlq} == {b"too_large"}

    # the same log again: ready, no crash loop, nothing copied twice
    with PulseRun(cfg, tmp_path, name="restart") as pulse:
        text = pulse.wait_ready()
        assert handled(text) == len(good) + len(big)
        time.sleep(3)
        assert pulse.alive
        assert pulse.readyz() == 200
    assert len(read_topic(cfg, tickets + cfg.kafka.dlq_suffix)) == len(big)
    assert "Traceback" not in pulse.output()


def test_a_refused_dead_letter_copy_is_counted_and_the_service_goes_on(
    make_config, tmp_path: Path
) -> None:
    """Tansu does not enforce max.message.bytes, so the refusal is the DLQ producer's own
    request limit (1 MiB, kafka-python's default): the refusal a too-small DLQ topic gives."""
    cfg = make_config()
    good, big = _setup(cfg)
    tickets = cfg.kafka.tickets_topic
    with PulseRun(cfg, tmp_path, kafka={"producer": {"max_request_size": MIB}}) as pulse:
        text = pulse.wait_ready()
        assert handled(text) == len(good) + len(big)
        assert total(text, "aftersales_dead_letter_failures_total", topic=tickets,
                     reason="too_large") == len(big)
        time.sleep(2)
        assert pulse.alive
        assert pulse.readyz() == 200
    log = pulse.output()
    assert log.count("dead-letter copy failed (too_large)") == len(big)
    # in their place, markers naming the source offset to fetch
    markers = read_topic(cfg, tickets + cfg.kafka.dlq_suffix)
    assert [r.value for r in markers] == [b""] * len(big)
    headers = [dict(r.headers) for r in markers]
    assert {h["pulse.reason"] for h in headers} == {b"too_large"}
    assert sorted(int(h["pulse.source.size"]) for h in headers) == sorted(map(len, big))
    assert all(b"MessageSizeTooLarge" in h["pulse.dlq_error"] for h in headers)
    assert all(h["pulse.source.topic"] == tickets.encode() for h in headers)
    assert f"{tickets} partition" in log
    assert "Traceback" not in log


def test_dead_letter_topic_takes_the_source_size_limit(make_config) -> None:
    cfg = make_config()
    admin = KafkaAdminClient(**client_settings(cfg.kafka, "admin"))
    try:
        limit = 5 * MIB
        admin.create_topics([NewTopic(cfg.kafka.tickets_topic, 2, 1,
                                      topic_configs={"max.message.bytes": str(limit)})])
        ensure_dead_letter_topic(cfg.kafka, cfg.kafka.tickets_topic)
        dlq = cfg.kafka.tickets_topic + cfg.kafka.dlq_suffix
        assert max_message_bytes(admin, dlq) == limit + DLQ_HEADROOM_BYTES
        assert len(admin.describe_topics([dlq])[0]["partitions"]) == 2
        # a source the broker describes no limit for: the twin gets the broker's default
        ensure_dead_letter_topic(cfg.kafka, cfg.kafka.logistics_topic)
        assert cfg.kafka.logistics_topic + cfg.kafka.dlq_suffix in admin.list_topics()
    finally:
        admin.close()
