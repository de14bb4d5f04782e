"""Topics written by librdkafka in every codec producers use, read by ``pulse run``.

The conformance scenario is produced by ``confluent_kafka.Producer`` (librdkafka: not our
client) with each ``compression.type``, and the service's /metrics must match
expected.json exactly, as they do for the uncompressed topics our own producer writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from kafka.record.default_records import DefaultRecordBatch

from consumers.admin import ensure_topics
from tests.conftest import conformance_dir
from tests.integration.helpers import read_topic
from tests.oracle import diff, expected_from_conformance, from_exposition, load_conformance
from tests.reliability.pulse_process import PulseRun, total

pytestmark = pytest.mark.broker

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def produce_with_librdkafka(bootstrap: str, messages: list[tuple[str, str | None, bytes]],
                            codec: str) -> None:
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap,
        "compression.type": codec,
        "linger.ms": 20,  # batches of many records: what compression works on
        "partitioner": "murmur2_random",  # the Java client's partitioner
    })
    errors: list[Any] = []
    for topic, key, value in messages:
        producer.produce(topic, value=value, key=key,
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


@pytest.mark.parametrize("codec", list(CODEC_IDS))
def test_conformance_produced_by_librdkafka(codec: str, make_config, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config()
    ensure_topics(cfg.kafka)
    rename = {"aftersales.tickets": cfg.kafka.tickets_topic,
              "aftersales.logistics": cfg.kafka.logistics_topic}
    messages = load_conformance(conformance_dir() / "messages.jsonl")
    produce_with_librdkafka(cfg.kafka.bootstrap_servers,
                            [(rename[t], k, v) for t, k, v in messages], codec)

    # the log really holds batches in that codec (seen by a reader in this process)
    seen: set[int] = set()
    original = DefaultRecordBatch._maybe_uncompress

    def spy(self: DefaultRecordBatch) -> None:
        seen.add(self.compression_type)
        original(self)

    monkeypatch.setattr(DefaultRecordBatch, "_maybe_uncompress", spy)
    assert len(read_topic(cfg, cfg.kafka.tickets_topic)) > 0
    assert CODEC_IDS[codec] in seen, seen
    monkeypatch.undo()

    with PulseRun(cfg, tmp_path) as pulse:
        text = pulse.wait_ready()
        assert pulse.alive
    got = from_exposition(text.replace(cfg.kafka.tickets_topic, "aftersales.tickets")
                          .replace(cfg.kafka.logistics_topic, "aftersales.logistics"))
    want = expected_from_conformance(conformance_dir() / "expected.json")
    assert diff(got, want) == []
    # nothing was skipped, and the series exist (at 0) for every topic and reason
    assert "aftersales_consumer_errors_total{" in text
    assert total(text, "aftersales_consumer_errors_total") == 0
