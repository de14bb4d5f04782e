"""Drive a real :class:`Engine` with typed events at chosen event times (no broker).

The alert tests judge real snapshots: whatever the engine computes is what the evaluator
sees, so a change in a definition shows up here too.
"""

from __future__ import annotations

import itertools
from typing import Any

from core.config import Config, load_config
from core.events import (
    ShipmentDelivered,
    TicketCreated,
    TicketEscalated,
    TicketReplied,
    TicketResolved,
)
from core.snapshot import ConsumerHealth, Snapshot
from metrics.engine import Engine

__all__ = ["MIN", "T0", "Feed"]

T0 = 1_794_355_200_000  # 2026-11-11T08:00:00+08:00
MIN = 60_000


class Feed:
    """``feed.created("t1", T0)``… then ``feed.snap()``; the wall clock is pinned."""

    def __init__(self, config: Config | None = None, wall_ms: int = T0 + 30 * 86_400_000,
                 **overrides: Any) -> None:
        self.config = config or load_config(dashboard__enabled=False, **overrides)
        self.wall_ms = wall_ms  # far ahead: a replay, the clock is the watermark
        self.engine = Engine(self.config, lambda: self.wall_ms)
        self._ids = itertools.count()

    def _eid(self) -> str:
        return f"e{next(self._ids)}"

    def _topic(self, kind: str) -> str:
        return self.config.kafka.tickets_topic if kind == "t" else self.config.kafka.logistics_topic

    def created(self, tid: str, ts: int, channel: str = "chat", priority: str = "P3",
                region: str = "east", category: str = "return") -> None:
        ev = TicketCreated(self._eid(), ts, tid, channel, category, priority, region)
        self.engine.process(self._topic("t"), ev, self.wall_ms)

    def replied(self, tid: str, ts: int, agent: bool = True) -> None:
        self.engine.process(self._topic("t"), TicketReplied(self._eid(), ts, tid, agent),
                            self.wall_ms)

    def resolved(self, tid: str, ts: int) -> None:
        self.engine.process(self._topic("t"), TicketResolved(self._eid(), ts, tid), self.wall_ms)

    def escalated(self, tid: str, ts: int) -> None:
        self.engine.process(self._topic("t"), TicketEscalated(self._eid(), ts, tid), self.wall_ms)

    def delivered(self, region: str, ts: int, n: int = 1) -> None:
        for _ in range(n):
            ev = ShipmentDelivered(self._eid(), ts, f"o{next(self._ids)}", region, None)
            self.engine.process(self._topic("l"), ev, self.wall_ms)

    def answered_tickets(self, start: int, n: int, within: int, late: int, every_ms: int = 1000,
                         prefix: str = "a") -> int:
        """``n`` chat tickets from ``start``: ``within`` answered in 10 s, ``late`` in 60 s
        (chat SLA 30 s), the rest never answered. Returns the last event time."""
        ts = start
        for i in range(n):
            tid = f"{prefix}{ts}-{i}"
            self.created(tid, ts)
            if i < within:
                self.replied(tid, ts + 10_000)
            elif i < within + late:
                self.replied(tid, ts + 60_000)
            ts += every_ms
        return ts + 60_000

    def snap(self, *, ready: bool = True,
             lag: dict[tuple[str, int], int] | None = None) -> Snapshot:
        self.engine.tick()
        return self.engine.snapshot(health=ConsumerHealth(ready=ready, lag=lag or {}))
