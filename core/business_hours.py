"""Business hours (SPEC §7): the validated `business_hours` config, the channel → calendar
look-up the engine uses, and the timezone and switch of the `today` window.

The arithmetic lives in core.business_calendar (re-exported here); China's holidays in
core.cn_holidays.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.business_calendar import (
    ALWAYS_OPEN,
    NEVER_MS,
    AlwaysOpen,
    BusinessCalendar,
    Calendar,
    CalendarConfig,
    Span,
    local_midnight_ms,
    local_second_of_day,
    next_local_midnight_ms,
)
from core.errors import ConfigError
from core.events import OTHER

__all__ = [
    "ALWAYS_OPEN",
    "DAY_NAMES",
    "DEFAULT_TIMEZONE",
    "NEVER_MS",
    "TODAY_WINDOW_DEFAULT",
    "AlwaysOpen",
    "BusinessCalendar",
    "BusinessHours",
    "BusinessHoursConfig",
    "Calendar",
    "CalendarConfig",
    "Span",
    "local_midnight_ms",
    "local_second_of_day",
    "next_local_midnight_ms",
    "parse_business_hours",
    "parse_span",
    "parse_today_window",
    "today_timezone",
]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
"""The business-hours timezone, and the one `today` uses, when none is configured."""
TODAY_WINDOW_DEFAULT: Final = True
"""The `today` window is on unless `today_window: false`."""
DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_SPAN_RE: Final = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_DATE_RE: Final = re.compile(r"\d{4}-\d\d-\d\d")


@dataclass(frozen=True, slots=True)
class BusinessHoursConfig:
    """The validated `business_hours` key; empty (every channel 24x7) when not configured."""

    timezone: str = DEFAULT_TIMEZONE
    calendars: Mapping[str, CalendarConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    channels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    extra_holidays: frozenset[dt.date] = frozenset()
    extra_workdays: frozenset[dt.date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        """The timezone as a ZoneInfo (validated at parse time)."""
        return ZoneInfo(self.timezone)


_TOP_KEYS: Final = ("timezone", "calendars", "channels", "extra_holidays", "extra_workdays")
_CAL_KEYS: Final = ("days", "hours", "holidays")


def parse_business_hours(
    raw: Mapping[str, object] | None, key: str = "business_hours"
) -> BusinessHoursConfig:
    """Validate the `business_hours` mapping; every problem is reported at once, each naming
    its key (`business_hours.calendars.office.hours[1]: ...`)."""
    if raw is None:
        return BusinessHoursConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {type(raw).__name__}")
    errors: list[str] = []
    _unknown_keys(raw, _TOP_KEYS, key, errors)

    tz_name = raw.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(tz_name, str) or not _zone_ok(tz_name):
        errors.append(
            f"{key}.timezone: unknown timezone {tz_name!r} (an IANA name such as Asia/Shanghai)"
        )

    calendars: dict[str, CalendarConfig] = {}
    raw_cals = raw.get("calendars", {})
    if not isinstance(raw_cals, Mapping):
        errors.append(f"{key}.calendars must be a mapping of calendar name to calendar")
        raw_cals = {}
    for name, body in raw_cals.items():
        cal = _parse_calendar(name, body, f"{key}.calendars.{name}", errors)
        if cal is not None:
            calendars[cal.name] = cal

    channels: dict[str, str] = {}
    raw_channels = raw.get("channels", {})
    if not isinstance(raw_channels, Mapping):
        errors.append(f"{key}.channels must be a mapping of channel to calendar name")
        raw_channels = {}
    for channel, cal_name in raw_channels.items():
        where = f"{key}.channels.{channel}"
        if not isinstance(channel, str) or not channel:
            errors.append(f"{where}: a channel name must be a non-empty string")
        elif not isinstance(cal_name, str) or cal_name not in raw_cals:
            known = ", ".join(sorted(str(n) for n in raw_cals)) or "none defined"
            errors.append(f"{where}: unknown calendar {cal_name!r} (calendars: {known})")
        else:
            channels[channel] = cal_name

    extra_holidays = _parse_dates(raw.get("extra_holidays", []), f"{key}.extra_holidays", errors)
    extra_workdays = _parse_dates(raw.get("extra_workdays", []), f"{key}.extra_workdays", errors)
    for d in sorted(extra_holidays & extra_workdays):
        errors.append(f"{key}.extra_holidays / {key}.extra_workdays: {d} is in both")

    if errors:
        raise ConfigError("; ".join(errors))
    return BusinessHoursConfig(
        timezone=str(tz_name),
        calendars=MappingProxyType(calendars),
        channels=MappingProxyType(channels),
        extra_holidays=extra_holidays,
        extra_workdays=extra_workdays,
    )


def parse_today_window(raw: object, key: str = "today_window") -> bool:
    """The top-level `today_window` switch: a boolean, on when absent."""
    if raw is None:
        return TODAY_WINDOW_DEFAULT
    if not isinstance(raw, bool):
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    return raw


def today_timezone(config: BusinessHoursConfig | None) -> ZoneInfo:
    """The timezone of the `today` window: the business-hours one, Asia/Shanghai without."""
    return ZoneInfo(config.timezone if config is not None else DEFAULT_TIMEZONE)


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _unknown_keys(raw: Mapping[str, object], allowed: tuple[str, ...], key: str,
                  errors: list[str]) -> None:
    unknown = [str(k) for k in raw if k not in allowed]
    if unknown:
        errors.append(
            f"{key}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)} (allowed: {', '.join(allowed)})"
        )


def _parse_calendar(name: object, body: object, key: str,
                    errors: list[str]) -> CalendarConfig | None:
    if not isinstance(name, str) or not name:
        errors.append(f"{key}: a calendar name must be a non-empty string")
        return None
    if not isinstance(body, Mapping):
        errors.append(f"{key} must be a mapping with days, hours, holidays")
        return None
    n_errors = len(errors)
    _unknown_keys(body, _CAL_KEYS, key, errors)

    days: set[int] = set()
    # every key is optional (SPEC §7): a missing restriction restricts nothing
    raw_days = body.get("days", list(DAY_NAMES))
    if not isinstance(raw_days, list) or not raw_days:
        errors.append(f"{key}.days must be a non-empty list of {', '.join(DAY_NAMES)}")
    else:
        for i, day in enumerate(raw_days):
            if isinstance(day, str) and day.lower() in DAY_NAMES:
                days.add(DAY_NAMES.index(day.lower()))
            else:
                errors.append(f"{key}.days[{i}]: {day!r} is not one of {', '.join(DAY_NAMES)}")

    spans: list[Span] = []
    raw_hours = body.get("hours", ["00:00-24:00"])
    if not isinstance(raw_hours, list) or not raw_hours:
        errors.append(f'{key}.hours must be a non-empty list of "HH:MM-HH:MM"')
    else:
        for i, text in enumerate(raw_hours):
            span = _parse_span(text, f"{key}.hours[{i}]", errors, wrap=True)
            if span is not None:
                spans.append(span)
    spans.sort(key=lambda s: s.start_s)
    for a, b in itertools.pairwise(spans):
        if b.start_s < a.end_s:
            errors.append(f"{key}.hours: spans {_fmt(a)} and {_fmt(b)} overlap")

    holidays = body.get("holidays", "none")
    if holidays not in ("cn", "none"):
        errors.append(f"{key}.holidays: {holidays!r} is not cn or none")
        holidays = "none"

    if len(errors) > n_errors:
        return None
    return CalendarConfig(
        name=name,
        days=frozenset(days),
        spans=tuple(spans),
        holidays="cn" if holidays == "cn" else "none",
    )


def parse_span(text: object, key: str, *, wrap: bool = False) -> Span:
    """One `"HH:MM-HH:MM"` span (e.g. a score rule's `hours`); ConfigError naming `key`.

    ``wrap``: a span ending at or before its start runs past midnight (``"22:00-02:00"``,
    opened on the day it starts); its ``end_s`` is then more than a day (26:00 there)."""
    errors: list[str] = []
    span = _parse_span(text, key, errors, wrap)
    if span is None:
        raise ConfigError("; ".join(errors))
    return span


def _parse_span(text: object, key: str, errors: list[str], wrap: bool = False) -> Span | None:
    m = _SPAN_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        errors.append(f'{key}: {text!r} is not "HH:MM-HH:MM"')
        return None
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        errors.append(f"{key}: {text!r} is not a time of day (00:00 to 24:00)")
        return None
    start, end = (h1 * 60 + m1) * 60, (h2 * 60 + m2) * 60
    if end <= start and wrap:
        return Span(start, end + 86_400)
    if end <= start:
        errors.append(f"{key}: {text!r} ends before it starts (a span may not cross midnight: "
                      f"split it in two)")
        return None
    return Span(start, end)


def _fmt(span: Span) -> str:
    def hm(s: int) -> str:
        return f"{s // 3600:02d}:{s // 60 % 60:02d}"

    return f'"{hm(span.start_s)}-{hm(span.end_s)}"'


def _parse_dates(raw: object, key: str, errors: list[str]) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        errors.append(f"{key} must be a list of ISO dates (YYYY-MM-DD)")
        return frozenset()
    out: set[dt.date] = set()
    for i, item in enumerate(raw):
        if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            out.add(item)  # YAML reads an unquoted 2026-12-31 as a date
            continue
        try:
            if not isinstance(item, str) or not _DATE_RE.fullmatch(item):
                raise ValueError
            out.add(dt.date.fromisoformat(item))
        except ValueError:
            errors.append(f"{key}[{i}]: {item!r} is not an ISO date (YYYY-MM-DD)")
    return frozenset(out)


class BusinessHours:
    """The runtime side of a BusinessHoursConfig: one calendar object per named calendar,
    looked up by channel (ALWAYS_OPEN for a channel without one)."""

    __slots__ = ("_by_channel", "config", "timezone")

    def __init__(self, config: BusinessHoursConfig | None = None) -> None:
        self.config = config if config is not None else BusinessHoursConfig()
        self.timezone = self.config.zone
        named = {
            name: BusinessCalendar(cal, self.timezone, self.config.extra_holidays,
                                   self.config.extra_workdays)
            for name, cal in self.config.calendars.items()
        }
        self._by_channel: dict[str, BusinessCalendar] = {
            ch: named[name] for ch, name in self.config.channels.items()
        }

    def calendar(self, channel: str) -> Calendar:
        """The channel's calendar; ALWAYS_OPEN when it has none."""
        return self._by_channel.get(channel, ALWAYS_OPEN)

    def has_calendar(self, channel: str) -> bool:
        """Whether the channel counts business time (else its SLAs run 24x7)."""
        return channel in self._by_channel

    def sla_calendar(self, channel: str) -> Calendar | None:
        """The calendar a channel's SLAs and scores count in; None: 24x7. ``other`` takes
        email's, as it takes email's SLAs, unless it has one of its own."""
        cal = self._by_channel.get(channel)
        if cal is None and channel == OTHER:
            cal = self._by_channel.get("email")
        return cal

    @property
    def channels(self) -> frozenset[str]:
        """The channels with a calendar."""
        return frozenset(self._by_channel)
