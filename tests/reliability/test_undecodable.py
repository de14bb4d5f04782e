"""Record batches that cannot be decoded never stall a partition or stop the service.

Two real kinds in a real log (Tansu stores batches as sent): a batch whose CRC is wrong
(a bit flipped after the producer sealed it) and a gzip batch with a consistent CRC whose
payload does not decompress (a buggy producer; kafka-python raises ``BadGzipFile``, not
even a ``KafkaError``). And a codec whose library is missing, in process. Each is counted
in ``aftersales_consumer_errors_total{topic,reason}``, logged with partition and offsets,
skipped; every good event around it is counted, and later events still arrive.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import confluent_kafka
import kafka.codec
import pytest

from consumers.admin import ensure_topics
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import handled, produce, simulated
from tests.reliability.pulse_process import (
    GZIP,
    PulseRun,
    produce_raw,
    record_batch,
    total,
    with_crc,
)

pytestmark = pytest.mark.broker


def _corrupt_batches(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """Write the two corrupt batches to partition 0; their (first, last) offsets."""
    event = b'{"event_id": "lost-%d", "type": "ticket.resolved", "ticket_id": "T1", "ts": 1}'
    bad_crc = record_batch([event % i for i in range(3)])
    bad_crc[-3] ^= 0x5A  # inside the last record: the CRC no longer matches
    bad_gzip = record_batch([event % i for i in range(3, 7)], compression=GZIP)
    bad_gzip[-12] ^= 0x5A  # inside the deflate stream / its trailer...
    with_crc(bad_gzip)  # ...under a CRC that matches: only decompressing finds it
    a = produce_raw(bootstrap, topic, 0, bad_crc)
    b = produce_raw(bootstrap, topic, 0, bad_gzip)
    return [(a, a + 2), (b, b + 3)]


@pytest.mark.parametrize("fetch_process", [True, False], ids=["fetch-child", "in-process"])
def test_corrupt_batches_are_counted_logged_and_skipped(
    fetch_process: bool, make_config, tmp_path: Path
) -> None:
    cfg = make_config()
    ensure_topics(cfg.kafka)
    tickets = cfg.kafka.tickets_topic
    good = simulated(cfg, hours=1, seed=21)
    half = len(good) // 2
    produce(cfg, good[:half])
    spans = _corrupt_batches(cfg.kafka.bootstrap_servers, tickets)
    produce(cfg, good[half:])

    settings = {"fetch_process": fetch_process}
    with PulseRun(cfg, tmp_path, kafka=settings) as pulse:
        text = pulse.wait_ready()
        assert handled(text) == len(good)  # every good event, before and after the batches
        assert total(text, "aftersales_consumer_errors_total", topic=tickets,
                     reason="corrupt_batch") == 2
        assert total(text, "aftersales_consumer_errors_total") == 2
        assert pulse.readyz() == 200
        # while live too: a corrupt batch among new events stalls nothing
        live = simulated(cfg, hours=0.2, seed=22, start_ms=int(time.time() * 1000) - 900_000)
        produce(cfg, live[:10])
        spans += _corrupt_batches(cfg.kafka.bootstrap_servers, tickets)
        produce(cfg, live[10:])
        wait_for(lambda: handled(pulse.metrics()) >= len(good) + len(live), timeout=30)
        time.sleep(0.7)
        text = pulse.metrics()
        assert handled(text) == len(good) + len(live)
        assert total(text, "aftersales_consumer_errors_total", reason="corrupt_batch") == 4
        assert total(text, "aftersales_broker_up") == 1
        assert pulse.readyz() == 200
        wait_for(lambda: total(pulse.metrics(), "aftersales_consumer_lag_messages") == 0,
                 timeout=10)
        assert pulse.alive
    log = pulse.output()
    for first, last in spans:
        assert re.search(rf"undecodable record batch skipped \(corrupt_batch\): topic "
                         rf"{re.escape(tickets)} partition 0 offsets {first}-{last}", log), log
    assert "failed crc check" in log
    assert "Traceback" not in log

    # a function of the log: a restart reads the batches again and counts them once
    with PulseRun(cfg, tmp_path, name="again", kafka=settings) as pulse:
        text = pulse.wait_ready()
        assert total(text, "aftersales_consumer_errors_total", reason="corrupt_batch") == 4
        assert handled(text) == len(good) + len(live)


def test_missing_codec_library_is_counted_and_skipped(
    make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if zstandard were not installed (in process: the fetch child would import it)."""
    cfg = make_config(kafka__fetch_process=False)
    ensure_topics(cfg.kafka)
    good = simulated(cfg, hours=1, seed=23)
    produce(cfg, good)
    producer = confluent_kafka.Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers,
                                         "compression.type": "zstd", "linger.ms": 100})
    event = b'{"event_id": "zstd-%d", "type": "ticket.resolved", "ticket_id": "T1", "ts": 1}'
    for i in range(50):
        producer.produce(cfg.kafka.logistics_topic, value=event % i, partition=1)
    assert producer.flush(10) == 0
    produce(cfg, good[:20])  # more after the batch (redeliveries: duplicates), still read
    monkeypatch.setattr(kafka.codec, "zstd", None)
    assert not kafka.codec.has_zstd()

    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        time.sleep(0.7)
        text = scrape(svc.metrics_url)
    assert handled(text) == len(good) + 20
    errors = total(text, "aftersales_consumer_errors_total", topic=cfg.kafka.logistics_topic,
                   reason="unsupported_codec")
    assert errors >= 1  # librdkafka may split the 50 records in more than one batch
    assert total(text, "aftersales_consumer_errors_total") == errors
