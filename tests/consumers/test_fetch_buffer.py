"""The consumer's high watermark counts fetch responses still waiting in its buffer
(``consumers.fetch_buffer``), against the real broker and a librdkafka producer."""

from __future__ import annotations

import time
from collections.abc import Callable

import confluent_kafka
import pytest
from kafka import KafkaConsumer, TopicPartition

from consumers.admin import ensure_topics
from consumers.undecodable import SkippingConsumer
from core.config import Config

pytestmark = pytest.mark.broker


def _write(cfg: Config, per_partition: int, counts: dict[int, int]) -> None:
    """``per_partition`` records to each partition of the tickets topic in ``counts``
    (librdkafka, batched), counted there."""
    topic = cfg.kafka.tickets_topic
    producer = confluent_kafka.Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers,
                                         "linger.ms": 50})
    for i in range(per_partition):
        for p in counts:
            producer.produce(topic, b"x" * 200 + str(i).encode(), partition=p)
            counts[p] += 1
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def _three_partitions(cfg: Config, per_partition: int) -> tuple[list[TopicPartition],
                                                                 dict[int, int]]:
    """The tickets topic with 3 partitions, ``per_partition`` records written to each:
    its partitions and the end offset of each."""
    ensure_topics(cfg.kafka, partitions=3)
    tps = [TopicPartition(cfg.kafka.tickets_topic, p) for p in range(3)]
    ends = dict.fromkeys(range(3), 0)
    _write(cfg, per_partition, ends)
    return tps, ends


