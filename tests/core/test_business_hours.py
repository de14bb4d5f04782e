"""Business-hours calendars (SPEC §7): hand-checked tables, DST, China's 调休, and properties
against a brute-force implementation that steps minute by minute (written plainly below)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from holidays.utils import country_holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from core.business_hours import (
    ALWAYS_OPEN,
    NEVER_MS,
    BusinessCalendar,
    BusinessHours,
    BusinessHoursConfig,
    local_midnight_ms,
    local_second_of_day,
    next_local_midnight_ms,
    parse_business_hours,
    today_timezone,
)
from core.cn_holidays import covered_years

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000
M = 60_000

RAW = {
    "timezone": "Asia/Shanghai",
    "calendars": {
        "office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                   "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"},
        "online": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                   "hours": ["08:00-23:00"], "holidays": "none"},
    },
    "channels": {"email": "office", "phone": "office", "chat": "online"},
    "extra_holidays": ["2026-12-31"],
    "extra_workdays": ["2026-12-26"],
}
BH = BusinessHours(parse_business_hours(RAW))
OFFICE = BH.calendar("email")
ONLINE = BH.calendar("chat")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: dt.tzinfo = SH) -> int:
    """Epoch ms of a local wall time (fold=0); only used away from DST changes, or in UTC."""
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return at(y, mo, d, h, mi, dt.UTC)


def local(ts_ms: int, tz: ZoneInfo = SH) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz)


# --------------------------------------------------------------------- hand-checked tables

# (start, end, business hours) for the office calendar: Mon–Fri 09:00–12:00, 13:30–18:00, cn.
BUSINESS_CASES = [
    pytest.param(at(2026, 11, 27, 17), at(2026, 11, 30, 10), 2.0, id="fri-evening-to-monday"),
    pytest.param(at(2026, 12, 1, 11, 30), at(2026, 12, 1, 14), 1.0, id="lunch-break"),
    pytest.param(at(2026, 12, 1, 12), at(2026, 12, 1, 13, 30), 0.0, id="inside-lunch"),
    pytest.param(at(2026, 12, 1, 9), at(2026, 12, 1, 12), 3.0, id="exact-span"),
    pytest.param(at(2026, 12, 1, 0), at(2026, 12, 2, 0), 7.5, id="whole-tuesday"),
    pytest.param(at(2026, 12, 5, 0), at(2026, 12, 7, 0), 0.0, id="weekend"),
    pytest.param(at(2026, 9, 30, 17), at(2026, 10, 8, 10), 2.0, id="guoqing-golden-week"),
    pytest.param(at(2026, 9, 20, 0), at(2026, 9, 21, 0), 7.5, id="makeup-sunday-2026-09-20"),
    pytest.param(at(2026, 10, 10, 0), at(2026, 10, 11, 0), 7.5, id="makeup-saturday-2026-10-10"),
    pytest.param(at(2026, 10, 1, 0), at(2026, 10, 8, 0), 0.0, id="oct-1-to-7-closed"),
    pytest.param(at(2026, 2, 14, 0), at(2026, 3, 1, 0), 7.5 * 2 + 7.5 * 4, id="spring-2026"),
    pytest.param(at(2026, 12, 31, 0), at(2027, 1, 1, 0), 0.0, id="extra-holiday-thursday"),
    pytest.param(at(2026, 12, 26, 0), at(2026, 12, 27, 0), 7.5, id="extra-workday-saturday"),
    pytest.param(at(2026, 12, 1, 10), at(2026, 12, 1, 10), 0.0, id="empty"),
    pytest.param(at(2026, 12, 1, 11), at(2026, 12, 1, 10), 0.0, id="reversed"),
]


@pytest.mark.parametrize(("start", "end", "hours"), BUSINESS_CASES)
def test_business_time_of_the_office_calendar(start: int, end: int, hours: float) -> None:
    assert OFFICE.business_ms(start, end) == round(hours * H)


@pytest.mark.parametrize(
    ("ts", "open_"),
    [
        pytest.param(at(2026, 12, 1, 9), True, id="span-start-inclusive"),
        pytest.param(at(2026, 12, 1, 9) - 1, False, id="1ms-before-start"),
        pytest.param(at(2026, 12, 1, 12) - 1, True, id="1ms-before-end"),
        pytest.param(at(2026, 12, 1, 12), False, id="span-end-exclusive"),
        pytest.param(at(2026, 12, 1, 13, 30), True, id="after-lunch"),
        pytest.param(at(2026, 10, 1, 10), False, id="national-day"),
        pytest.param(at(2026, 10, 8, 10), True, id="after-golden-week"),
        pytest.param(at(2026, 9, 20, 10), True, id="makeup-sunday"),
        pytest.param(at(2026, 10, 10, 14), True, id="makeup-saturday"),
        pytest.param(at(2026, 10, 11, 10), False, id="ordinary-sunday"),
        pytest.param(at(2026, 2, 14, 10), True, id="spring-makeup-saturday"),
        pytest.param(at(2026, 2, 23, 10), False, id="spring-bridging-monday"),
        pytest.param(at(2026, 1, 4, 10), True, id="new-year-makeup-sunday"),
        pytest.param(at(2026, 5, 5, 10), False, id="labour-day-bridging"),
        pytest.param(at(2026, 5, 9, 10), True, id="labour-day-makeup-saturday"),
        pytest.param(at(2026, 12, 31, 10), False, id="extra-holiday"),
        pytest.param(at(2026, 12, 26, 10), True, id="extra-workday"),
    ],
)
def test_is_open_of_the_office_calendar(ts: int, open_: bool) -> None:
    assert OFFICE.is_open(ts) is open_
    assert OFFICE.business_ms(ts, ts + 1) == int(open_)


@pytest.mark.parametrize(
    ("start", "amount", "deadline"),
    [
        pytest.param(at(2026, 11, 27, 17), 2 * H, at(2026, 11, 30, 10), id="over-weekend"),
        pytest.param(at(2026, 12, 1, 11), 2 * H, at(2026, 12, 1, 14, 30), id="over-lunch"),
        pytest.param(at(2026, 12, 1, 11), 1 * H, at(2026, 12, 1, 12), id="ends-at-close"),
        pytest.param(at(2026, 12, 1, 12, 30), 1, at(2026, 12, 1, 13, 30) + 1, id="from-closed"),
        pytest.param(at(2026, 9, 30, 17), 8 * H, at(2026, 10, 8, 17, 30), id="golden-week"),
        pytest.param(at(2026, 12, 1, 10), 0, at(2026, 12, 1, 10), id="zero"),
        # 2025-12-31 (Wed) 17:00: 1 h, then 元旦 Jan 1–3, then the makeup Sunday Jan 4
        pytest.param(at(2025, 12, 31, 17), 2 * H, at(2026, 1, 4, 10), id="over-new-year"),
    ],
)
def test_deadline_of_the_office_calendar(start: int, amount: int, deadline: int) -> None:
    assert OFFICE.deadline_ms(start, amount) == deadline


@pytest.mark.parametrize(
    ("ts", "change"),
    [
        pytest.param(at(2026, 11, 27, 18), at(2026, 11, 30, 9), id="friday-close-to-monday"),
        pytest.param(at(2026, 12, 1, 10), at(2026, 12, 1, 12), id="open-to-lunch"),
        pytest.param(at(2026, 12, 1, 12), at(2026, 12, 1, 13, 30), id="lunch-to-open"),
        pytest.param(at(2026, 12, 1, 9) - 1, at(2026, 12, 1, 9), id="one-ms-before-open"),
        pytest.param(at(2026, 9, 30, 18), at(2026, 10, 8, 9), id="golden-week"),
    ],
)
def test_next_change_of_the_office_calendar(ts: int, change: int) -> None:
    assert OFFICE.next_change_ms(ts) == change


def test_a_calendar_without_cn_holidays_follows_its_days_alone() -> None:
    assert ONLINE.is_open(at(2026, 10, 1, 10))  # National Day: open, holidays: none
    assert not ONLINE.is_open(at(2026, 12, 31, 23))  # extra_holidays apply to cn only
    assert ONLINE.business_ms(at(2026, 12, 31, 0), at(2027, 1, 1, 0)) == 15 * H


def test_the_24x7_calendar_counts_wall_time() -> None:
    assert BH.calendar("app") is ALWAYS_OPEN
    assert not BH.has_calendar("app")
    assert BH.has_calendar("email")
    assert BH.channels == frozenset({"email", "phone", "chat"})
    assert ALWAYS_OPEN.is_open(at(2026, 10, 1, 3))
    assert ALWAYS_OPEN.business_ms(1_000, 5_000) == 4_000
    assert ALWAYS_OPEN.business_ms(5_000, 1_000) == 0
    assert ALWAYS_OPEN.deadline_ms(1_000, 30_000) == 31_000
    assert ALWAYS_OPEN.next_change_ms(1_000) == NEVER_MS


def test_without_config_every_channel_is_24x7_and_today_is_shanghai() -> None:
    bh = BusinessHours()
    assert bh.calendar("email") is ALWAYS_OPEN
    assert bh.timezone == SH
    assert today_timezone(None) == SH
    assert today_timezone(parse_business_hours({"timezone": "Europe/Berlin"})) == BERLIN


def test_a_calendar_that_never_opens_has_no_deadline() -> None:
    cfg = parse_business_hours({
        "calendars": {"x": {"days": ["mon"], "hours": ["09:00-10:00"]}},
        "channels": {"email": "x"},
    })
    cal = BusinessHours(cfg).calendar("email")
    assert cal.deadline_ms(at(2026, 12, 1), 1_000 * 3_600_000) == NEVER_MS  # 1000 h > 10 years
    full = parse_business_hours({
        "calendars": {"x": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "hours": ["00:00-24:00"]}},
        "channels": {"email": "x"},
    })
    always = BusinessHours(full).calendar("email")
    assert always.next_change_ms(at(2026, 12, 1, 5)) == NEVER_MS  # open across every midnight
    assert always.business_ms(at(2026, 12, 1), at(2026, 12, 3)) == 48 * H


# ------------------------------------------------------------------------------------- DST

def berlin(hours: list[str]) -> BusinessCalendar:
    cfg = parse_business_hours({
        "timezone": "Europe/Berlin",
        "calendars": {"c": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "hours": hours}},
        "channels": {"x": "c"},
    })
    cal = BusinessHours(cfg).calendar("x")
    assert isinstance(cal, BusinessCalendar)
    return cal


# 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z. 2026-10-25: 03:00 CEST becomes
# 02:00 CET at 01:00Z (02:00–03:00 is read twice).
@pytest.mark.parametrize(
    ("hours", "day", "expected"),
    [
        pytest.param(["02:15-02:45"], (3, 28), 30 * M, id="skipped-span-day-before"),
        pytest.param(["02:15-02:45"], (3, 29), 0, id="span-in-the-skipped-hour-is-empty"),
        pytest.param(["02:30-04:00"], (3, 29), 1 * H, id="span-starting-in-the-gap"),
        pytest.param(["01:00-04:00"], (3, 29), 2 * H, id="span-across-spring-forward"),
        pytest.param(["09:00-17:00"], (3, 29), 8 * H, id="day-span-spring"),
        pytest.param(["00:00-24:00"], (3, 29), 23 * H, id="whole-23h-day"),
        pytest.param(["02:15-02:45"], (10, 25), 1 * H, id="repeated-hour-read-twice"),
        pytest.param(["01:00-04:00"], (10, 25), 4 * H, id="span-across-fall-back"),
        pytest.param(["09:00-17:00"], (10, 25), 8 * H, id="day-span-autumn"),
        pytest.param(["00:00-24:00"], (10, 25), 25 * H, id="whole-25h-day"),
    ],
)
def test_dst_in_berlin(hours: list[str], day: tuple[int, int], expected: int) -> None:
    cal = berlin(hours)
    d = dt.date(2026, *day)
    start = local_midnight_ms(at(2026, d.month, d.day, 12, tz=BERLIN), BERLIN)
    end = local_midnight_ms(at(2026, d.month, d.day, 12, tz=BERLIN) + 24 * H, BERLIN)
    assert cal.business_ms(start, end) == expected


def test_the_repeated_hour_opens_twice() -> None:
    cal = berlin(["02:15-02:45"])
    # 02:15 CEST = 00:15Z, 02:15 CET = 01:15Z
    assert cal.is_open(utc(2026, 10, 25, 0, 15))
    assert not cal.is_open(utc(2026, 10, 25, 0, 45))
    assert cal.next_change_ms(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 25, 0, 45)
    assert cal.next_change_ms(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 15)
    assert cal.deadline_ms(utc(2026, 10, 25, 0, 30), 30 * M) == utc(2026, 10, 25, 1, 30)
    # spring: the skipped day goes straight from Saturday's span to Monday's
    assert cal.next_change_ms(utc(2026, 3, 28, 1, 45)) == utc(2026, 3, 30, 0, 15)


@pytest.mark.parametrize(
    ("tz", "ts", "midnight"),
    [
        pytest.param(SH, utc(2026, 12, 1, 15, 59), utc(2026, 11, 30, 16), id="shanghai"),
        pytest.param(SH, utc(2026, 12, 1, 16), utc(2026, 12, 1, 16), id="shanghai-at-midnight"),
        pytest.param(BERLIN, utc(2026, 3, 29, 12), utc(2026, 3, 28, 23), id="berlin-spring"),
        pytest.param(BERLIN, utc(2026, 3, 30, 12), utc(2026, 3, 29, 22), id="berlin-after"),
        pytest.param(BERLIN, utc(2026, 10, 25, 12), utc(2026, 10, 24, 22), id="berlin-autumn"),
        # Havana springs forward at midnight: 2026-03-08 begins at 01:00 CDT = 05:00Z
        pytest.param(ZoneInfo("America/Havana"), utc(2026, 3, 8, 17), utc(2026, 3, 8, 5),
                     id="midnight-skipped"),
    ],
)
def test_local_midnight(tz: ZoneInfo, ts: int, midnight: int) -> None:
    assert local_midnight_ms(ts, tz) == midnight
    assert local(midnight - 1, tz).date() < local(midnight, tz).date() == local(ts, tz).date()
    following = next_local_midnight_ms(ts, tz)
    assert following > ts
    assert local(following - 1, tz).date() == local(ts, tz).date() < local(following, tz).date()
    assert next_local_midnight_ms(midnight - 1, tz) == midnight


@pytest.mark.parametrize(
    ("tz", "ts", "second"),
    [
        pytest.param(SH, utc(2026, 12, 1, 0, 0), 8 * 3600, id="shanghai-08:00"),
        pytest.param(SH, utc(2026, 12, 1, 15, 0) - 1, 23 * 3600 - 1, id="shanghai-22:59:59.999"),
        pytest.param(BERLIN, utc(2026, 10, 25, 0, 30), 2 * 3600 + 1800, id="berlin-first-02:30"),
        pytest.param(BERLIN, utc(2026, 10, 25, 1, 30), 2 * 3600 + 1800, id="berlin-again-02:30"),
        pytest.param(BERLIN, utc(2026, 3, 29, 1, 0), 3 * 3600, id="berlin-03:00-after-gap"),
    ],
)
def test_local_second_of_day(tz: ZoneInfo, ts: int, second: int) -> None:
    assert local_second_of_day(ts, tz) == second


# ------------------------------------------------- properties against a brute-force oracle


class Oracle:
    """The calendar rule written the obvious way: look at every minute's local wall clock.
    Exact for these calendars, whose spans and UTC offsets change on whole minutes."""

    def __init__(self, cfg: BusinessHoursConfig, name: str) -> None:
        self.cal = cfg.calendars[name]
        self.tz = cfg.zone
        self.extra_holidays = cfg.extra_holidays
        self.extra_workdays = cfg.extra_workdays

    @cache  # noqa: B019 - a test helper, lives as long as the module
    def open_day(self, d: dt.date) -> bool:
        if self.cal.holidays == "cn":
            if d in self.extra_holidays:
                return False
            if d in self.extra_workdays:
                return True
            # a year without its notice in the library: the statutory days only (README)
            cn = country_holidays("CN", years=d.year, observed=d.year in covered_years())
            if d in cn:
                return False
            if d in cn.weekend_workdays:
                return True
        return d.weekday() in self.cal.days

    @cache  # noqa: B019 - a test helper, lives as long as the module
    def open_minute(self, minute: int) -> bool:
        wall = dt.datetime.fromtimestamp(minute * 60, self.tz)
        second_of_day = wall.hour * 3600 + wall.minute * 60
        return self.open_day(wall.date()) and any(
            s.start_s <= second_of_day < s.end_s for s in self.cal.spans
        )

    def is_open(self, ts_ms: int) -> bool:
        return self.open_minute(ts_ms // M)

    def business_ms(self, start: int, end: int) -> int:
        total = 0
        for minute in range(start // M, (end - 1) // M + 1 if end > start else start // M):
            if self.open_minute(minute):
                total += max(0, min(end, (minute + 1) * M) - max(start, minute * M))
        return total


PROPERTY_RAW = {
    "timezone": "Europe/Berlin",
    "calendars": {
        # spans in, across and around both DST changes, a lunch break, one ending at midnight
        "odd": {"days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                "hours": ["00:00-01:30", "02:15-02:45", "09:00-12:00", "13:30-24:00"]},
    },
    "channels": {"x": "odd"},
}
BERLIN_CFG = parse_business_hours(PROPERTY_RAW)
SH_CFG = parse_business_hours(RAW)
CASES = {
    "berlin": (BusinessHours(BERLIN_CFG).calendar("x"), Oracle(BERLIN_CFG, "odd"),
               [utc(2026, 3, 29), utc(2026, 10, 25), utc(2026, 7, 1)]),
    "office": (OFFICE, Oracle(SH_CFG, "office"),
               [utc(2026, 10, 1), utc(2026, 12, 31), utc(2026, 2, 17), utc(2026, 9, 20)]),
}
DAY = 24 * H


@st.composite
def instants(draw: st.DrawFn, case: str) -> int:
    anchor = draw(st.sampled_from(CASES[case][2]))
    return anchor + draw(st.integers(-4 * DAY, 4 * DAY))


cases = st.sampled_from(sorted(CASES))
PROPS = settings(max_examples=300, deadline=None)


@PROPS
@given(data=st.data(), case=cases)
def test_business_ms_matches_the_oracle(data: st.DataObject, case: str) -> None:
    cal, oracle, _ = CASES[case]
    start = data.draw(instants(case))
    end = start + data.draw(st.integers(-H, 10 * DAY))
    assert cal.business_ms(start, end) == oracle.business_ms(start, end)


@PROPS
@given(data=st.data(), case=cases)
def test_business_ms_is_additive(data: st.DataObject, case: str) -> None:
    cal, _, _ = CASES[case]
    a = data.draw(instants(case))
    b = a + data.draw(st.integers(0, 2 * DAY))
    c = b + data.draw(st.integers(0, 2 * DAY))
    assert cal.business_ms(a, c) == cal.business_ms(a, b) + cal.business_ms(b, c)


@PROPS
@given(data=st.data(), case=cases)
def test_deadline_is_the_inverse_of_business_ms(data: st.DataObject, case: str) -> None:
    cal, oracle, _ = CASES[case]
    start = data.draw(instants(case))
    amount = data.draw(st.integers(1, 20 * H))
    t = cal.deadline_ms(start, amount)
    assert oracle.business_ms(start, t) == amount  # reached at t ...
    assert oracle.is_open(t - 1)  # ... and not a millisecond earlier (t - 1 still counted)


@PROPS
@given(data=st.data(), case=cases)
def test_is_open_agrees_with_tiny_intervals(data: st.DataObject, case: str) -> None:
    cal, oracle, _ = CASES[case]
    ts = data.draw(instants(case))
    assert cal.is_open(ts) is oracle.is_open(ts)
    assert cal.business_ms(ts, ts + 1) == int(cal.is_open(ts))


@PROPS
@given(data=st.data(), case=cases)
def test_next_change_is_the_next_change(data: st.DataObject, case: str) -> None:
    cal, oracle, _ = CASES[case]
    ts = data.draw(instants(case))
    t = cal.next_change_ms(ts)
    state = oracle.is_open(ts)
    assert t > ts
    assert oracle.is_open(t) is not state
    # openness is constant within a minute: every minute boundary in (ts, t) keeps the state
    for minute in range(ts // M + 1, (t - 1) // M + 1):
        assert oracle.open_minute(minute) is state, local(minute * M, oracle.tz)


@pytest.mark.parametrize("ts", [-(2**62), -1, 0, NEVER_MS - 1, NEVER_MS, 2**63])
def test_absurd_instants_neither_crash_nor_go_back(ts: int) -> None:
    for cal in (OFFICE, berlin(["09:00-18:00"])):
        assert cal.is_open(ts) in (True, False)
        assert cal.next_change_ms(ts) > ts or cal.next_change_ms(ts) == NEVER_MS
        assert cal.deadline_ms(ts, H) > ts or cal.deadline_ms(ts, H) == NEVER_MS
        assert cal.business_ms(ts, ts + H) in range(H + 1)
    midnight = local_midnight_ms(ts, SH)  # clamped into the years datetime can represent
    if abs(ts) < 2**45:
        assert midnight <= ts < midnight + 24 * H


# Zones whose changes are awkward: at midnight (Havana skips 00:00, Santiago repeats 23:00),
# by half an hour (Lord Howe), a non-hour offset (Kolkata, Kathmandu), none (Shanghai).
AWKWARD_ZONES = ["America/Havana", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata",
                 "Asia/Kathmandu", "Europe/Berlin", "America/New_York", "Asia/Shanghai"]


def changes_in_2026(tz: ZoneInfo) -> list[int]:
    """The instants of 2026 at which the zone's UTC offset changes, found hour by hour."""
    out, t, end = [], utc(2026, 1, 1), utc(2027, 1, 1)
    offset = local(t, tz).utcoffset()
    while t < end:
        t += H
        if local(t, tz).utcoffset() != offset:
            offset = local(t, tz).utcoffset()
            out.append(t)
    return out or [utc(2026, 6, 1)]


