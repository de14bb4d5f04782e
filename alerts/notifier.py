"""Delivery off the hot path: a bounded queue and a worker thread per sink.

:meth:`Notifier.submit` is called from the consumer thread and never waits: it appends
to each sink's queue (a full queue drops its oldest item, counted) and returns. Each
worker retries a failed send with exponential backoff (capped at ``max_backoff_s``) and
jitter for up to ``retry_for_s`` (an hour by default, so a sink that is down or hanging
for minutes gets its notifications, in order, when it returns), so a dead robot costs
its own thread time and nothing else — the stream, the metrics and the other sinks go
on at full speed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from alerts.sinks.base import Sink
from core.alerting import ActiveAlert, Notification

__all__ = ["Notifier", "NotifierStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Refresh:
    """Re-send the alerts firing now (Alertmanager forgets alerts not re-sent)."""

    alerts: tuple[ActiveAlert, ...]


class NotifierStats:
    """Counters for the collector; guarded by one lock, read as copies."""

    def __init__(self, names: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self.names = tuple(names)
        self.sent: dict[tuple[str, str], int] = {}
        self.failures: dict[str, int] = dict.fromkeys(self.names, 0)
        self.dropped: dict[tuple[str, str], int] = {}

    def add(self, table: str, key: str | tuple[str, str]) -> None:
        with self._lock:
            counts = getattr(self, table)
            counts[key] = counts.get(key, 0) + 1

    def copy(self) -> tuple[dict[tuple[str, str], int], dict[str, int],
                            dict[tuple[str, str], int]]:
        with self._lock:
            return dict(self.sent), dict(self.failures), dict(self.dropped)


class _Worker:
    def __init__(self, sink: Sink, stats: NotifierStats, stop: threading.Event,
                 rand: Callable[[], float]) -> None:
        self.sink = sink
        self.stats = stats
        self._stop = stop
        self._rand = rand
        self._queue: deque[Notification | _Refresh] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self.thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self.thread.start()

    def put(self, item: Notification | _Refresh) -> None:
        with self._cond:
            if isinstance(item, _Refresh):  # only the newest refresh matters
                for old in [q for q in self._queue if isinstance(q, _Refresh)]:
                    self._queue.remove(old)
            if len(self._queue) >= self.sink.options.queue_size:
                self._queue.popleft()
                self.stats.add("dropped", (self.sink.name, "queue_full"))
            self._queue.append(item)
            self._cond.notify()

    @property
    def depth(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
            self._deliver(item)

    def _deliver(self, item: Notification | _Refresh) -> None:
        """Send ``item``, retrying with capped exponential backoff and jitter until it is
        delivered, ``max_attempts`` (when not 0) were made or ``retry_for_s`` has passed."""
        opts = self.sink.options
        status = "refresh" if isinstance(item, _Refresh) else item.status
        limit = str(opts.max_attempts) if opts.max_attempts else "-"
        give_up_at = time.monotonic() + opts.retry_for_s
        attempt = 0
        while True:
            attempt += 1
            try:
                if isinstance(item, _Refresh):
                    self.sink.refresh(item.alerts)
                else:
                    self.sink.send(item)
            except Exception as exc:  # a sink's failure of any kind is counted, not raised
                self.stats.add("failures", self.sink.name)
                log.warning("sink %s: attempt %d/%s failed: %s", self.sink.name, attempt,
                            limit, exc)
            else:
                self.stats.add("sent", (self.sink.name, status))
                return
            if opts.max_attempts and attempt >= opts.max_attempts:
                break
            delay = min(opts.max_backoff_s, opts.backoff_s * 2 ** min(attempt - 1, 30))
            delay *= 0.8 + 0.4 * self._rand()
            if time.monotonic() + delay > give_up_at:
                break
            if self._stop.wait(delay):
                break  # shutting down: one attempt per queued item, no more waiting
        self.stats.add("dropped", (self.sink.name, "gave_up"))
        log.error("sink %s: gave up on a %s notification after %d attempts", self.sink.name,
                  status, attempt)


class Notifier:
    """Fans notifications out to sinks; every call returns at once."""

    def __init__(self, sinks: Sequence[Sink], *, monotonic: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.sinks = tuple(sinks)
        self.stats = NotifierStats(s.name for s in self.sinks)
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._workers = {s.name: _Worker(s, self.stats, self._stop, rand) for s in self.sinks}
        self._last_refresh: dict[str, float] = {}

    def submit(self, notes: Iterable[Notification]) -> None:
        for n in notes:
            for sink in self.sinks:
                if sink.accepts(n):
                    self._workers[sink.name].put(n)

    def refresh(self, alerts: Sequence[ActiveAlert]) -> None:
        """Queue a re-send of what is firing, at most every ``resend_s`` per sink."""
        now = self._monotonic()
        for sink in self.sinks:
            if not sink.wants_refresh:
                continue
            every = float(getattr(sink, "resend_s", 60.0))
            last = self._last_refresh.get(sink.name)
            if last is None or now - last >= every:
                self._last_refresh[sink.name] = now
                if alerts:
                    self._workers[sink.name].put(_Refresh(tuple(alerts)))

    def queue_depth(self) -> dict[str, int]:
        return {name: w.depth for name, w in self._workers.items()}

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (one attempt each), then stop; waits at most ``timeout_s``."""
        self._stop.set()
        for w in self._workers.values():
            w.close()
        deadline = time.monotonic() + timeout_s
        for w in self._workers.values():
            w.thread.join(max(0.0, deadline - time.monotonic()))
        for s in self.sinks:
            try:
                s.close()
            except Exception:  # closing is best effort
                log.debug("closing sink %s failed", s.name, exc_info=True)
