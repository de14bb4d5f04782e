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
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
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
    def read(self, sources: list[Source]) -> dict[Source, list[Stored] | str]:
        """The whole checkpoints of each source partition, newest first, or why there is
        none (``missing``, ``corrupt``). Raises KafkaError when the topic cannot be read."""
        if not sources:
            return {}
        with _quiet_client():
            return self._read(sources)

    def _read(self, sources: list[Source]) -> dict[Source, list[Stored] | str]:
        consumer = KafkaConsumer(**{
            **client_settings(self._kc, "consumer"),
            "group_id": None, "enable_auto_commit": False,
            "fetch_max_bytes": 64 * 1024 * 1024,
            "max_partition_fetch_bytes": self._part_bytes + 64 * 1024,
        })
        latest: dict[bytes, tuple[int, bytes]] = {}
        try:
            parts = consumer.partitions_for_topic(self.topic)
            deadline = time.monotonic() + self._read_timeout_s
            while parts is None and time.monotonic() < deadline:
                time.sleep(0.2)  # metadata not fetched yet, or the topic is being created
                parts = consumer.partitions_for_topic(self.topic)
            if not parts:
                return dict.fromkeys(sources, "missing")
            wanted = {self._partition_of(s, len(parts)) for s in sources}
            tps = [TopicPartition(self.topic, p) for p in sorted(wanted)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
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
                    hw = consumer.highwater(tp)
                    if hw is not None and consumer.position(tp) >= hw:
                        pending.discard(tp)
        finally:
            consumer.close(autocommit=False)
        return {src: self._whole(src, latest) for src in sources}

    def _whole(self, src: Source, latest: dict[bytes, tuple[int, bytes]]) -> list[Stored] | str:
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

    def _slot_checkpoint(self, src: Source, slot: int,
                         latest: dict[bytes, tuple[int, bytes]]) -> Stored | str | None:
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

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None
