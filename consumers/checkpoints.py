"""Shard checkpoints in a compacted Kafka topic: the cluster the user already runs is the
only storage (issue 17).

The reader hands this store opaque bytes per source partition (``metrics/checkpoint.py``
makes them) with the offset they cover; the store keeps them under the key
``<topic>/<partition>/<slot>/<part>``:

- a checkpoint larger than ``max_part_bytes`` is split into parts, each one message under
  the broker's size limit; every part carries a JSON header (store format, source topic
  and partition, offset, topic id, a generation id, part i of n, the whole payload's
  SHA-256) followed by its slice of the bytes;
- two *slots* per partition, written in turn: a write that dies half way (SIGKILL, broker
  gone) leaves the other slot's checkpoint whole, so the newest *valid* one is loaded;
- parts are written last to first and the first part (the manifest) only after the others
  are acknowledged; all of them go to one partition of the checkpoint topic (chosen from
  the source partition), so their order is the write order;
- compaction keeps the newest message per key: the topic stays about two checkpoints per
  source partition, whatever the history.

Reading (at an assignment) takes the newest message per key and, per source partition,
the slots whose parts are all there, of one generation, with the right hash, the one
written last first (the reader tries the next when the first is refused, e.g. written by
a replica with another configuration during a rolling change). A partition with none is
``missing`` (nothing written) or ``corrupt`` (something written, nothing whole).

At start the reader calls :meth:`CheckpointStore.prefetch`: the whole topic is read in
the background while the group join runs (seconds: Apache Kafka holds the first join of
an empty group for ``group.initial.rebalance.delay.ms``, Tansu every join for half the
session timeout), :meth:`~CheckpointStore.peek` offers what it found before any
assignment, and the first :meth:`~CheckpointStore.read` uses it and reads only what was
written since.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from consumers.kafka_settings import client_settings
from core.config import KafkaConfig

__all__ = ["STORE_FORMAT", "CheckpointStore", "Stored"]

log = logging.getLogger(__name__)

STORE_FORMAT: Final = 1
_SLOTS: Final = 2

Source = tuple[str, int]  # (source topic, partition)
Latest = dict[bytes, tuple[int, bytes]]  # key -> (offset, value) of its newest message

# Checkpoint parts are ~1 MiB messages: a fetch of one part per partition and round trip
# (a partition limit of one part) makes a 60 MiB read take seconds of round trips.
_FETCH_MAX_BYTES: Final = 64 * 1024 * 1024
_PARTITION_FETCH_BYTES: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Stored:
    """A whole checkpoint read back: the offset it covers (the next one to read), the
    source topic's id when it was written, and the payload."""

    offset: int
    topic_id: str | None
    payload: bytes
    slot: int
    written_at: int  # the manifest's offset in the checkpoint topic


@contextlib.contextmanager
def _quiet_client() -> Iterator[None]:
    """The checkpoint reader's own client lines (assignment, seeks: INFO) are noise beside
    the group consumer's, which runs in the fetch process: kept out of the service's log."""
    kafka_log = logging.getLogger("kafka.consumer")
    level = kafka_log.level
    kafka_log.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        kafka_log.setLevel(level)


def _key(src: Source, slot: int, part: int) -> bytes:
    return f"{src[0]}/{src[1]}/{slot}/{part}".encode()


def _source(key: bytes) -> Source | None:
    """The source partition of a key (topic names hold no ``/``); None if not one."""
    try:
        topic, partition, _slot, _part = key.decode().rsplit("/", 3)
        return topic, int(partition)
    except ValueError:
        return None


class _Prefetch:
    """The topic read in the background at start: what was found, up to which offsets,
    with the consumer kept open to read on from there."""

    __slots__ = ("abandoned", "consumer", "done", "error", "latest", "thread")

    def __init__(self) -> None:
        self.abandoned = False  # given up on (too slow): the thread closes its consumer
        self.consumer: KafkaConsumer | None = None
        self.latest: Latest = {}
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


