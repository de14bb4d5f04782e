"""The event-time clock: the watermark, or the wall clock once the stream is live.

Replays are measured at their own time (clock = watermark). Once the watermark has come
within ``live_threshold_ms`` of the wall clock the stream is live and the clock follows
the wall clock, so windows keep sliding and SLA timers fire when no event arrives. The
clock never goes backwards.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["EventClock"]


class EventClock:
    __slots__ = ("_wall", "clock_ms", "last_wall_ms", "live", "live_threshold_ms", "watermark_ms")

    def __init__(self, live_threshold_ms: int, wall: Callable[[], int]) -> None:
        self._wall = wall
        self.live_threshold_ms = live_threshold_ms
        self.watermark_ms: int | None = None
        self.clock_ms = 0
        self.live = False
        self.last_wall_ms = wall()

    def observe(self, ts_ms: int) -> int:
        """Feed one accepted event time; returns the clock as the event sees it."""
        if self.watermark_ms is None or ts_ms > self.watermark_ms:
            self.watermark_ms = ts_ms
            if ts_ms > self.clock_ms and not self.live:
                self.clock_ms = ts_ms
        return self.clock_ms

    def now(self) -> int:
        """Re-read the wall clock and return the clock."""
        wall = self.last_wall_ms = int(self._wall())
        wm = self.watermark_ms
        if not self.live and wm is not None and wm >= wall - self.live_threshold_ms:
            self.live = True
        clock = self.clock_ms
        if wm is not None and wm > clock and not self.live:
            clock = wm
        if self.live and wall > clock:
            clock = wall
        self.clock_ms = clock
        return clock