def _consumer(cfg: Config, tps: list[TopicPartition]) -> SkippingConsumer:
    """From the beginning of ``tps``; one response per partition holds thousands of
    records, a poll returns 100."""
    consumer = SkippingConsumer(bootstrap_servers=cfg.kafka.bootstrap_servers,
                                enable_auto_commit=False, max_poll_records=100,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    return consumer


def test_no_partition_with_a_waiting_response_looks_read_to_its_end(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    tps, ends = _three_partitions(cfg, 50)
    consumer = _consumer(cfg, tps)
    try:
        def drain() -> list[tuple[int, int, int | None, int | None]]:
            """Poll to the end; at each poll, per partition still to be read: (partition,
            position, the parsed high watermark, the one the consumer reports)."""
            seen = []
            deadline = time.monotonic() + 60
            while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
                assert time.monotonic() < deadline, "the consumer did not read to the end"
                if not consumer.poll(timeout_ms=500):
                    continue  # a fetch still on its way: nobody can know its answer
                for tp in tps:
                    pos = consumer.position(tp)
                    if pos < ends[tp.partition]:
                        seen.append((tp.partition, pos, KafkaConsumer.highwater(consumer, tp),
                                     consumer.highwater(tp)))
            return seen

        drain()  # every partition's first response parsed: each has a high watermark
        # the fetch sent ahead by the last poll comes back empty (the broker waits
        # fetch_max_wait_ms, 500 ms) before the next records are written ...
        time.sleep(1.0)
        _write(cfg, 20_000, ends)
        # ... and the next fetch's answer, for all three partitions at once, holds
        # thousands of records each: two wait in the buffer while the first is returned
        seen = drain()
    finally:
        consumer.close(autocommit=False)
    # kafka-python's own value: a partition behind another's waiting records shows the
    # high watermark of its previous response, its position, as if read to the end
    stale = [s for s in seen if s[2] is not None and s[2] <= s[1]]
    assert stale, f"no poll had a waiting partition; the test proves nothing: {seen[:5]}"
    # the reported value never says so while records are still to come
    assert all(reported is None or reported > pos for _, pos, _, reported in seen), [
        s for s in seen if s[3] is not None and s[3] <= s[1]][:5]
    assert all(reported in (None, ends[p]) or reported > pos for p, pos, _, reported in seen)


def test_a_partition_read_to_the_end_of_its_response_is_asked_again_at_once(
        make_config: Callable[..., Config]) -> None:
    """kafka-python sends no fetch while any response waits: without asking again, a
    partition written to meanwhile would look read to its end until the others'
    responses were all returned."""
    cfg = make_config()
    # ~700 kB a partition: each partition's whole log in one response
    tps, ends = _three_partitions(cfg, 3000)
    consumer = _consumer(cfg, tps)
    try:
        deadline = time.monotonic() + 60
        while not consumer.poll(timeout_ms=500):
            assert time.monotonic() < deadline, "no records came"
        first = dict(ends)  # what the first responses could hold
        # written while they wait
        _write(cfg, 3000, ends)
        stale = dict.fromkeys(range(3), 0)
        polls = 0
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
            assert time.monotonic() < deadline, "the consumer did not read to the end"
            time.sleep(0.05)  # a fetch's round trip: one poll at most is in flight
            consumer.poll(timeout_ms=500)
            polls += 1
            for tp in tps:
                pos, high = consumer.position(tp), consumer.highwater(tp)
                if first[tp.partition] <= pos < ends[tp.partition] and high == pos:
                    stale[tp.partition] += 1
    finally:
        consumer.close(autocommit=False)
    # each partition's first response is read ~30 polls; asked again only after the
    # others' (kafka-python alone), the first one read looks at its end for ~60 polls
    assert polls > 60, polls
    assert max(stale.values()) <= 3, (stale, polls)


def test_a_partition_is_seen_at_its_end_only_by_a_fetch_sent_after_its_last_records(
        make_config: Callable[..., Config]) -> None:
    """``ended_at()``: when the newest fetch was sent that found a partition at its end.
    Read to the end, each partition gets one, sent after its last records came; written
    to again, none newer comes until those records are read; a partition not assigned
    any more gets none."""
    cfg = make_config()
    tps, ends = _three_partitions(cfg, 200)
    consumer = _consumer(cfg, tps)

    def read_to_end() -> float:
        """Poll until every partition is at its end; when its last records came."""
        deadline = time.monotonic() + 60
        last = time.monotonic()
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
            assert time.monotonic() < deadline, "the consumer did not read to the end"
            if consumer.poll(timeout_ms=200):
                last = time.monotonic()
        return last

    try:
        ended = consumer.ended_at()
        assert ended == {}, ended  # nothing asked yet
        last = read_to_end()
        # the fetch sent ahead comes back empty within fetch_max_wait_ms (500 ms)
        deadline = time.monotonic() + 10
        while True:
            consumer.poll(timeout_ms=100)
            ended = consumer.ended_at()
            assert ended is not None
            if all(ended.get(tp, 0) > last for tp in tps):
                break
            assert time.monotonic() < deadline, (ended, last)
        # written to again: until read, no fetch finds a partition at its end
        _write(cfg, 2000, ends)
        time.sleep(1.0)  # the broker has them; the fetch in flight has answered
        polled_at = time.monotonic()
        consumer.poll(timeout_ms=0)  # one poll: some of it read, not all
        assert consumer.position(tps[0]) < ends[0] or consumer.position(tps[1]) < ends[1]
        behind = [tp for tp in tps if consumer.position(tp) < ends[tp.partition]]
        ended = consumer.ended_at()
        assert ended is not None
        for tp in behind:
            assert ended[tp] < polled_at, (tp, ended[tp], polled_at)
        read_to_end()
        # a partition taken away is asked about no more
        consumer.assign(tps[1:])
        taken_at = time.monotonic()
        deadline = time.monotonic() + 10
        while True:
            consumer.poll(timeout_ms=100)
            ended = consumer.ended_at()
            assert ended is not None
            if all(ended.get(tp, 0) > taken_at for tp in tps[1:]):
                break
            assert time.monotonic() < deadline, (ended, taken_at)
        assert ended[tps[0]] < taken_at
    finally:
        consumer.close(autocommit=False)
