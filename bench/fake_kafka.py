"""Drive the real ``Pipeline.run`` loop over records held in memory (no broker).

``FakeConsumer`` stands in for kafka-python's ``KafkaConsumer`` inside
``consumers.reader`` and behaves like one reading a pre-filled Tansu topic: ``subscribe``
assigns every partition at the first ``poll`` (the rebalance listener fires); like
kafka-python's fetcher, every ``poll`` first "fetches" each partition that has no
buffered records left — ``max_partition_fetch_bytes`` worth but at most 4 MiB, as Tansu
answers, sized as record batches (key + value + ~12 B per record) — then hands out at
most ``max_poll_records`` from the buffered fetches in arrival order, one partition's
fetch before the next; ``seek`` drops that partition's buffered records; ``position`` is
the next offset ``poll`` will return; ``highwater`` is known once a partition has been
fetched. The dead-letter producer is replaced by a counter.

The whole reader loop — poll, rebuild, decode, event-time alignment, engine, snapshots
every 0.5 s, progress and readiness, commits — runs unchanged, so this measures the
pipeline's CPU cost with Kafka's own cost taken out.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any
from unittest import mock

from bench.common import Bench, Record


class FakeDLQ:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent = 0

    def send(self, record: Any, rejection: Any) -> None:
        self.sent += 1

    def flush(self, *args: Any) -> None:
        return

    def failures(self) -> dict[Any, int]:
        return {}

    def close(self, *args: Any) -> None:
        return


# Tansu 0.6.0 answers a fetch with about 4 MiB per partition even when the consumer allows
# more (measured: ~20 k ticket / ~32 k logistics records of the simulator per fetch)
TANSU_FETCH_BYTES = 4 << 20

# what the next FakeConsumer serves: {"records": {tp: [ConsumerRecord]}, "on_poll": fn}
_FEED: dict[str, Any] = {"records": {}, "on_poll": None}


class FakeConsumer:
    """Serves ConsumerRecords (offsets from 0 per partition) like a broker would."""

    def __init__(self, **settings: Any) -> None:
        self.records_by_tp: dict[Any, list[Any]] = _FEED["records"]
        # called with the number of records handed out so far, after each poll
        self.on_poll: Callable[[int], None] | None = _FEED["on_poll"]
        # kafka-python's defaults that the reader reads back, then the reader's settings
        self.config: dict[str, Any] = {"request_timeout_ms": 30_500, "max_poll_records": 500,
                                       "max_partition_fetch_bytes": 1 << 20, **settings}
        self.max_records = int(settings.get("max_poll_records", 500))
        self.part_bytes = min(TANSU_FETCH_BYTES,
                              int(settings.get("max_partition_fetch_bytes", 1 << 20)))
        self._listener: Any = None
        self._assigned: set[Any] = set()
        self._pending_assign = False
        self._pos: dict[Any, int] = {}
        self._hw: dict[Any, int] = {}
        self._fetched: list[list[Any]] = []  # buffered fetches: [tp, next index, end index]
        self.handed_out = 0

    # -- group membership ---------------------------------------------------------------
    def subscribe(self, topics: Sequence[str], listener: Any = None, **kwargs: Any) -> None:
        self._listener = listener
        self._assigned = {tp for tp in self.records_by_tp if tp.topic in set(topics)}
        self._pending_assign = True

    def assignment(self) -> set[Any]:
        return set(self._assigned)

    def committed(self, tp: Any, **kwargs: Any) -> int | None:
        return None

    def commit(self, offsets: Any = None, **kwargs: Any) -> None:
        return

    def close(self, autocommit: bool = True, **kwargs: Any) -> None:
        return

    # -- positions ----------------------------------------------------------------------
    def seek_to_beginning(self, *tps: Any) -> None:
        for tp in tps or tuple(self._assigned):
            self.seek(tp, 0)

    def seek(self, tp: Any, offset: int) -> None:
        self._pos[tp] = offset
        self._fetched = [entry for entry in self._fetched if entry[0] != tp]

    def position(self, tp: Any, timeout_ms: int | None = None, **kwargs: Any) -> int | None:
        return self._pos.get(tp)

    def highwater(self, tp: Any) -> int | None:
        return self._hw.get(tp)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.records_by_tp if tp.topic == topic}

    def pause(self, *tps: Any) -> None:
        raise NotImplementedError("FakeConsumer does not pause")

    def resume(self, *tps: Any) -> None:
        return

    def paused(self) -> set[Any]:
        return set()

    def take_skipped(self) -> list[Any]:
        return []  # in memory nothing is undecodable

    # -- fetching -----------------------------------------------------------------------
    def _fetch(self) -> None:
        """A fetch for every assigned partition with data and nothing buffered."""
        buffered = {entry[0] for entry in self._fetched}
        for tp in sorted(self._assigned, key=lambda t: (t.topic, t.partition)):
            if tp in buffered:
                continue
            recs = self.records_by_tp[tp]
            self._hw[tp] = len(recs)
            i = start = self._pos.get(tp, 0)
            size = 0
            while i < len(recs) and size < self.part_bytes:
                r = recs[i]
                size += len(r.key or b"") + len(r.value or b"") + 12
                i += 1
            if i > start:
                self._fetched.append([tp, start, i])

    def poll(self, timeout_ms: int = 0, max_records: int | None = None,
             update_offsets: bool = True, **kwargs: Any) -> dict[Any, list[Any]]:
        if self._pending_assign:
            self._pending_assign = False
            if self._listener is not None:
                self._listener.on_partitions_assigned(self.assignment())
            return {}
        self._fetch()
        room = max_records or self.max_records
        out: dict[Any, list[Any]] = {}
        while room and self._fetched:
            entry = self._fetched[0]
            tp, i, end = entry
            take = min(room, end - i)
            out[tp] = self.records_by_tp[tp][i:i + take]
            entry[1] = i + take
            self._pos[tp] = i + take
            room -= take
            if entry[1] >= end:
                self._fetched.pop(0)
        self.handed_out += sum(len(v) for v in out.values())
        if self.on_poll is not None:
            self.on_poll(self.handed_out)
        return out


def by_partition(cfg: Any, records: Sequence[Record], parts: int = 3) -> dict[Any, list[Any]]:
    """ConsumerRecords per partition, split by key hash like ``bench.common.fill``."""
    from kafka import TopicPartition
    from kafka.consumer.fetcher import ConsumerRecord

    now = int(time.time() * 1000)
    tps = [TopicPartition(t, p) for t in cfg.kafka.topics for p in range(parts)]
    out: dict[Any, list[Any]] = {tp: [] for tp in tps}
    for kind, key, value in records:
        tp = tps[kind * parts + zlib.crc32(key) % parts]
        lst = out[tp]
        lst.append(ConsumerRecord(tp.topic, tp.partition, -1, len(lst), now, 0, key, value, (),
                                  None, len(key), len(value), -1))
    return out


def folded(reader: Any) -> int:
    """Events the pipeline's current engine has accepted (duplicates and rejects excluded)."""
    return int(sum(reader.engine.events_total.values()))


