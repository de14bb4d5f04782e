"""The `business_hours` and `today_window` config (SPEC §7): what is accepted, and a
ConfigError naming the key for everything that is not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from core.business_hours import (
    DEFAULT_TIMEZONE,
    BusinessHoursConfig,
    Span,
    parse_business_hours,
    parse_span,
    parse_today_window,
)
from core.errors import ConfigError

SPEC_EXAMPLE = """
business_hours:
  timezone: Asia/Shanghai
  calendars:
    office: {days: [mon, tue, wed, thu, fri], hours: ["09:00-12:00", "13:30-18:00"], holidays: cn}
    online: {days: [mon, tue, wed, thu, fri, sat, sun], hours: ["08:00-23:00"], holidays: none}
  channels: {email: office, phone: office}       # chat, app: no calendar, 24x7
  extra_holidays: ["2026-12-31"]                 # for calendars with holidays: cn
  extra_workdays: []
today_window: true
"""


def test_the_spec_example_parses() -> None:
    raw = yaml.safe_load(SPEC_EXAMPLE)
    cfg = parse_business_hours(raw["business_hours"])
    assert cfg.timezone == "Asia/Shanghai"
    office = cfg.calendars["office"]
    assert office.days == frozenset(range(5))
    assert office.spans == (Span(9 * 3600, 12 * 3600), Span(13 * 3600 + 1800, 18 * 3600))
    assert office.holidays == "cn"
    assert cfg.calendars["online"].holidays == "none"
    assert dict(cfg.channels) == {"email": "office", "phone": "office"}
    assert cfg.extra_holidays == frozenset({dt.date(2026, 12, 31)})
    assert cfg.extra_workdays == frozenset()
    assert parse_today_window(raw["today_window"]) is True


def test_defaults() -> None:
    assert parse_business_hours(None) == BusinessHoursConfig()
    assert BusinessHoursConfig().timezone == DEFAULT_TIMEZONE == "Asia/Shanghai"
    cfg = parse_business_hours({"calendars": {"c": {}}})
    c = cfg.calendars["c"]
    assert c.days == frozenset(range(7))  # every key optional: no days given, every day
    assert c.holidays == "none"
    assert c.spans == (Span(0, 86_400),)
    assert parse_today_window(None) is True
    assert parse_today_window(False) is False


def test_unquoted_yaml_dates_and_unsorted_touching_spans_are_accepted() -> None:
    raw = yaml.safe_load("""
