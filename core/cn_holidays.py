"""China's statutory holidays and makeup workdays (调休), one year at a time.

Why python-holidays (PyPI ``holidays``, the Vacanza project): it is the most active holiday
library in Python (releases every few weeks), its ``China`` class transcribes each year's
State Council notice (国务院办公厅关于…部分节假日安排的通知) with the notice cited, and it
exposes both halves of 调休: the days off (the holidays themselves, including the bridging
"Day off (substituted from …)" dates) and the weekend days worked in exchange
(``weekend_workdays``). ``chinesecalendar``, the other candidate, stops at 2025.

A year the library has no notice for (the notice comes out each November for the next year):
the days fixed by law (《全国年节及纪念日放假办法》: 元旦, 除夕 and 春节 初一–初三, 清明,
劳动节 ×2, 端午, 中秋, 国庆 ×3) are still known, because the library computes them from the
lunar calendar; the bridging days and the makeup workdays are not. For such a year we use the
statutory days only (no guessed substitutions: a guess is as likely to stop an SLA clock on a
working day as the reverse), log one WARNING per year, and list the year in
:func:`uncovered_years` so the service can expose it. The operator adds the notice's dates
with ``extra_holidays`` / ``extra_workdays`` until the library is upgraded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from holidays.countries.china import ChinaStaticHolidays as _ChinaStatic
from holidays.utils import country_holidays
from holidays.version import __version__ as _holidays_version

__all__ = [
    "LIBRARY_VERSION",
    "CnYear",
    "cn_year",
    "covered_years",
    "uncovered_years",
    "warn_uncovered",
]

log = logging.getLogger(__name__)

LIBRARY_VERSION: str = _holidays_version
"""The version of python-holidays in use (for a startup log line)."""

_uncovered: set[int] = set()
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CnYear:
    """One year of China's calendar: closed dates, weekend dates worked, and whether the
    State Council notice for the year is in the library."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    covered: bool


def covered_years() -> frozenset[int]:
    """The years whose State Council notice the installed library transcribes (the years with
    substituted days in its China table: every notice since 2001 has some)."""
    table = getattr(_ChinaStatic, "special_public_holidays", {})
    return frozenset(int(y) for y in table)


@lru_cache(maxsize=64)
def cn_year(year: int) -> CnYear:
    """China's holidays and makeup workdays of ``year``; cached, so the warning for a year the
    library does not cover is logged once per process."""
    covered = year in covered_years()
    # observed=True reproduces the notice's in-lieu days for a covered year; for an uncovered
    # one it would be the library's guess, so only the statutory days are taken.
    cal = country_holidays("CN", years=year, observed=covered)
    closed = frozenset(d for d in cal if d.year == year)
    worked: frozenset[dt.date] = frozenset()
    if covered:
        # A notice may move a late-December weekend of the year before (2002's did).
        nxt = country_holidays("CN", years=year + 1) if year + 1 in covered_years() else cal
        worked = frozenset(
            d for d in (*cal.weekend_workdays, *nxt.weekend_workdays) if d.year == year
        )
    if not covered:
        with _lock:
            _uncovered.add(year)
        # a year before the library's first notice is no operator's business (the snapshot
        # of a service that has read no event yet asks about 1970): not worth a warning
        before = bool(covered_years()) and year < min(covered_years())
        (log.debug if before else log.warning)(
            "holidays %s has no State Council notice for %d: calendars with holidays: cn use "
            "the statutory days of %d only (no bridging days, no makeup workdays); add the "
            "notice's dates to business_hours.extra_holidays / extra_workdays or upgrade "
            "the holidays package",
            LIBRARY_VERSION,
            year,
            year,
        )
    return CnYear(year=year, holidays=closed, workdays=worked, covered=covered)


def uncovered_years() -> frozenset[int]:
    """Years looked up so far that the library has no notice for (for a metric or log line)."""
    with _lock:
        return frozenset(_uncovered)


def warn_uncovered(years: Iterable[int]) -> frozenset[int]:
    """Look ``years`` up now and return those the library has no notice for (each logs its
    WARNING here, once): the service asks for this year and the next at start, so an operator
    reads the warning in December, not first at the New Year that needs the dates."""
    return frozenset(y for y in years if not cn_year(y).covered)
