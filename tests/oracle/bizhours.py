"""Business time for the oracle (SPEC §7 "Business hours"), the plainest way possible.

Independent of the production calendar module on purpose: it never imports it. Every
question is answered by listing the calendar's open intervals (epoch milliseconds) day by
local day with ``zoneinfo`` and intersecting them; nothing is cached except the library's
holiday table per year.

China's calendar comes from python-holidays (``holidays.China``):

* statutory holidays = every date the library lists in its default (public) category --
  it lists the statutory days and the weekdays given off by the State Council's notice
  (调休 days off, "Day off (substituted from MM/DD/YYYY)"); a weekend day inside a break that
  the library does not list follows the calendar's ``days`` (a Mon-Fri calendar is closed
  then anyway);
* makeup workdays (调休上班) = the dates named in those "substituted from MM/DD/YYYY" labels
  (English names asked for explicitly): the library exposes no workday category, and that
  label is its own record of the swap (2026: 01-04, 02-14, 02-28, 05-09, 09-20, 10-10, as in
  the State Council notice 国办发明电〔2025〕7号).

A year the library has no notice for yields the fixed statutory days and no makeup days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
_SPAN = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
_SUBSTITUTED = re.compile(r"substituted from ([0-9]{2})/([0-9]{2})/([0-9]{4})")
DAY_MS = 86_400_000


def parse_span(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` -> (start minute, end minute) of the local day; end may be 24:00.

    An end at or before the start (``"22:00-02:00"``) crosses midnight: end + 1440.
    """
    m = _SPAN.match(text.strip())
    if m is None:
        raise ValueError(f"not a span HH:MM-HH:MM: {text!r}")
    sh, sm, eh, em = (int(m.group(i)) for i in range(1, 5))
    start, end = sh * 60 + sm, eh * 60 + em
    if sh > 23 or sm > 59 or em > 59 or end > 1440:
        raise ValueError(f"not a time of day: {text!r}")
    if end <= start:
        end += 1440
    return start, end


