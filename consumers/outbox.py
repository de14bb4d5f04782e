"""Messages to the other end of a pipe, sent by a thread of their own.

The fetch process streams batches to the reader over a pipe, and a full pipe is the
back-pressure. Sending from the fetch loop itself blocked that loop whenever the reader
was busy (a long snapshot, a checkpoint round, a drain slice): the consumer was not
polled, and past ``max_poll_interval_ms`` kafka-python left the group — a rebalance,
every partition rebuilt. Here the loop only queues; the bound is on what is queued, so
the loop can wait for room a while and then keep the membership alive without fetching.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Outbox"]


class Outbox:
    """A FIFO of messages sent in order by one daemon thread. Only messages for which
    ``counted(msg)`` is true count against ``limit`` (batches of records); the rest
    (rebalance events, replies) are few and small, and always queue."""

    def __init__(self, conn: Connection, *, limit: int, counted: Callable[[Any], bool]) -> None:
        self._conn = conn
        self._limit = limit
        self._counted = counted
        self._queue: deque[Any] = deque()
        self._waiting = 0  # counted messages queued or being sent
        self._cond = threading.Condition()
        self._broken: BaseException | None = None
        threading.Thread(target=self._send_all, name="pulse-fetch-outbox", daemon=True).start()

    def put(self, msg: Any) -> None:
        """Queue ``msg``; raises what the pipe raised once the other end is gone."""
        with self._cond:
            self._check()
            self._queue.append(msg)
            if self._counted(msg):
                self._waiting += 1
            self._cond.notify_all()

    def full(self) -> bool:
        with self._cond:
            self._check()
            return self._waiting >= self._limit

    def wait_room(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until a counted message may be queued; False if not."""
        with self._cond:
            self._cond.wait_for(lambda: self._waiting < self._limit or self._broken,
                                timeout_s)
            self._check()
            return self._waiting < self._limit

    def _check(self) -> None:
        if self._broken is not None:
            raise self._broken

    def _send_all(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue)
                msg = self._queue[0]
            try:
                self._conn.send(msg)
            except Exception as exc:  # the parent is gone (or a bug): the loop raises it
                with self._cond:
                    self._broken = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._queue.popleft()
                if self._counted(msg):
                    self._waiting -= 1
                self._cond.notify_all()
