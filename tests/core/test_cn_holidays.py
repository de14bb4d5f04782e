"""China's holidays and 调休 from python-holidays: the 2026 State Council notice day by day,
and what a calendar does in a year the library has no notice for."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from core.business_hours import BusinessCalendar, BusinessHours, parse_business_hours
from core.cn_holidays import (
    LIBRARY_VERSION,
    cn_year,
    covered_years,
    uncovered_years,
    warn_uncovered,
)


def days(first: dt.date, last: dt.date) -> set[dt.date]:
    return {first + dt.timedelta(n) for n in range((last - first).days + 1)}


D = dt.date
# 国务院办公厅关于2026年部分节假日安排的通知, transcribed by hand: the days off ...
NOTICE_2026_OFF = (
    days(D(2026, 1, 1), D(2026, 1, 3))  # 元旦
    | days(D(2026, 2, 15), D(2026, 2, 23))  # 春节, 9 days
    | days(D(2026, 4, 4), D(2026, 4, 6))  # 清明节
    | days(D(2026, 5, 1), D(2026, 5, 5))  # 劳动节
    | days(D(2026, 6, 19), D(2026, 6, 21))  # 端午节
    | days(D(2026, 9, 25), D(2026, 9, 27))  # 中秋节
    | days(D(2026, 10, 1), D(2026, 10, 7))  # 国庆节
)
# ... and the weekend days worked (上班)
NOTICE_2026_WORK = {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9),
                    D(2026, 9, 20), D(2026, 10, 10)}


def office(**extra: list[str]) -> BusinessCalendar:
    cfg = parse_business_hours({
        "calendars": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                                 "hours": ["09:00-18:00"], "holidays": "cn"}},
        "channels": {"email": "office"},
        **extra,
    })
    cal = BusinessHours(cfg).calendar("email")
    assert isinstance(cal, BusinessCalendar)
    return cal


def test_the_library_covers_2026() -> None:
    assert 2026 in covered_years()
    assert LIBRARY_VERSION
    year = cn_year(2026)
    assert year.covered
    assert year.workdays == NOTICE_2026_WORK


def test_every_day_of_2026_follows_the_notice() -> None:
    cal = office()
    for day in days(D(2026, 1, 1), D(2026, 12, 31)):
        expected = day in NOTICE_2026_WORK or (day.weekday() < 5 and day not in NOTICE_2026_OFF)
        assert cal.is_open_day(day) is expected, day


def test_extra_days_override_the_library() -> None:
    cal = office(extra_holidays=["2026-12-31", "2026-09-21"], extra_workdays=["2026-10-07"])
    assert not cal.is_open_day(D(2026, 12, 31))
    assert not cal.is_open_day(D(2026, 9, 21))
    assert cal.is_open_day(D(2026, 10, 7))  # a notice holiday the merchant works
    assert cal.is_open_day(D(2026, 10, 10))  # the notice's makeup Saturday still stands


def first_uncovered() -> int:
    return max(covered_years()) + 1


def test_a_year_without_a_notice_falls_back_to_the_statutory_days(
    caplog: pytest.LogCaptureFixture,
) -> None:
    year = first_uncovered()
    cn_year.cache_clear()
    with caplog.at_level(logging.WARNING, logger="core.cn_holidays"):
        got = cn_year(year)
        again = cn_year(year)
    assert again is got
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per year, not per look-up"
    assert str(year) in warnings[0].getMessage()
    assert "extra_holidays" in warnings[0].getMessage()
    assert year in uncovered_years()
    assert 2026 not in uncovered_years()
    assert not got.covered
    assert got.workdays == frozenset()  # no guessed makeup workdays
    # the days the law fixes by date are there; 春节, 清明, 端午, 中秋 move with the moon
    fixed = {D(year, 1, 1), D(year, 5, 1), D(year, 5, 2), D(year, 10, 1), D(year, 10, 2),
             D(year, 10, 3)}
    assert fixed <= got.holidays
    assert 12 <= len(got.holidays) <= 13  # 13 statutory days, 中秋 may fall on 国庆


def test_2027_spring_festival() -> None:
    cal = office()
    # 除夕 2027-02-05 (Fri) and 初一–初三 (02-06..08) are statutory whatever the notice says
    for day in days(D(2027, 2, 5), D(2027, 2, 8)):
        assert not cal.is_open_day(day), day
    if 2027 in covered_years():  # the notice is in the library: it brings makeup workdays
        assert cn_year(2027).workdays
    else:  # fallback: no bridging days, so the Tuesday after 初三 is a working day ...
        assert cal.is_open_day(D(2027, 2, 9))
        assert not cn_year(2027).covered
    # ... until the operator adds the notice's dates
    patched = office(extra_holidays=["2027-02-09", "2027-02-10", "2027-02-11"],
                     extra_workdays=["2027-02-20"])
    assert not patched.is_open_day(D(2027, 2, 9))
    assert patched.is_open_day(D(2027, 2, 20))  # a Saturday


def test_the_years_without_a_notice_are_named_at_once(caplog: pytest.LogCaptureFixture) -> None:
    year = first_uncovered()
    cn_year.cache_clear()
    with caplog.at_level(logging.WARNING, logger="core.cn_holidays"):
        assert warn_uncovered((year - 1, year)) == {year}
        assert warn_uncovered((year,)) == {year}  # cached: no second warning
    assert [str(year) in r.getMessage() for r in caplog.records] == [True]