def to_ms(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(milliseconds=1)


@lru_cache(maxsize=64)
def _china_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    import holidays

    table = holidays.China(years=year, language="en_US")
    off = frozenset(table.keys())
    work = set()
    for name in table.values():
        for m in _SUBSTITUTED.finditer(name):
            work.add(date(int(m.group(3)), int(m.group(1)), int(m.group(2))))
    return off, frozenset(work)


def china_holidays(year: int) -> frozenset[date]:
    """Days off of China's calendar in ``year`` (statutory and 调休 days off)."""
    return _china_year(year)[0]


def china_workdays(year: int) -> frozenset[date]:
    """Makeup workdays (调休上班) falling in ``year``."""
    work: set[date] = set()
    for y in (year - 1, year, year + 1):  # a swap may be recorded under the neighbour year
        work |= {d for d in _china_year(y)[1] if d.year == year}
    return frozenset(work)


@dataclass(frozen=True)
class Calendar:
    name: str
    days: frozenset[int]  # 0 = Monday
    spans: tuple[tuple[int, int], ...]  # minutes from local midnight, end exclusive
    holidays: str  # "cn" | "none"
    extra_holidays: frozenset[date]
    extra_workdays: frozenset[date]

    def open_day(self, d: date) -> bool:
        """Whether the local date ``d`` is an open day (its spans apply)."""
        if self.holidays == "cn":
            if d in self.extra_holidays:
                return False
            if d in self.extra_workdays:
                return True
            if d in china_holidays(d.year):
                return False
            if d in china_workdays(d.year):
                return True
        return d.weekday() in self.days


@dataclass(frozen=True)
class BusinessHours:
    """The ``business_hours`` config as the oracle reads it."""

    tz: ZoneInfo
    calendars: dict[str, Calendar]
    channels: dict[str, str]  # channel label -> calendar name

    # ---- construction ---------------------------------------------------------------

    @staticmethod
    def from_config(cfg: dict[str, Any] | None) -> BusinessHours:
        cfg = cfg or {}
        tz = ZoneInfo(cfg.get("timezone") or DEFAULT_TIMEZONE)
        extra_h = frozenset(date.fromisoformat(str(d)) for d in cfg.get("extra_holidays") or [])
        extra_w = frozenset(date.fromisoformat(str(d)) for d in cfg.get("extra_workdays") or [])
        calendars = {}
        for name, c in (cfg.get("calendars") or {}).items():
            days = c.get("days")
            day_set = (
                frozenset(range(7))
                if days is None
                else frozenset(WEEKDAYS.index(str(d).lower()[:3]) for d in days)
            )
            hours = c.get("hours")
            spans = tuple(parse_span(h) for h in (["00:00-24:00"] if hours is None else hours))
            hol = str(c.get("holidays") or "none")
            if hol not in ("cn", "none"):
                raise ValueError(f"holidays: cn or none, not {hol!r}")
            calendars[name] = Calendar(name, day_set, spans, hol, extra_h, extra_w)
        channels = {str(ch): str(cal) for ch, cal in (cfg.get("channels") or {}).items()}
        for ch, cal in channels.items():
            if cal not in calendars:
                raise ValueError(f"business_hours.channels.{ch}: unknown calendar {cal!r}")
        return BusinessHours(tz, calendars, channels)

    # ---- lookups --------------------------------------------------------------------

    def calendar_of(self, channel: str) -> Calendar | None:
        """The channel's calendar; ``other`` follows email's unless named itself."""
        name = self.channels.get(channel)
        if name is None and channel == "other":
            name = self.channels.get("email")
        return None if name is None else self.calendars[name]

    def local(self, t_ms: int) -> datetime:
        return (_EPOCH + timedelta(milliseconds=t_ms)).astimezone(self.tz)

    def local_midnight_ms(self, t_ms: int) -> int:
        """Start of the local day holding ``t_ms`` (the ``today`` window's start)."""
        d = self.local(t_ms).date()
        return to_ms(datetime(d.year, d.month, d.day, tzinfo=self.tz))

    def time_of_day_ms(self, t_ms: int) -> int:
        """Local wall time of day of ``t_ms`` in milliseconds since 00:00."""
        lt = self.local(t_ms)
        return ((lt.hour * 60 + lt.minute) * 60 + lt.second) * 1000 + lt.microsecond // 1000

    # ---- open intervals -------------------------------------------------------------

    def intervals(self, cal: Calendar, a_ms: int, b_ms: int) -> list[tuple[int, int]]:
        """The calendar's open intervals [lo, hi) in ms that meet [a_ms, b_ms), merged."""
        first = self.local(a_ms).date() - timedelta(days=2)
        last = self.local(b_ms).date() + timedelta(days=1)
        raw = []
        d = first
        while d <= last:
            if cal.open_day(d):
                for s, e in cal.spans:
                    # aware + timedelta is wall-clock arithmetic: local HH:MM of that day
                    midnight = datetime(d.year, d.month, d.day, tzinfo=self.tz)
                    lo_ms = to_ms(midnight + timedelta(minutes=s))
                    hi_ms = to_ms(midnight + timedelta(minutes=e))
                    if hi_ms > a_ms and lo_ms < b_ms and hi_ms > lo_ms:
                        raw.append((lo_ms, hi_ms))
            d += timedelta(days=1)
        raw.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in raw:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged

    def business_ms(self, channel: str, a_ms: int, b_ms: int) -> int:
        """Business time between two instants: overlap of [a, b) with the open spans.

        Wall time for a channel without a calendar; negative when b < a.
        """
        cal = self.calendar_of(channel)
        if cal is None:
            return b_ms - a_ms
        if b_ms < a_ms:
            return -self.business_ms(channel, b_ms, a_ms)
        total = 0
        for lo, hi in self.intervals(cal, a_ms, b_ms):
            total += max(0, min(hi, b_ms) - max(lo, a_ms))
        return total

    def is_open(self, channel: str, t_ms: int) -> bool:
        """Open at the instant (span start inclusive, end exclusive); no calendar: open."""
        cal = self.calendar_of(channel)
        if cal is None:
            return True
        return any(lo <= t_ms < hi for lo, hi in self.intervals(cal, t_ms, t_ms + 1))

    def deadline_ms(self, channel: str, start_ms: int, limit_ms: int) -> int | None:
        """The last instant t with business_ms(start, t) <= limit: where a limit runs out.

        A reply at t is within the limit iff t <= this deadline. When the limit is used up
        exactly at a closing time, the deadline is the next opening (the customer has waited
        exactly the limit until then). None when the calendar opens no more (searched for
        two years).
        """
        cal = self.calendar_of(channel)
        if cal is None:
            return start_ms + limit_ms
        remaining = limit_ms
        cursor = start_ms
        horizon = start_ms + 2 * 366 * DAY_MS
        while cursor < horizon:
            chunk_end = cursor + 7 * DAY_MS
            for lo, hi in self.intervals(cal, cursor, chunk_end):
                lo, hi = max(lo, cursor), min(hi, chunk_end)
                if hi <= lo:
                    continue
                if remaining < hi - lo:
                    return lo + remaining
                remaining -= hi - lo
            cursor = chunk_end
        return None