class CheckpointStore:
    """One per reader. ``write`` and ``read`` block (the reader's thread calls them at a
    checkpoint and at an assignment); Kafka errors propagate for the caller to log."""

    def __init__(self, kc: KafkaConfig, topic: str, *, max_part_bytes: int = 900_000,
                 partitions: int = 1, read_timeout_s: float = 60.0,
                 replication: int = 1) -> None:
        self._kc = kc
        self._replication = replication
        self.topic = topic
        self._part_bytes = max_part_bytes
        self._partitions = partitions
        self._read_timeout_s = read_timeout_s
        self._producer: KafkaProducer | None = None
        self._slot: dict[Source, int] = {}  # the slot of the last whole checkpoint
        self._n_partitions: int | None = None
        self._pre: _Prefetch | None = None

    # -- topic -----------------------------------------------------------------------
    def ensure_topic(self) -> None:
        """Create the compacted topic if missing (idempotent)."""
        admin = KafkaAdminClient(**client_settings(self._kc, "admin"))
        try:
            if self.topic not in set(admin.list_topics()):
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(
                        self.topic, self._partitions, self._replication,
                        topic_configs={"cleanup.policy": "compact"})])
                    log.info("created checkpoint topic %s (compacted)", self.topic)
        finally:
            admin.close()

    def _partition_of(self, src: Source, n: int) -> int:
        return zlib.crc32(f"{src[0]}/{src[1]}".encode()) % n

    # -- writing -----------------------------------------------------------------------
    def write(self, src: Source, offset: int, topic_id: str | None, payload: bytes) -> int:
        """Store a checkpoint of ``src`` covering records up to ``offset`` (exclusive), in
        the slot not holding the last one; returns the number of messages written."""
        producer = self._producer
        if producer is None:
            settings: dict[str, Any] = {
                "acks": "all", "linger_ms": 0, "retries": 5,
                "max_request_size": self._part_bytes + 64 * 1024,
                "max_block_ms": 10_000,
            }
            settings.update(client_settings(self._kc, "producer"))
            producer = self._producer = KafkaProducer(**settings)
            # the topic's partition count (the same for the writer and the readers)
            parts = producer.partitions_for(self.topic) or {0}
            self._n_partitions = len(parts)
        slot = (self._slot.get(src, _SLOTS - 1) + 1) % _SLOTS
        size = self._part_bytes
        chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        head = {"store": STORE_FORMAT, "topic": src[0], "partition": src[1], "offset": offset,
                "topic_id": topic_id, "gen": uuid.uuid4().hex, "parts": len(chunks),
                "sha256": hashlib.sha256(payload).hexdigest(), "written_ms": int(
                    time.time() * 1000)}
        partition = self._partition_of(src, self._n_partitions or 1)
        futures = []
        for i in range(len(chunks) - 1, 0, -1):
            value = orjson.dumps({**head, "part": i}) + b"\n" + chunks[i]
            futures.append(producer.send(self.topic, key=_key(src, slot, i), value=value,
                                         partition=partition))
        if futures:  # every other part is in before the manifest that names them
            producer.flush(timeout=30)
            for f in futures:
                f.get(timeout=30)
        value = orjson.dumps({**head, "part": 0}) + b"\n" + chunks[0]
        producer.send(self.topic, key=_key(src, slot, 0), value=value,
                      partition=partition).get(timeout=30)
        self._slot[src] = slot
        return len(chunks)

    # -- reading -----------------------------------------------------------------------
    def prefetch(self) -> None:
        """Start reading the whole topic in the background (once, at start: the group
        join then waits for the broker anyway). Errors are kept for :meth:`read`, which
        then reads the topic itself."""
        if self._pre is not None:
            return
        pre = self._pre = _Prefetch()
        pre.thread = threading.Thread(target=self._prefetch, args=(pre,), daemon=True,
                                      name="checkpoint-prefetch")
        pre.thread.start()

    def _prefetch(self, pre: _Prefetch) -> None:
        try:
            with _quiet_client():
                self._prefetch_topic(pre)
        except Exception as exc:  # read() reads the topic itself, and says why if it fails
            pre.error = exc
        finally:
            pre.done.set()
            if pre.abandoned and pre.consumer is not None:
                pre.consumer.close(autocommit=False)

    def _prefetch_topic(self, pre: _Prefetch) -> None:
        consumer = pre.consumer = self._consumer()
        deadline = time.monotonic() + self._read_timeout_s
        tps = self._topic_partitions(consumer, None, deadline)
        if tps:
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            self._drain(consumer, tps, pre.latest, deadline)

    def peek(self) -> dict[Source, list[Stored] | str] | None:
        """What the prefetch found, per source partition with anything written (as
        :meth:`read` answers), once it is done; None while it runs, or if it failed or
        was not started. For a reader to decode before its assignment arrives."""
        pre = self._pre
        if pre is None or not pre.done.is_set() or pre.error is not None:
            return None
        sources = {src for key in pre.latest if (src := _source(key)) is not None}
        return {src: self._whole(src, pre.latest) for src in sorted(sources)}

    def read(self, sources: list[Source]) -> dict[Source, list[Stored] | str]:
        """The whole checkpoints of each source partition, newest first, or why there is
        none (``missing``, ``corrupt``). Raises KafkaError when the topic cannot be read."""
        if not sources:
            return {}
        pre, self._pre = self._pre, None
        if pre is not None:  # before quieting the client: the prefetch does it too
            pre.done.wait(self._read_timeout_s)
        with _quiet_client():
            latest = None if pre is None else self._take_prefetch(pre)
            if latest is None:
                latest = self._read(sources)
        return {src: self._whole(src, latest) for src in sources}

    def _consumer(self) -> KafkaConsumer:
        # no group: the store reads assigned partitions. kafka.consumer's group settings
        # are the reader's (a group_instance_id without a group_id is refused by
        # kafka-python: static members read no checkpoint at all)
        return KafkaConsumer(**{
            **client_settings(self._kc, "consumer"),
            "group_id": None, "group_instance_id": None, "enable_auto_commit": False,
            "fetch_max_bytes": max(_FETCH_MAX_BYTES, self._part_bytes + 64 * 1024),
            "max_partition_fetch_bytes": max(_PARTITION_FETCH_BYTES,
                                             self._part_bytes + 64 * 1024),
            "fetch_max_wait_ms": 100,
        })

    def _topic_partitions(self, consumer: KafkaConsumer, sources: list[Source] | None,
                          deadline: float) -> list[TopicPartition]:
        """The topic's partitions holding ``sources`` (None: all); [] without a topic."""
        parts = consumer.partitions_for_topic(self.topic)
        while parts is None and time.monotonic() < deadline:
            time.sleep(0.2)  # metadata not fetched yet, or the topic is being created
            parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            return []
        wanted = (set(parts) if sources is None
                  else {self._partition_of(s, len(parts)) for s in sources})
        return [TopicPartition(self.topic, p) for p in sorted(wanted)]

    def _take_prefetch(self, pre: _Prefetch) -> Latest | None:
        """The prefetch's messages and those written since, or None if there are none to
        use (failed, too slow, no topic: the caller reads the topic itself)."""
        if not pre.done.is_set() or pre.error is not None:
            if pre.error is not None:
                log.info("checkpoint prefetch failed (%s: %s); reading the topic again",
                         type(pre.error).__name__, pre.error)
            pre.abandoned = True
            if pre.done.is_set() and pre.consumer is not None:
                pre.consumer.close(autocommit=False)
            return None
        consumer = pre.consumer
        if consumer is None:
            return None
        try:
            tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
            if not tps:
                return None  # no topic at start: it may exist by now, read it whole
            # written since (a member that stopped, a rebuild that caught up): the end
            # offsets say how far (on Tansu 0.6 the last batch's base + 1, still past
            # every manifest: each is a batch of its own)
            ends = consumer.end_offsets(tps)
            behind = [tp for tp in tps if consumer.position(tp) < ends.get(tp, 0)]
            if behind:
                self._drain(consumer, behind, pre.latest,
                            time.monotonic() + self._read_timeout_s, ends)
        except KafkaError as exc:
            log.info("checkpoint prefetch cannot read on (%s: %s); reading the topic again",
                     type(exc).__name__, exc)
            return None
        finally:
            consumer.close(autocommit=False)
        return pre.latest

    def _read(self, sources: list[Source]) -> Latest:
        consumer = self._consumer()
        latest: Latest = {}
        try:
            deadline = time.monotonic() + self._read_timeout_s
            tps = self._topic_partitions(consumer, sources, deadline)
            if not tps:
                return latest
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            self._drain(consumer, tps, latest, deadline)
        finally:
            consumer.close(autocommit=False)
        return latest

    def _drain(self, consumer: KafkaConsumer, tps: list[TopicPartition], latest: Latest,
               deadline: float, ends: dict[TopicPartition, int] | None = None) -> None:
        """Poll until every partition is read to its high watermark (or ``ends``)."""
        pending = set(tps)
        while pending:
            if time.monotonic() > deadline:
                raise KafkaError(f"reading {self.topic} took over {self._read_timeout_s} s")
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    if rec.key is not None and rec.value is not None:
                        latest[bytes(rec.key)] = (rec.offset, bytes(rec.value))
                    elif rec.key is not None:
                        latest.pop(bytes(rec.key), None)  # a tombstone
            for tp in list(pending):
                end = consumer.highwater(tp) if ends is None else ends.get(tp, 0)
                if end is not None and consumer.position(tp) >= end:
                    pending.discard(tp)

    def _whole(self, src: Source, latest: Latest) -> list[Stored] | str:
        found: list[Stored] = []
        seen_any = False
        for slot in range(_SLOTS):
            got = self._slot_checkpoint(src, slot, latest)
            if got is None:
                continue
            seen_any = True
            if isinstance(got, Stored):
                found.append(got)
        if found:
            found.sort(key=lambda c: -c.written_at)
            self._slot[src] = found[0].slot  # the next write goes to the other slot
            return found
        return "corrupt" if seen_any else "missing"

    def _slot_checkpoint(self, src: Source, slot: int, latest: Latest) -> Stored | str | None:
        """The slot's checkpoint, ``"corrupt"`` if it is not whole, None if empty."""
        got = latest.get(_key(src, slot, 0))
        if got is None:
            return None
        at, first = got
        try:
            head, body = self._split(first)
            n = head["parts"]
            if (head.get("store") != STORE_FORMAT or head.get("topic") != src[0]
                    or head.get("partition") != src[1] or type(n) is not int or n < 1
                    or type(head.get("offset")) is not int):
                return "corrupt"
            chunks = [body]
            for i in range(1, n):
                part = latest.get(_key(src, slot, i))
                if part is None:
                    return "corrupt"
                h, b = self._split(part[1])
                if h.get("gen") != head["gen"] or h.get("part") != i:
                    return "corrupt"
                chunks.append(b)
            payload = b"".join(chunks)
            if hashlib.sha256(payload).hexdigest() != head.get("sha256"):
                return "corrupt"
        except (ValueError, KeyError, TypeError):
            return "corrupt"
        tid = head.get("topic_id")
        return Stored(head["offset"], tid if isinstance(tid, str) else None, payload, slot, at)

    @staticmethod
    def _split(raw: bytes) -> tuple[dict[str, Any], bytes]:
        nl = raw.index(b"\n")
        head = orjson.loads(raw[:nl])
        if not isinstance(head, dict):
            raise ValueError("header is not an object")
        return head, raw[nl + 1:]

    def forget_prefetch(self) -> None:
        """Let the prefetch's messages go unread (an assignment with no partition: they
        would be held until the next one)."""
        pre, self._pre = self._pre, None
        if pre is None:
            return
        pre.abandoned = True
        if pre.done.wait(5.0) and pre.consumer is not None:
            with contextlib.suppress(Exception):
                pre.consumer.close(autocommit=False)

    def close(self) -> None:
        self.forget_prefetch()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None
