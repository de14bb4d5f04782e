"""Checkpoints decoded while the first group join runs (issue 17's restart target).

A start waits seconds for its first assignment whatever the state: Apache Kafka holds the
first join of an empty group for ``group.initial.rebalance.delay.ms`` (3 s by default),
Tansu holds every join for half the session timeout. The checkpoint store reads the whole
topic meanwhile (``CheckpointStore.prefetch``); :class:`LoadAhead` then decodes it into the
sink, one source partition per loop iteration of the reader, before anyone said which
partitions this member gets. Most starts get what they decoded (one replica, or the same
share after a rolling restart): the assignment then only reads on from the offsets.

What the assignment settles (:meth:`LoadAhead.settle`), so that a start from checkpoints
loaded ahead is exactly the start that loads them after the assignment:

- a partition decoded ahead counts in ``aftersales_checkpoint_loads_total`` only when it is
  assigned, with the result it would have had then;
- if a partition was installed that this member did not get, or a checkpoint newer than
  the one decoded was written meanwhile, or the topic's id says the checkpoint is of
  another log, everything decoded ahead is dropped (the shards share a clock that a
  dropped shard would have moved) and the assignment loads as it does without this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kafka import TopicPartition

from consumers.checkpoints import CheckpointStore, Stored

__all__ = ["Ahead", "LoadAhead"]

log = logging.getLogger(__name__)


class _Restores(Protocol):
    def restore(self, tp: TopicPartition, payload: bytes, offset: int) -> str: ...


@dataclass(frozen=True, slots=True)
class Ahead:
    """One source partition's checkpoints as decoded ahead."""

    written: tuple[int, ...]  # where each candidate's manifest is, newest first
    result: str  # ``loaded``, or why not (what the last candidate was refused as)
    offset: int | None  # loaded: the offset to read on from
    topic_id: str | None  # loaded: the source topic's id when the checkpoint was written


def _written(got: list[Stored] | str | None) -> tuple[int, ...]:
    return tuple(c.written_at for c in got) if isinstance(got, list) else ()


class LoadAhead:
    """Owned by the reader; every call on its thread."""

    def __init__(self, store: CheckpointStore, sink: _Restores, topics: tuple[str, ...]) -> None:
        self._store = store
        self._sink = sink
        self._topics = frozenset(topics)
        self._queue: list[tuple[tuple[str, int], list[Stored]]] | None = None
        self._done: dict[TopicPartition, Ahead] = {}
        self._started = 0.0
        self.open = True  # closed by the first assignment

    def pending(self) -> bool:
        """More to decode now (the reader then polls without waiting)."""
        return self.open and bool(self._queue)

    def step(self) -> None:
        """Decode the next partition's checkpoint, once the prefetch is done."""
        if not self.open:
            return
        if self._queue is None:
            found = self._store.peek()
            if found is None:
                return  # still reading (or it failed: the assignment reads again)
            self._queue = [(src, got) for src, got in found.items()
                           if src[0] in self._topics and isinstance(got, list)]
            self._started = time.monotonic()
        if not self._queue:
            return
        src, candidates = self._queue.pop(0)
        tp = TopicPartition(*src)
        result, ahead = "corrupt", None
        for cand in candidates:  # newest first; an older one where the newest is refused
            result = self._sink.restore(tp, cand.payload, cand.offset)
            if result == "loaded":
                ahead = Ahead(_written(candidates), result, cand.offset, cand.topic_id)
                break
        self._done[tp] = ahead or Ahead(_written(candidates), result, None, None)
        if not self._queue:
            log.info("checkpoints of %d partitions decoded in %.2f s while the group join "
                     "runs", len(self._done), time.monotonic() - self._started)

    def installed(self) -> bool:
        """Some partition's state is in the sink."""
        return any(a.result == "loaded" for a in self._done.values())

    def settle(self, fresh: list[TopicPartition],
               found: dict[tuple[str, int], list[Stored] | str],
               topic_id: Callable[[str], str | None]) -> dict[TopicPartition, Ahead] | None:
        """The first assignment came (``fresh``; ``found``: the checkpoints read then).
        The partitions decoded ahead to keep as they are; None: drop all the sink holds
        (see the module docstring) and load as if nothing was decoded ahead."""
        self.open = False
        self._queue = None
        done, self._done = self._done, {}
        assigned = set(fresh)
        usable = all(tp in assigned for tp, a in done.items() if a.result == "loaded")
        for tp, a in done.items():
            if tp not in assigned:
                continue
            if _written(found.get((tp.topic, tp.partition))) != a.written:
                usable = False  # a newer checkpoint (or one gone) since the prefetch
            elif a.result == "loaded" and a.topic_id:
                tid = topic_id(tp.topic)
                if tid and tid != a.topic_id:
                    usable = False  # of another log: the older candidates are tried
        if usable:
            return {tp: a for tp, a in done.items() if tp in assigned}
        n = sum(a.result == "loaded" for a in done.values())
        log.info("checkpoints decoded ahead not used (the assignment differs, or newer ones "
                 "were written); loading the assigned partitions again")
        return None if n else {}
