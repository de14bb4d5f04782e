"""Calendar arithmetic on epoch milliseconds: is a channel open, how much business time lies
between two instants, when an SLA of N business milliseconds runs out, when the state changes.

A local date's open intervals are computed once (DST-correct, from the spans' local wall
times) and cached by date ordinal, so a call costs O(days spanned) dictionary look-ups, never
a per-minute loop. An instant is open when its local wall-clock reading falls in one of the
day's spans and its local date is an open day: a span inside a skipped hour (spring forward)
is empty that day, and one covering a repeated hour (fall back) is open during both readings.
Local dates are assumed to follow each other in time (true of every zone in use today).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "ALWAYS_OPEN",
    "NEVER_MS",
    "AlwaysOpen",
    "BusinessCalendar",
    "Calendar",
    "CalendarConfig",
    "Span",
    "local_midnight_ms",
    "local_second_of_day",
    "next_local_midnight_ms",
]

NEVER_MS: Final = 2**62
"""Returned for a deadline or a change that never comes (far beyond any real clock)."""

_DAY_S: Final = 86_400
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
# Inputs are clamped inside the years datetime can represent, so a sentinel never crashes.
_LO_MS: Final = (dt.date(1, 1, 3).toordinal() - _EPOCH_ORDINAL) * _DAY_S * 1000
_HI_MS: Final = (dt.date(9999, 12, 29).toordinal() - _EPOCH_ORDINAL) * _DAY_S * 1000
_DEADLINE_SCAN_DAYS: Final = 3_660  # a calendar closed for ten years never opens
_CHANGE_SCAN_DAYS: Final = 400  # a calendar open (or closed) a whole year does not change
_DAY_CACHE_MAX: Final = 4_096  # dates per calendar; cleared when full (cheaper than an LRU)


@dataclass(frozen=True, slots=True)
class Span:
    """One open span of a day, in seconds after local midnight (wall time), end exclusive."""

    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """A named calendar: open weekdays (0 = Monday), daily spans, holiday source."""

    name: str
    days: frozenset[int]
    spans: tuple[Span, ...]
    holidays: Literal["cn", "none"] = "none"



# ----------------------------------------------------------------------------- local time


@lru_cache(maxsize=8_192)
def _segments(tz: ZoneInfo, ordinal: int) -> tuple[tuple[int, int, int], ...]:
    """(from_s, to_s, utc_offset_s) pieces of constant offset covering every instant whose
    local date can be `ordinal`. Probes the offset at both ends and the middle and, when they
    differ, hourly and then by bisection to the second (a zone changes offset at most once
    an hour)."""
    midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_S
    lo, hi = midnight - 15 * 3600, midnight + _DAY_S + 15 * 3600

    def off(t: int) -> int:
        delta = dt.datetime.fromtimestamp(t, tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    o_lo, o_mid, o_hi = off(lo), off((lo + hi) // 2), off(hi)
    if o_lo == o_mid == o_hi:
        return ((lo, hi, o_lo),)
    pieces: list[tuple[int, int, int]] = []
    start, cur = lo, o_lo
    for t in range(lo + 3600, hi + 1, 3600):
        o = off(t)
        if o == cur:
            continue
        a, b = t - 3600, t  # off(a) == cur, off(b) != cur: find the first second of change
        while b - a > 1:
            m = (a + b) // 2
            if off(m) == cur:
                a = m
            else:
                b = m
        pieces.append((start, b, cur))
        start, cur = b, off(b)
    pieces.append((start, hi, cur))
    return tuple(pieces)


def _ordinal(ts_ms: int, tz: ZoneInfo) -> int:
    return dt.datetime.fromtimestamp(ts_ms // 1000, tz).toordinal()


def _clamp(ts_ms: int) -> int:
    return _LO_MS if ts_ms < _LO_MS else _HI_MS if ts_ms > _HI_MS else ts_ms


@lru_cache(maxsize=8_192)
def _day_start_s(tz: ZoneInfo, ordinal: int) -> int:
    midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_S
    return min(
        max(a, midnight - o)
        for a, b, o in _segments(tz, ordinal)
        if max(a, midnight - o) < min(b, midnight + _DAY_S - o)
    )


def local_midnight_ms(ts_ms: int, tz: ZoneInfo) -> int:
    """The first instant of the local date containing `ts_ms` (the start of `today`); where
    midnight is skipped by a DST change, the instant the day begins."""
    return _day_start_s(tz, _ordinal(_clamp(ts_ms), tz)) * 1000


def next_local_midnight_ms(ts_ms: int, tz: ZoneInfo) -> int:
    """The first instant of the next local date: when `today` empties, with no event."""
    return _day_start_s(tz, _ordinal(_clamp(ts_ms), tz) + 1) * 1000


def local_second_of_day(ts_ms: int, tz: ZoneInfo) -> int:
    """Seconds after midnight on the local wall clock at `ts_ms` (for "a turn starting
    within a score's hours": `span.start_s <= local_second_of_day(ts) < span.end_s`)."""
    wall = dt.datetime.fromtimestamp(_clamp(ts_ms) // 1000, tz)
    return wall.hour * 3600 + wall.minute * 60 + wall.second


# ------------------------------------------------------------------------------ calendars


class Calendar(Protocol):
    """What the engine asks of a channel's calendar; all instants are epoch milliseconds."""

    def is_open(self, ts_ms: int) -> bool:
        """Whether the calendar is open at `ts_ms`."""
        ...

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        """Length of the overlap of [start, end) with the open spans (0 if end <= start)."""
        ...

    def deadline_ms(self, start_ms: int, business_ms: int) -> int:
        """The earliest t with business_ms(start, t) >= business_ms: when an SLA runs out."""
        ...

    def next_change_ms(self, ts_ms: int) -> int:
        """The next instant > ts at which is_open changes (NEVER_MS if it never does)."""
        ...


@dataclass(frozen=True, slots=True)
class AlwaysOpen:
    """The calendar of a channel without one: open around the clock (24x7)."""

    def is_open(self, ts_ms: int) -> bool:
        """Always open."""
        return True

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        """Business time is wall time."""
        return end_ms - start_ms if end_ms > start_ms else 0

    def deadline_ms(self, start_ms: int, business_ms: int) -> int:
        """start + amount."""
        return start_ms + business_ms if business_ms > 0 else start_ms

    def next_change_ms(self, ts_ms: int) -> int:
        """Never changes."""
        return NEVER_MS


ALWAYS_OPEN: Final = AlwaysOpen()


class BusinessCalendar:
    """One named calendar in one timezone, with each local date's open intervals cached."""

    __slots__ = ("_cn", "_days", "_extra_holidays", "_extra_workdays", "_last", "_open",
                 "_overnight", "_spans", "_tz", "config")

    def __init__(self, config: CalendarConfig, tz: ZoneInfo,
                 extra_holidays: frozenset[dt.date] = frozenset(),
                 extra_workdays: frozenset[dt.date] = frozenset()) -> None:
        self.config = config
        self._tz = tz
        self._open = config.days
        self._spans = tuple((s.start_s, s.end_s) for s in config.spans)
        self._overnight = any(e > _DAY_S for _, e in self._spans)  # a span past midnight
        self._cn = config.holidays == "cn"
        self._extra_holidays = extra_holidays
        self._extra_workdays = extra_workdays
        self._days: dict[int, tuple[int, ...]] = {}
        self._last = (0, 0, 0)  # (first ms, end ms, ordinal) of the last local date looked up

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.config.name!r}, {self._tz.key!r})"

    def is_open_day(self, day: dt.date) -> bool:
        """Whether the local date is an open day (its spans apply)."""
        if self._cn:
            if day in self._extra_holidays:
                return False
            if day in self._extra_workdays:
                return True
            # imported here: python-holidays costs ~0.15 s at every start, for ``cn`` only
            from core.cn_holidays import cn_year

            year = cn_year(day.year)
            if day in year.holidays:
                return False
            if day in year.workdays:
                return True
        return day.weekday() in self._open

    def _ord(self, ts_ms: int) -> int:
        """The local date ordinal of `ts_ms`; the last date's bounds answer without the zone."""
        lo, hi, ordinal = self._last
        if lo <= ts_ms < hi:
            return ordinal
        ordinal = _ordinal(ts_ms, self._tz)
        self._last = (_day_start_s(self._tz, ordinal) * 1000,
                      _day_start_s(self._tz, ordinal + 1) * 1000, ordinal)
        return ordinal

    def _spans_of(self, ordinal: int) -> list[tuple[int, int]]:
        """The open spans a local date starts, in epoch seconds (a span past midnight, as
        "22:00-02:00", ends on the next date)."""
        if not self.is_open_day(dt.date.fromordinal(ordinal)):
            return []
        midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_S
        return [
            (max(a, midnight + s - o), min(b, midnight + e - o))
            for a, b, o in _segments(self._tz, ordinal)
            for s, e in self._spans
        ]

    def _day(self, ordinal: int) -> tuple[int, ...]:
        """Open intervals of a local date as a flat (start, end, start, end, ...) in ms,
        within that date (the part of the day before's overnight span included)."""
        got = self._days.get(ordinal)
        if got is not None:
            return got
        pieces = self._spans_of(ordinal)
        if self._overnight:
            first, end = _day_start_s(self._tz, ordinal), _day_start_s(self._tz, ordinal + 1)
            pieces = [(max(lo, first), min(hi, end))
                      for lo, hi in pieces + self._spans_of(ordinal - 1)]
        out: list[int] = []
        for lo, hi in sorted(pieces):
            if lo >= hi:
                continue
            if out and lo <= out[-1] // 1000:
                out[-1] = max(out[-1], hi * 1000)
            else:
                out += (lo * 1000, hi * 1000)
        got = tuple(out)
        if len(self._days) >= _DAY_CACHE_MAX:
            self._days.clear()
        self._days[ordinal] = got
        return got

    def is_open(self, ts_ms: int) -> bool:
        """Whether `ts_ms` falls in an open span of its local date."""
        iv = self._day(self._ord(_clamp(ts_ms)))
        for i in range(0, len(iv), 2):  # noqa: SIM110 - no generator on the hot path
            if iv[i] <= ts_ms < iv[i + 1]:
                return True
        return False

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        """Length of the overlap of [start, end) with the open spans."""
        if end_ms <= start_ms:
            return 0
        start_ms, end_ms = _clamp(start_ms), _clamp(end_ms)
        total = 0
        for ordinal in range(self._ord(start_ms), self._ord(end_ms - 1) + 1):
            iv = self._day(ordinal)
            for i in range(0, len(iv), 2):
                lo = iv[i] if iv[i] > start_ms else start_ms
                hi = iv[i + 1] if iv[i + 1] < end_ms else end_ms
                if lo < hi:
                    total += hi - lo
        return total

    def deadline_ms(self, start_ms: int, business_ms: int) -> int:
        """The earliest t with business_ms(start, t) >= the amount (start if amount <= 0)."""
        if business_ms <= 0:
            return start_ms
        if start_ms >= _HI_MS:
            return NEVER_MS
        remaining = business_ms
        start_ms = _clamp(start_ms)
        ordinal = self._ord(start_ms)
        for _ in range(_DEADLINE_SCAN_DAYS):
            iv = self._day(ordinal)
            for i in range(0, len(iv), 2):
                if iv[i + 1] <= start_ms:
                    continue
                lo = iv[i] if iv[i] > start_ms else start_ms
                if remaining <= iv[i + 1] - lo:
                    return lo + remaining
                remaining -= iv[i + 1] - lo
            ordinal += 1
        return NEVER_MS

    def next_change_ms(self, ts_ms: int) -> int:
        """The next open/close transition after `ts_ms` (NEVER_MS if none within a year)."""
        if ts_ms >= _HI_MS:
            return NEVER_MS
        ts_ms = _clamp(ts_ms)
        ordinal = self._ord(ts_ms)
        run_end = -1  # end of the open run containing ts, once found
        for _ in range(_CHANGE_SCAN_DAYS):
            iv = self._day(ordinal)
            for i in range(0, len(iv), 2):
                a, b = iv[i], iv[i + 1]
                if b <= ts_ms:
                    continue
                if run_end < 0:
                    if a > ts_ms:
                        return a  # closed at ts: the next opening
                    run_end = b
                elif a == run_end:
                    run_end = b  # contiguous across midnight: no change there
                else:
                    return run_end
            ordinal += 1
        return NEVER_MS