calendars: {c: {days: [Sat, sun], hours: ["13:00-18:00", "09:00-13:00"], holidays: cn}}
extra_workdays: [2026-12-26]
""")
    cfg = parse_business_hours(raw)
    assert cfg.extra_workdays == frozenset({dt.date(2026, 12, 26)})
    assert cfg.calendars["c"].days == frozenset({5, 6})
    assert [s.start_s for s in cfg.calendars["c"].spans] == [9 * 3600, 13 * 3600]


def cal(**body: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"days": ["mon"], "hours": ["09:00-18:00"]}
    return {"calendars": {"office": {**base, **body}}}


BAD = [
    pytest.param(["x"], ["business_hours must be a mapping"], id="not-a-mapping"),
    pytest.param({"timezon": "UTC", "calendar": {}},
                 ["business_hours: unknown keys 'timezon', 'calendar'"], id="unknown-keys-at-once"),
    pytest.param({"timezone": "Mars/Base"}, ["business_hours.timezone", "'Mars/Base'"],
                 id="unknown-timezone"),
    pytest.param({"timezone": 8}, ["business_hours.timezone"], id="timezone-not-a-string"),
    pytest.param({"calendars": ["office"]}, ["business_hours.calendars must be a mapping"],
                 id="calendars-not-a-mapping"),
    pytest.param({"calendars": {"office": "9-6"}},
                 ["business_hours.calendars.office must be a mapping"], id="calendar-not-mapping"),
    pytest.param(cal(day=["mon"], hour=[]),
                 ["business_hours.calendars.office: unknown keys 'day', 'hour'"],
                 id="calendar-unknown-keys"),
    pytest.param(cal(days=["mon", "Funday", 3]),
                 ["business_hours.calendars.office.days[1]: 'Funday'",
                  "business_hours.calendars.office.days[2]: 3"], id="bad-day-names"),
    pytest.param(cal(days=[]), ["business_hours.calendars.office.days must be a non-empty"],
                 id="no-days"),
    pytest.param(cal(hours=None), ["business_hours.calendars.office.hours must be a non-empty"],
                 id="no-hours"),
    pytest.param(cal(hours="09:00-18:00"), ["business_hours.calendars.office.hours must be"],
                 id="hours-not-a-list"),
    pytest.param(cal(hours=["9:00-18:00"]), ["business_hours.calendars.office.hours[0]"],
                 id="bad-span-format"),
    pytest.param(cal(hours=["09:00-12:00", "25:00-26:00"]),
                 ["business_hours.calendars.office.hours[1]", "not a time of day"],
                 id="bad-hour"),
    pytest.param(cal(hours=["09:60-12:00"]), ["business_hours.calendars.office.hours[0]"],
                 id="bad-minute"),
    pytest.param(cal(hours=["24:00-24:00"]), ["business_hours.calendars.office.hours[0]"],
                 id="24-as-start"),
    pytest.param(cal(hours=["09:00-12:00", "11:00-14:00"]),
                 ['business_hours.calendars.office.hours: spans "09:00-12:00" and '
                  '"11:00-14:00" overlap'], id="overlapping-spans"),
    pytest.param(cal(holidays="us"), ["business_hours.calendars.office.holidays: 'us'"],
                 id="bad-holidays"),
    pytest.param(cal(holidays=False), ["business_hours.calendars.office.holidays: False"],
                 id="yaml-no-is-false"),
    pytest.param({**cal(), "channels": {"email": "ofice"}},
                 ["business_hours.channels.email: unknown calendar 'ofice' (calendars: office)"],
                 id="unknown-calendar"),
    pytest.param({"channels": {"email": "office"}},
                 ["business_hours.channels.email: unknown calendar 'office' (calendars: none"],
                 id="channel-without-calendars"),
    pytest.param({"channels": ["email"]}, ["business_hours.channels must be a mapping"],
                 id="channels-not-a-mapping"),
    pytest.param({"extra_holidays": "2026-12-31"},
                 ["business_hours.extra_holidays must be a list"], id="dates-not-a-list"),
    pytest.param({"extra_holidays": ["2026-02-30", "31/12/2026", "20261231", 20261231]},
                 ["business_hours.extra_holidays[0]", "business_hours.extra_holidays[1]",
                  "business_hours.extra_holidays[2]", "business_hours.extra_holidays[3]"],
                 id="bad-dates"),
    pytest.param({"extra_workdays": [dt.datetime(2026, 12, 26, 9, tzinfo=dt.UTC)]},
                 ["business_hours.extra_workdays[0]"], id="datetime-is-not-a-date"),
    pytest.param({"extra_holidays": ["2026-12-31"], "extra_workdays": ["2026-12-31"]},
                 ["2026-12-31 is in both"], id="date-in-both"),
]


@pytest.mark.parametrize(("raw", "messages"), BAD)
def test_bad_config_names_the_key(raw: Any, messages: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_business_hours(raw)
    for message in messages:
        assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "timezon": "x",
        "timezone": "Nowhere/City",
        "calendars": {"office": {"days": ["mon", "xyz"], "hours": ["18:00-9:00"]}},
        "channels": {"email": "office"},
        "extra_workdays": ["tomorrow"],
    }
    with pytest.raises(ConfigError) as err:
        parse_business_hours(raw)
    text = str(err.value)
    for key in ("business_hours: unknown key 'timezon'", "business_hours.timezone",
                "business_hours.calendars.office.days[1]",
                "business_hours.calendars.office.hours[0]", "business_hours.extra_workdays[0]"):
        assert key in text
    # the calendar exists, even if broken: no second, misleading "unknown calendar" error
    assert "unknown calendar" not in text


def test_the_key_prefix_is_the_callers() -> None:
    with pytest.raises(ConfigError, match=r"^tenants\.acme\.business_hours\.timezone"):
        parse_business_hours({"timezone": "Nowhere/City"}, key="tenants.acme.business_hours")


@pytest.mark.parametrize("raw", ["yes", 1, "true", []])
def test_today_window_must_be_a_boolean(raw: object) -> None:
    with pytest.raises(ConfigError, match=r"^today_window must be true or false"):
        parse_today_window(raw)


def test_a_span_ending_at_or_before_its_start_runs_past_midnight() -> None:
    """SPEC §7 says a span is open from its start to its end; one that ends at or before it
    starts ends on the next day (a night shift), as the reference reads it."""
    bh = parse_business_hours(cal(hours=["18:00-09:00"]))
    assert bh.calendars["office"].spans == (Span(18 * 3600, 33 * 3600),)
    bh = parse_business_hours(cal(hours=["12:00-12:00"]))  # a whole day from noon
    assert bh.calendars["office"].spans == (Span(12 * 3600, 36 * 3600),)
    assert parse_span("23:00-08:00", "scores[0].hours", wrap=True) == Span(23 * 3600,
                                                                           32 * 3600)


def test_a_single_span_for_a_score_rule() -> None:
    assert parse_span("08:00-23:00", "scores[0].hours") == Span(8 * 3600, 23 * 3600)
    with pytest.raises(ConfigError, match=r"^scores\[0\]\.hours: '23:00-08:00' ends before"):
        parse_span("23:00-08:00", "scores[0].hours")
    with pytest.raises(ConfigError, match=r"^scores\[1\]\.hours: None is not"):
        parse_span(None, "scores[1].hours")
