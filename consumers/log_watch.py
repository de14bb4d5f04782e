"""Noticing that a partition's log no longer holds what the service read (SPEC §2).

A topic deleted and recreated, a partition truncated, a broker restarted empty: Kafka
clients do not say so. kafka-python resets an out-of-range position to the log start
without raising (``auto_offset_reset``, logged at INFO), Tansu answers a fetch beyond its
new log with an empty batch and a smaller high watermark, and a recreated topic that has
grown past the old offsets simply serves its tail. So the reader tells :class:`LogWatch`
what it sees — records fetched, positions and high watermarks after each poll, topic ids
from the cluster metadata, log start offsets when asked — and the watch answers with the
partitions whose log went back, and why:

``beyond_highwater``
    the fetch position is past the high watermark (the log is now shorter);
``went_back``
    the position or the fetched offsets moved back without a seek of ours (an
    out-of-range fetch the client reset to the log start);
``log_start``
    the position jumped forward and the log now starts past the offset we expected
    next (records we never read are gone);
``topic_id``
    the topic's id changed (a new topic under the old name; brokers with Metadata v10+);
``shorter_than_read``
    after a rebuild, the high watermark is below the offset an earlier generation had
    read (the log was replaced between two assignments, e.g. a broker restarted empty).

Pure bookkeeping, no Kafka calls: both fetch paths feed it the same observations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafka import TopicPartition

__all__ = ["LogReset", "LogWatch"]


@dataclass(frozen=True, slots=True)
class LogReset:
    """One partition whose log went back; ``echo`` when a reset of its topic started the
    rebuild now under way, which already reads this partition's new log (no new rebuild)."""

    tp: TopicPartition
    kind: str
    detail: str
    echo: bool = False


class LogWatch:
    """Per-partition memory of what one rebuild generation read. Single-threaded."""

    def __init__(self) -> None:
        self._next: dict[TopicPartition, int] = {}  # the offset expected to be fetched next
        self._extent: dict[TopicPartition, int] = {}  # furthest position of this generation
        self._prior: dict[TopicPartition, int] = {}  # furthest of earlier generations
        self._gap: dict[TopicPartition, int] = {}  # a forward jump not yet checked
        self._ids: dict[str, str] = {}  # topic -> id last seen (survives generations)
        self._echo: frozenset[str] = frozenset()

    # -- generations and seeks ---------------------------------------------------------
    def new_generation(self, reset: Iterable[TopicPartition] = (),
                       echo_topics: Iterable[str] = ()) -> None:
        """A rebuild started (every partition read again from its beginning). What was
        read stays as ``prior`` until the new log reaches it, except where it went back."""
        gone = set(reset)
        for tp, extent in self._extent.items():
            if tp not in gone:
                self._prior[tp] = max(self._prior.get(tp, 0), extent)
        for tp in gone:
            self._prior.pop(tp, None)
        self._extent.clear()
        self._next.clear()
        self._gap.clear()
        self._echo = frozenset(echo_topics)

    def seeked(self, tp: TopicPartition, offset: int | None) -> None:
        """Our own seek (None: to the beginning): the position may move back."""
        if offset is None:
            self._next.pop(tp, None)
        else:
            self._next[tp] = offset
        self._gap.pop(tp, None)

    # -- observations ------------------------------------------------------------------
    def fetched(self, tp: TopicPartition, first: int, last: int) -> LogReset | None:
        """Records ``first``..``last`` arrived for ``tp``."""
        expected = self._next.get(tp)
        self._next[tp] = last + 1
        self._extent[tp] = max(self._extent.get(tp, 0), last + 1)
        if expected is None:
            return None
        if first < expected:
            return self._reset(tp, "went_back", f"fetched offset {first} while offset "
                               f"{expected} was expected next (out of range, reset by "
                               "the client)")
        if first > expected:
            self._gap.setdefault(tp, expected)
        return None

    def progress(self, tp: TopicPartition, position: int | None,
                 highwater: int | None) -> LogReset | None:
        """The fetch position and high watermark after a poll (None: not known yet)."""
        if position is not None:
            expected = self._next.get(tp)
            self._next[tp] = position
            self._extent[tp] = max(self._extent.get(tp, 0), position)
            if expected is not None and position < expected:
                return self._reset(tp, "went_back", f"position {position} is below "
                                   f"offset {expected} already read (out of range, reset "
                                   "by the client)")
            if expected is not None and position > expected:
                self._gap.setdefault(tp, expected)
            if highwater is not None and position > highwater:
                return self._reset(tp, "beyond_highwater", f"position {position} is "
                                   f"beyond the high watermark {highwater}")
            prior = self._prior.get(tp)
            if prior is not None and position >= prior:
                del self._prior[tp]  # the log holds at least what was read before
        prior = self._prior.get(tp)
        if prior is not None and highwater is not None and highwater < prior:
            del self._prior[tp]
            return self._reset(tp, "shorter_than_read", f"high watermark {highwater} is "
                               f"below offset {prior} read before the rebuild",
                               echo=tp.topic in self._echo)
        return None

    def topic_id(self, topic: str, topic_id: str | None,
                 assigned: Iterable[TopicPartition]) -> list[LogReset]:
        """The topic's id in the cluster metadata now (None: the broker gives none)."""
        if not topic_id:
            return []
        before = self._ids.get(topic)
        self._ids[topic] = topic_id
        if before is None or before == topic_id:
            return []
        return [self._reset(tp, "topic_id", f"topic id changed from {before} to "
                            f"{topic_id} (a new topic under the old name)")
                for tp in sorted(assigned) if tp.topic == topic]

    def gaps(self) -> list[TopicPartition]:
        """Partitions whose position jumped forward: ask for their log start offsets."""
        return sorted(self._gap)

    def log_start(self, tp: TopicPartition, start: int) -> LogReset | None:
        """The partition's log start offset, asked after a forward jump."""
        expected = self._gap.pop(tp, None)
        if expected is None or start <= expected:
            return None  # a compacted range or transaction markers: nothing lost
        return self._reset(tp, "log_start", f"log start offset {start} is past offset "
                           f"{expected} expected next (records never read are gone)")

    def _reset(self, tp: TopicPartition, kind: str, detail: str,
               echo: bool = False) -> LogReset:
        return LogReset(tp, kind, detail, echo)
