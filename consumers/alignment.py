"""Reading several partitions of a backlog in event-time step.

When a backlog is replayed, one partition can run hours of event time ahead of the
others: the watermark would follow it, the windows at the clock would miss the other
partitions' events and count them late, and an alert evaluated on the way would judge
half the data. So fetched records wait here, per partition, and leave in event-time
order, never more than ``slack`` beyond the newest event time of the slowest partition
that still has records in Kafka that are not yet fetched — or, while a backlog is being
written as it is read, that was fed moments ago (see :meth:`EventTimeAligner.limit`).
(kafka-python's ``pause`` would
be the natural tool, but with kafka-python 3.0 and Tansu a paused partition stalls the
fetcher for all of them; so waiting records are held here, and a partition whose queue
overflows is read again later from its first waiting offset.)
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["EventTimeAligner"]


class EventTimeAligner:
    """Per-partition queues of ``(event time, record, decoded)``, drained in time order."""

    def __init__(self, slack_ms: int = 60_000, max_waiting: int = 50_000) -> None:
        self.slack_ms = slack_ms
        self.max_waiting = max_waiting
        self._queues: dict[Hashable, deque[tuple[int, Any, Any]]] = {}
        self._newest: dict[Hashable, int] = {}  # newest event time queued per partition
        self._done: dict[Hashable, int] = {}  # event time of the last record drained
        self._fed_ms: dict[Hashable, int] = {}  # when records last came (a monotonic ms)
        self.cut = False  # the last drain stopped at its deadline, records free to leave

    def add(
        self,
        part: Hashable,
        records: Sequence[Any],
        items: Sequence[Any],
        times: Sequence[int | None],
        wall_ms: int = 0,
    ) -> None:
        """Queue fetched records with their decoded ``items``; ``times[i]`` is None for
        records without an event time (they travel with the record before them)."""
        if records:
            self._fed_ms[part] = wall_ms
        q = self._queues.setdefault(part, deque())
        key = self._newest.get(part, self._done.get(part, 0))
        for rec, item, ts in zip(records, items, times, strict=True):
            if ts is not None and ts > key:
                key = ts
            q.append((key, rec, item))
        self._newest[part] = key

    def limit(self, unfetched: Sequence[Hashable], *, wall_ms: int = 0,
              hold_ms: int = 0, ended: Mapping[Hashable, int] | None = None,
              max_hold_ms: int = 0) -> float:
        """How far records may leave: slowest partition with unfetched data + slack.

        ``hold_ms``: a partition fed within the last ``hold_ms`` (of the times given to
        :meth:`add` and here as ``wall_ms``: real elapsed time, not event time) holds the
        others back too, though all Kafka has of it is fetched. A backlog that is still
        being written (a producer or a mirror catching up) reaches the partitions
        unevenly — under load one of them was seen hours of event time behind the
        others — and the reader, at the writer's heels, would fold the ahead ones first.

        ``ended``: per partition, when the newest fetch was sent that found it at its end
        (same clock). Given, a partition lets go only once Kafka was asked ``hold_ms``
        after its last records and had nothing more: quiet for the hold as the broker
        saw it, not merely unheard of, as while its fetch is on its way (a slow broker, a
        starved fetch process) — then up to ``max_hold_ms`` after its last records.
        Without it, a partition lets go once it has been quiet here for ``hold_ms``."""
        # a partition not fetched yet holds the others back until its first records come
        fronts = [self._newest.get(p, 0) for p in unfetched]
        if hold_ms:
            newest = self._newest
            for p, at in self._fed_ms.items():
                if p not in newest:
                    continue
                quiet = wall_ms - at
                if quiet < hold_ms or (ended is not None and quiet < max_hold_ms
                                       and ended.get(p, -1) < at + hold_ms):
                    fronts.append(newest[p])
        return min(fronts) + self.slack_ms if fronts else float("inf")

    def drain(self, limit: float, until: float | None = None) -> Iterator[tuple[Any, Any, Any]]:
        """Records with event time ≤ ``limit``, oldest first, each partition in order.

        ``until``: a ``time.monotonic()`` deadline, looked at every 1024 records; past it
        the drain stops with records still free to leave (:attr:`cut` says so) — a
        caller that must get back to its loop (a fetch process waiting on it) takes the
        rest at its next call."""
        heap = [(q[0][0], i, p) for i, (p, q) in enumerate(self._queues.items()) if q]
        heapq.heapify(heap)
        queues = self._queues
        self.cut = False
        n = 0
        while heap:
            key, i, p = heap[0]
            if key > limit:
                return
            n += 1
            if until is not None and not n & 1023 and time.monotonic() > until:
                self.cut = True
                return
            q = queues[p]
            _, rec, item = q.popleft()
            self._done[p] = key
            if q:
                heapq.heapreplace(heap, (q[0][0], i, p))
            else:
                heapq.heappop(heap)
            yield p, rec, item

    def first_waiting_offset(self, part: Hashable) -> int | None:
        q = self._queues.get(part)
        return q[0][1].offset if q else None

    def overflowing(self) -> list[tuple[Hashable, int]]:
        """Partitions holding too much: drop their queue; returns (partition, offset) to
        read again from."""
        out = []
        for p, q in self._queues.items():
            if len(q) > self.max_waiting:
                out.append((p, q[0][1].offset))
                q.clear()
                if p in self._done:
                    self._newest[p] = self._done[p]
                else:
                    self._newest.pop(p, None)
        return out

    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def clear(self) -> None:
        self._queues.clear()
        self._newest.clear()
        self._done.clear()
        self._fed_ms.clear()
