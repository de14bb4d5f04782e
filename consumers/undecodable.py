"""Record batches the client cannot decode: found, skipped, reported — never a stall.

How kafka-python 3.x surfaces them (kafka/consumer/fetcher.py, kafka/record/): records
are unpacked lazily inside ``poll()``, so the error is raised from ``poll()`` itself:

- a batch whose CRC does not match: ``CorruptRecordError`` (the partition and base offset
  only in its text); a broken record structure: ``CorruptRecordError`` too;
- a codec without its library (or an unknown codec id): ``UnsupportedCodecError``;
- a compressed payload that does not decompress: whatever the codec library raises
  (``gzip.BadGzipFile``, ``zlib.error``, lz4's ``RuntimeError``…), not even a
  ``KafkaError``.

The position does not advance, and worse: the partition's records are a generator that
died with the exception, which the fetcher never drains, so the next ``poll()`` spins on
it at 100 % CPU for good. Records already decoded in the same ``poll()`` are returned
first and the error is raised on the next one.

The exception's traceback still holds the fetcher's ``PartitionRecords`` (partition,
next offset to read) and the ``RecordBatch`` being decoded (its offsets come from the
uncompressed batch header). Seeking past that batch skips it and makes the fetcher drop
the dead generator (its offset no longer matches the position). When the batch cannot
be told (a broken batch length), the skip is one offset: slower, never stuck.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, NamedTuple

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import UnsupportedCodecError
from kafka.record.abc import ABCRecordBatch

from consumers.fetch_buffer import EndWatch, buffered_highwaters, fetch_drained
from core.events import BatchErrorReason

__all__ = ["SkippedBatch", "SkippingConsumer", "skip_undecodable"]

log = logging.getLogger(__name__)


class SkippedBatch(NamedTuple):
    """A batch passed over undecoded: offsets ``first`` to ``next_offset - 1``."""

    topic: str
    partition: int
    base_offset: int  # the batch's own base offset (the key a re-read finds again)
    first: int  # the first offset not read
    next_offset: int  # where reading resumes
    max_timestamp: int  # from the batch header; -1 when unknown
    reason: str  # a BatchErrorReason value
    detail: str


def _locate(exc: BaseException) -> tuple[Any, Any] | None:
    """(PartitionRecords, RecordBatch or None) from the frames the error went through."""
    part: Any = None
    batch: Any = None
    tb = exc.__traceback__
    while tb is not None:  # outermost to innermost: the innermost wins
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, Fetcher.PartitionRecords):
                part = value
            elif isinstance(value, ABCRecordBatch):
                batch = value
        tb = tb.tb_next
    return None if part is None else (part, batch)


def skip_undecodable(consumer: KafkaConsumer, exc: BaseException) -> SkippedBatch | None:
    """Seek ``consumer`` past the batch that raised ``exc`` in ``poll()``; None (and no
    seek) when ``exc`` did not come from decoding records."""
    found = _locate(exc)
    if found is None:
        return None
    part, batch = found
    tp: TopicPartition = part.topic_partition
    first = int(part.next_fetch_offset)
    base, resume, ts = first, first + 1, -1
    if batch is not None:
        base = int(batch.base_offset)
        nxt = getattr(batch, "next_offset", None)  # v2; a v0/v1 wrapper ends at its offset
        resume = int(nxt) if nxt is not None else base + 1
        stamp = getattr(batch, "max_timestamp", getattr(batch, "timestamp", None))
        ts = -1 if stamp is None else int(stamp)
        high = consumer.highwater(tp)
        # a corrupt header may claim any offset delta: never skip past the log's end
        if resume <= first or (high is not None and resume > high):
            resume = first + 1
    reason = (BatchErrorReason.UNSUPPORTED_CODEC if isinstance(exc, UnsupportedCodecError)
              else BatchErrorReason.CORRUPT_BATCH)
    skipped = SkippedBatch(tp.topic, tp.partition, base, first, resume, ts, reason.value,
                           f"{type(exc).__name__}: {exc}"[:300])
    consumer.seek(tp, resume)
    log.error(
        "undecodable record batch skipped (%s): topic %s partition %d offsets %d-%d "
        "(batch base offset %d): %s", skipped.reason, tp.topic, tp.partition, first,
        resume - 1, base, skipped.detail,
    )
    return skipped


class SkippingConsumer(KafkaConsumer):  # type: ignore[misc]
    """A ``KafkaConsumer`` whose ``poll()`` skips undecodable batches instead of raising
    (and then spinning); what it skipped waits in :attr:`skipped` for the reader.

    It also keeps the reader's "read to the end" honest (``consumers.fetch_buffer``):
    ``highwater(tp)`` counts the fetch responses still waiting in its buffer, as of the
    last ``poll()``, and a partition read to the end of its response is fetched again at
    once, not after the others' responses; :meth:`ended_at` says when a partition was last
    asked and found at its end."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.skipped: deque[SkippedBatch] = deque()
        self._buffered_high: dict[TopicPartition, int] = {}
        self._ends = EndWatch.install(self)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[Any]]:
        try:
            records: dict[TopicPartition, list[Any]] = super().poll(
                timeout_ms, max_records, update_offsets)
        except Exception as exc:
            skipped = skip_undecodable(self, exc)
            if skipped is None:
                raise
            # nothing is lost: kafka-python raises only when no record was drained
            self.skipped.append(skipped)
            records = {}
        fetch_drained(self)
        self._buffered_high = buffered_highwaters(self)
        return records

    def highwater(self, partition: TopicPartition) -> int | None:
        parsed: int | None = super().highwater(partition)
        buffered = self._buffered_high.get(partition)
        if buffered is None or (parsed is not None and parsed >= buffered):
            return parsed
        return buffered

    def ended_at(self) -> dict[TopicPartition, float] | None:
        """Per partition, the ``time.monotonic()`` send time of the newest fetch that found
        it at its end; None when this kafka-python cannot tell (``EndWatch``)."""
        return None if self._ends is None else dict(self._ends.ended)

    def take_skipped(self) -> list[SkippedBatch]:
        out = list(self.skipped)
        self.skipped.clear()
        return out
