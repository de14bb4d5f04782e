"""The calendar window ``today`` (SPEC §2/§7): ``local midnight <= ts <= clock``, beside the
sliding windows, against a brute-force recount (hypothesis), with events exactly at
midnight, the window emptying at midnight with no event, and a replay crossing midnight."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.windows import TODAY, SlidingWindows

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-01 00:00 Asia/Shanghai
MIDNIGHT = int(datetime(2026, 12, 1, tzinfo=SHANGHAI).timestamp() * 1000)
DAY = 86_400_000
SPANS = {"15m": 900, "1h": 3600, "24h": 86400}


def midnight_of(ts_ms: int, tz: ZoneInfo) -> int:
    """Plain re-derivation (not the engine's): the local date's 00:00 in the zone."""
    d = datetime.fromtimestamp(ts_ms / 1000, tz).date()
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000)


def brute(events: list[tuple[int, int, float]], clock: int, tz: ZoneInfo,
          timed: int) -> dict[str, tuple[list[int], list[float]]]:
    out = {}
    members = {name: (lambda ts, s=secs: clock - s * 1000 < ts <= clock)
               for name, secs in SPANS.items()}
    m = midnight_of(clock, tz)
    members[TODAY] = lambda ts: m <= ts <= clock
    for name, member in members.items():
        inside = [e for e in events if member(e[0])]
        out[name] = ([len(inside), sum(e[1] == timed for e in inside)],
                     sorted(e[2] for e in inside if e[1] == timed))
    return out


def check(sw: SlidingWindows, events: list[tuple[int, int, float]], clock: int,
          tz: ZoneInfo, timed: int) -> None:
    for name, (counts, values) in brute(events, clock, tz, timed).items():
        assert sw.counts(name) == counts, (name, clock)
        assert list(sw.values(name, 0)) == values, (name, clock)
        assert sw.value_sum(name, 0) == pytest.approx(sum(values))


# offsets from MIDNIGHT: around the previous/this/next midnight, exactly on them included
_near = st.sampled_from([-DAY - 1, -DAY, -DAY + 1, -1, 0, 1, DAY - 1, DAY, DAY + 1])
_offset = st.one_of(_near, st.integers(-2 * DAY, 2 * DAY))


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.lists(st.tuples(_offset, st.booleans(), st.floats(0, 1e5)), max_size=6),
                  st.integers(0, 6 * 3_600_000), st.booleans()),
        min_size=1, max_size=25,
    ),
    start=_offset,
    zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Asia/Kolkata", "UTC"]),
)
def test_today_equals_a_brute_force_recount(
    steps: list[tuple[list[tuple[int, bool, float]], int, bool]], start: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    sw = SlidingWindows(SPANS, n_slots=2, n_series=1, today=tz)
    plain, timed = sw.code((0,)), sw.code((0, 1), series=0)
    events: list[tuple[int, int, float]] = []
    clock = MIDNIGHT + start
    sw.advance(clock)
    for batch, step, jump_to_midnight in steps:
        for off, is_timed, value in batch:
            ts = MIDNIGHT + off
            code = timed if is_timed else plain
            value = round(value, 3)
            if sw.add(ts, code, value, clock):
                events.append((ts, code, value))
            else:  # refused only when no window can ever see it
                assert ts < midnight_of(clock, tz)
                assert ts <= clock - 86_400_000
        # the clock moves on by itself (live mode), sometimes exactly to a midnight
        nxt = midnight_of(clock, tz) + DAY if jump_to_midnight else clock + step
        clock = max(clock, midnight_of(nxt + 3_600_000, tz) if jump_to_midnight else nxt)
        sw.advance(clock)
        check(sw, events, clock, tz, timed)


def test_an_event_exactly_at_midnight_is_today_and_the_window_empties_with_no_event() -> None:
    sw = SlidingWindows({"15m": 900}, n_slots=1, today=SHANGHAI)
    c = sw.code((0,))
    for ts in (MIDNIGHT - 1, MIDNIGHT, MIDNIGHT + 1):
        sw.add(ts, c, clock_ms=MIDNIGHT + 1)
    sw.advance(MIDNIGHT + 1)
    assert sw.counts(TODAY) == [2]  # midnight is inclusive, 23:59:59.999 is yesterday
    assert sw.counts("15m") == [3]
    assert sw.seconds(TODAY) == 0
    sw.advance(MIDNIGHT + DAY - 1)  # 23:59:59.999, no event
    assert sw.counts(TODAY) == [2]
    assert sw.seconds(TODAY) == 86_399
    sw.advance(MIDNIGHT + DAY)  # the next midnight, no event: empty
    assert sw.counts(TODAY) == [0]
    assert sw.seconds(TODAY) == 0
    sw.add(MIDNIGHT + DAY, c, clock_ms=MIDNIGHT + DAY)
    assert sw.counts(TODAY) == [1]


def test_a_replay_crossing_midnight_with_late_entries_and_a_short_largest_window() -> None:
    """Windows of 1 minute only: today (up to a day) is the largest, and keeps its history;
    a late entry of today (behind every sliding edge) still counts in today."""
    sw = SlidingWindows({"1m": 60}, n_slots=1, today=SHANGHAI)
    c = sw.code((0,))
    sw.advance(MIDNIGHT - 30_000)
    sw.add(MIDNIGHT - 20_000, c, clock_ms=MIDNIGHT - 20_000)
    sw.advance(MIDNIGHT + 5 * 3_600_000)
    assert sw.counts(TODAY) == [0]
    assert sw.add(MIDNIGHT + 60_000, c, clock_ms=MIDNIGHT + 5 * 3_600_000)  # late: 5 h old
    assert sw.add(MIDNIGHT - 1, c, clock_ms=MIDNIGHT + 5 * 3_600_000) is False  # yesterday
    assert sw.counts(TODAY) == [1]
    assert sw.counts("1m") == [0]
    assert sw.entry_count() == 1  # yesterday's entry was evicted


def test_without_today_there_is_no_today_window_and_a_clash_is_refused() -> None:
    assert SlidingWindows({"15m": 900}, n_slots=1).names() == ["15m"]
    assert SlidingWindows({"15m": 900}, n_slots=1, today=SHANGHAI).names() == ["15m", TODAY]
    with pytest.raises(ValueError, match="today"):
        SlidingWindows({TODAY: 900}, n_slots=1, today=SHANGHAI)
