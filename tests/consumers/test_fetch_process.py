"""The fetch process against the real broker: same results as one thread, survives its
child's death, keeps the settings (secrets) off the command line."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from kafka import ConsumerRebalanceListener, TopicPartition

from consumers.admin import ensure_topics
from consumers.fetch_process import FetchProcessConsumer
from core.snapshot import Snapshot
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import handled, produce, simulated

pytestmark = pytest.mark.broker
HOUR = 3_600_000


class _Count(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.calls.append(("revoked", len(revoked)))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.calls.append(("assigned", len(assigned)))


def _series(text: str) -> dict[str, str]:
    """Every aftersales series except the process-local ones (lag, health, ages)."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("aftersales_") or any(
            k in line for k in ("lag", "broker_up", "age_seconds", "_live", "overdue",
                                "checkpoint_loads")
        ):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = value
    return out


def test_fetch_process_equals_one_thread_and_survives_its_child(make_config) -> None:
    # small fetches: the backlog written while the child is down takes many polls
    cfg = make_config(kafka__client={"client_id": "pulse-test-marker-7f3a"},
                      kafka__consumer={"max_partition_fetch_bytes": 16384})
    one_thread = make_config(
        kafka__tickets_topic=cfg.kafka.tickets_topic,
        kafka__logistics_topic=cfg.kafka.logistics_topic,
        kafka__fetch_process=False,
    )
    assert cfg.kafka.fetch_process
    assert not one_thread.kafka.fetch_process
    start = int(time.time() * 1000) - 51 * HOUR
    messages = simulated(cfg, hours=3, seed=41, rate=8.0, bad_every=50, start_ms=start)
    later = simulated(cfg, hours=3, seed=42, rate=8.0, start_ms=start + 3 * HOUR)
    n = produce(cfg, messages)

    with Service(one_thread) as ref:
        assert ref.wait_ready(60)
        wait_for(lambda: handled(scrape(ref.metrics_url)) == n, 30)
        expected = _series(scrape(ref.metrics_url))

    judged: list[Snapshot] = []  # what the alerting would judge: ready snapshots
    with Service(cfg, listeners=(judged.append,), tick_s=60) as svc:
        assert svc.wait_ready(60)
        consumer = svc.reader._consumer
        assert isinstance(consumer, FetchProcessConsumer)
        wait_for(lambda: handled(scrape(svc.metrics_url)) == n, 30)
        assert _series(scrape(svc.metrics_url)) == expected

        # the settings travel over the pipe, not on the command line
        pid = consumer.pid
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"pulse-test-marker" not in cmdline
        assert b"bootstrap" not in cmdline

        # the child dies while three more hours are written: it is started again and gets
        # every partition back as it was, so the state is kept (no rebuild), and the
        # backlog is judged on the way, not only once it has been read to its end
        rebuilds = svc.reader.rebuilds
        os.kill(pid, signal.SIGKILL)
        n += produce(cfg, later)
        wait_for(lambda: consumer.restarts == 1, 30)
        wait_for(lambda: svc.reader.ready and handled(scrape(svc.metrics_url)) == n, 60)
        assert consumer.pid != pid
        assert svc.reader.rebuilds == rebuilds
        on_the_way = {s.clock_ms // 60_000 for s in judged
                      if start + 3 * HOUR + 5 * 60_000 < s.clock_ms < start + 6 * HOUR - 5 * 60_000}
        assert len(on_the_way) >= 30, [
            ((s.clock_ms - start) // 60_000, sum(s.consumer_lag.values())) for s in judged]
        got = _series(scrape(svc.metrics_url))

    with Service(one_thread) as ref:  # the same log read by one thread, from scratch
        assert ref.wait_ready(60)
        wait_for(lambda: handled(scrape(ref.metrics_url)) == n, 30)
        assert got == _series(scrape(ref.metrics_url))
    # closing stops the child
    deadline = time.monotonic() + 10
    while Path(f"/proc/{consumer.pid}").exists() and time.monotonic() < deadline:
        status = Path(f"/proc/{consumer.pid}/status").read_text()
        if "zombie" in status:
            break
        time.sleep(0.1)
    else:
        assert not Path(f"/proc/{consumer.pid}").exists()


def test_a_reader_busy_past_its_poll_interval_keeps_the_fetch_process_in_the_group(
        make_config) -> None:
    """The reader busy for three poll intervals (a long snapshot, a checkpoint round):
    the child, blocked on a full pipe, would not poll and be put out of the group — a
    rebalance, the partitions read again. It keeps polling for its membership instead."""
    cfg = make_config()
    ensure_topics(cfg.kafka, partitions=3)
    topic = cfg.kafka.tickets_topic
    producer = confluent_kafka.Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers,
                                         "linger.ms": 50})
    per_partition = 4000  # 3.6 MB: many times what the pipe holds
    for i in range(per_partition):
        for p in range(3):
            producer.produce(topic, b"x" * 300 + str(i).encode(), partition=p)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    listener = _Count()
    consumer = FetchProcessConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=cfg.kafka.group_id,
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=200,
        max_poll_interval_ms=3000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    consumer.subscribe([topic], listener)
    got: dict[int, list[int]] = {p: [] for p in range(3)}

    def read(until: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not until() and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=200).items():
                got[tp.partition].extend(r.offset for r in recs)

    try:
        read(lambda: any(got.values()), 60)
        assert any(got.values())
        time.sleep(10.0)  # the reader is busy: it neither polls nor reads the pipe
        read(lambda: all(len(v) >= per_partition for v in got.values()), 60)
        # one assignment; kafka-python tells of an empty revoke before the first join
        assert [c for c in listener.calls if c != ("revoked", 0)] == [("assigned", 3)]
        assert got == {p: list(range(per_partition)) for p in range(3)}
        assert consumer.assignment() == {TopicPartition(topic, p) for p in range(3)}
    finally:
        consumer.close()