ANCHORS = {name: changes_in_2026(ZoneInfo(name)) for name in AWKWARD_ZONES}


@st.composite
def random_calendars(draw: st.DrawFn) -> tuple[BusinessCalendar, Oracle, int]:
    zone = draw(st.sampled_from(AWKWARD_ZONES))
    cuts = sorted(draw(st.lists(st.integers(0, 96), min_size=2, max_size=6, unique=True)))
    cuts = cuts[: len(cuts) // 2 * 2]

    def hm(quarter: int) -> str:
        return f"{quarter * 15 // 60:02d}:{quarter * 15 % 60:02d}"

    hours = [f"{hm(a)}-{hm(b)}" for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
    days = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                         min_size=1, max_size=7, unique=True))
    cfg = parse_business_hours({"timezone": zone, "calendars": {"c": {"days": days,
                                                                     "hours": hours}},
                                "channels": {"x": "c"}})
    cal = BusinessHours(cfg).calendar("x")
    assert isinstance(cal, BusinessCalendar)
    anchor = draw(st.sampled_from(ANCHORS[zone]))
    return cal, Oracle(cfg, "c"), anchor + draw(st.integers(-2 * DAY, 2 * DAY))


@settings(max_examples=200, deadline=None)
@given(case=random_calendars(), length=st.integers(0, 3 * DAY), amount=st.integers(1, 6 * H))
def test_random_calendars_in_awkward_zones_match_the_oracle(
    case: tuple[BusinessCalendar, Oracle, int], length: int, amount: int
) -> None:
    cal, oracle, ts = case
    assert cal.is_open(ts) is oracle.is_open(ts)
    assert cal.business_ms(ts, ts + length) == oracle.business_ms(ts, ts + length)
    t = cal.deadline_ms(ts, amount)
    assert oracle.business_ms(ts, t) == amount
    assert oracle.is_open(t - 1)
    change = cal.next_change_ms(ts)
    if change == NEVER_MS:  # open around the clock: no change in the next week either
        change = ts + 7 * DAY
    else:
        assert oracle.is_open(change) is not oracle.is_open(ts)
    for minute in range(ts // M + 1, (change - 1) // M + 1):
        assert oracle.open_minute(minute) is oracle.is_open(ts)


# -- a span past midnight ("22:00-02:00", opened on the day it starts) ---------------------

NIGHT = BusinessHours(parse_business_hours({
    "calendars": {"night": {"days": ["fri"], "hours": ["09:00-12:00", "22:00-02:00"]}},
    "channels": {"chat": "night"},
})).calendar("chat")


def test_a_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    assert NIGHT.is_open(at(2026, 11, 27, 23))  # Friday night
    assert NIGHT.is_open(at(2026, 11, 28, 1, 59))  # Saturday 01:59: Friday's span
    assert not NIGHT.is_open(at(2026, 11, 28, 2))  # end exclusive
    assert not NIGHT.is_open(at(2026, 11, 28, 23))  # Saturday is not an open day
    assert not NIGHT.is_open(at(2026, 11, 27, 1))  # Thursday's night is not open
    assert NIGHT.business_ms(at(2026, 11, 27, 21), at(2026, 11, 28, 3)) == 4 * H
    assert NIGHT.deadline_ms(at(2026, 11, 27, 23), 2 * H) == at(2026, 11, 28, 1)
    assert NIGHT.next_change_ms(at(2026, 11, 27, 23)) == at(2026, 11, 28, 2)  # not midnight
    assert NIGHT.next_change_ms(at(2026, 11, 28, 2)) == at(2026, 12, 4, 9)


@settings(max_examples=300, deadline=None)
@given(a=st.integers(at(2026, 11, 20), at(2026, 12, 20)),
       span=st.integers(0, 9 * 86_400_000))
def test_a_span_past_midnight_as_the_oracle_counts_it(a: int, span: int) -> None:
    from tests.oracle.bizhours import BusinessHours as OracleHours

    cfg = {"calendars": {"night": {"days": ["fri", "sun"],
                                   "hours": ["09:00-12:00", "22:00-02:00"]}},
           "channels": {"chat": "night"}}
    oracle = OracleHours.from_config(cfg)
    cal = BusinessHours(parse_business_hours(cfg)).calendar("chat")
    assert cal.business_ms(a, a + span) == oracle.business_ms("chat", a, a + span)
    assert cal.is_open(a) == oracle.is_open("chat", a)
