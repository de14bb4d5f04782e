"""The event-time clock: replay follows the watermark, live follows the wall clock."""

from __future__ import annotations

from metrics.clock import EventClock


def test_replay_clock_is_the_watermark() -> None:
    wall = [2_000_000_000_000]
    c = EventClock(120_000, lambda: wall[0])
    c.observe(1_000_000)
    c.observe(900_000)
    assert c.now() == 1_000_000
    assert not c.live


def test_live_clock_follows_the_wall_and_never_goes_back() -> None:
    wall = [1_000_000_000]
    c = EventClock(120_000, lambda: wall[0])
    c.observe(wall[0] - 60_000)
    assert c.now() == wall[0]
    assert c.live
    wall[0] += 600_000  # no events for 10 minutes: still sliding
    assert c.now() == 1_000_600_000
    wall[0] -= 300_000  # the wall clock steps back (NTP): the clock does not
    assert c.now() == 1_000_600_000