def run_reader(cfg: Any, records_by_tp: dict[Any, list[Any]],
               on_poll: Callable[[Any], None] | None = None,
               timeout_s: float = 3600) -> Any:
    """Run ``Pipeline.run`` until ready; returns the pipeline (its engine holds the state).
    ``on_poll(reader)`` is called after every poll."""
    import consumers.reader as reader_mod
    from pulse.pipeline import Pipeline

    stop = threading.Event()

    def publish(snap: Any) -> None:
        if snap.ready:
            stop.set()

    # no checkpoints: the records are in memory, the checkpoint topic would be a real one
    from dataclasses import replace

    cfg = replace(cfg, checkpoints=replace(cfg.checkpoints, enabled=False))
    reader = Pipeline(Bench.one_thread(cfg), publish=publish)
    _FEED["records"] = records_by_tp
    _FEED["on_poll"] = (lambda n: on_poll(reader)) if on_poll is not None else None
    deadline = time.monotonic() + timeout_s

    def watchdog() -> None:
        while not stop.wait(1.0):
            if time.monotonic() > deadline:
                stop.set()

    threading.Thread(target=watchdog, daemon=True).start()
    # the records are in memory: no bootstrap server to reach first (a config without
    # one, like profile_pipeline's, waited for one for ever)
    with mock.patch.object(reader_mod, "SkippingConsumer", FakeConsumer), \
            mock.patch.object(reader_mod, "DeadLetterQueue", FakeDLQ), \
            mock.patch.object(reader_mod, "unreachable", return_value=[]):
        reader.run(stop)
    if not reader.reader.ready:
        raise TimeoutError("the reader did not become ready over the in-memory records")
    return reader


def counting_consumer(stats: dict[str, float],
                      on_poll: Callable[[], None] | None = None) -> type:
    """A real ``KafkaConsumer`` subclass that counts what the reader asks of Kafka: polls,
    seconds inside ``poll``, records handed out, ``seek`` calls and the records they rewind
    (records handed out ÷ records in the topic = how often each record is fetched and
    decoded). ``on_poll()`` runs after every poll."""
    from consumers.undecodable import SkippingConsumer

    for key in ("polls", "poll_s", "records", "empty_polls", "seeks", "rewound"):
        stats.setdefault(key, 0)

    class CountingConsumer(SkippingConsumer):
        def poll(self, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            out = super().poll(*args, **kwargs)
            stats["poll_s"] += time.perf_counter() - t
            n = sum(len(v) for v in out.values())
            stats["polls"] += 1
            stats["records"] += n
            stats["empty_polls"] += n == 0
            if on_poll is not None:
                on_poll()
            return out

        def seek(self, partition: Any, offset: int) -> Any:
            stats["seeks"] += 1
            with contextlib.suppress(Exception):  # statistics only
                pos = self.position(partition, timeout_ms=100)
                stats["rewound"] += max(0, (pos or 0) - offset)
            return super().seek(partition, offset)

    return CountingConsumer


def run_kafka_reader(cfg: Any, stats: dict[str, float],
                     on_poll: Callable[[Any], None] | None = None,
                     timeout_s: float = 3600) -> Any:
    """``Pipeline.run`` in this thread against the real broker of ``cfg`` (a fresh
    group), its consumer counting (see ``counting_consumer``), until ready."""
    import consumers.reader as reader_mod
    from pulse.pipeline import Pipeline

    stop = threading.Event()
    became_ready = threading.Event()  # closing the consumer revokes: ready turns False

    def publish(snap: Any) -> None:
        if snap.ready:
            became_ready.set()
            stop.set()

    # no checkpoints: the records are in memory, the checkpoint topic would be a real one
    from dataclasses import replace

    cfg = replace(cfg, checkpoints=replace(cfg.checkpoints, enabled=False))
    reader = Pipeline(Bench.one_thread(cfg), publish=publish)
    cls = counting_consumer(stats, (lambda: on_poll(reader)) if on_poll is not None else None)
    deadline = time.monotonic() + timeout_s

    def watchdog() -> None:
        while not stop.wait(1.0):
            if time.monotonic() > deadline:
                stop.set()

    threading.Thread(target=watchdog, daemon=True).start()
    with mock.patch.object(reader_mod, "SkippingConsumer", cls):
        reader.run(stop)
    if not became_ready.is_set():
        raise TimeoutError(f"the reader was not ready within {timeout_s:.0f} s: {stats}")
    return reader
