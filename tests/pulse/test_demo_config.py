"""The configuration ``pulse demo`` runs with: email on office hours with China's calendar,
and the shipped platform scores (SPEC §7), as the service's own loader reads it."""

from __future__ import annotations

import datetime as dt
import importlib.resources
from zoneinfo import ZoneInfo

from core.business_hours import BusinessHours
from core.cn_holidays import cn_year
from core.config import Config, load_config
from pulse.demo import DEMO_CONFIG

TZ = ZoneInfo("Asia/Shanghai")


def _demo() -> Config:
    with importlib.resources.as_file(importlib.resources.files("pulse") / DEMO_CONFIG) as p:
        return load_config(p)


def _ms(day: dt.date, hh: int, mm: int) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ).timestamp() * 1000)


def test_the_demo_config_has_the_email_calendar() -> None:
    cfg = _demo()
    bh = cfg.business_hours
    assert bh.timezone == "Asia/Shanghai"
    assert dict(bh.channels) == {"email": "office"}
    office = bh.calendars["office"]
    assert office.holidays == "cn"
    assert office.days == frozenset(range(5))  # Monday to Friday
    assert [(s.start_s, s.end_s) for s in office.spans] == [
        (9 * 3600, 12 * 3600), (13 * 3600 + 1800, 18 * 3600),
    ]
    hours = BusinessHours(bh)
    email = hours.calendar("email")
    monday = dt.date(2026, 11, 16)
    assert email.is_open(_ms(monday, 9, 0))
    assert not email.is_open(_ms(monday, 12, 30))  # lunch
    assert email.is_open(_ms(monday, 17, 59))
    assert not email.is_open(_ms(monday, 18, 0))
    assert not email.is_open(_ms(dt.date(2026, 11, 14), 10, 0))  # a Saturday
    assert not email.is_open(_ms(dt.date(2026, 10, 1), 10, 0))  # National Day, a Thursday
    year = cn_year(2026)
    makeup = min(d for d in year.workdays if d.weekday() >= 5)  # a weekend day worked (调休)
    assert email.is_open(_ms(makeup, 10, 0))
    for channel in ("chat", "phone", "app"):
        assert not hours.has_calendar(channel)
        assert hours.calendar(channel).is_open(_ms(dt.date(2026, 10, 1), 3, 0))


def test_the_demo_config_has_the_three_scores() -> None:
    cfg = _demo()
    scores = {s.name: s for s in cfg.scores}
    assert list(scores) == ["taobao_3min", "douyin_3min", "jd_30s"]
    for name in ("taobao_3min", "douyin_3min"):
        s = scores[name]
        assert (s.channels, s.hours, s.within_s, s.clock) == (
            ("chat", "app"), "08:00-23:00", 180, "wall",
        )
    jd = scores["jd_30s"]
    assert (jd.channels, jd.hours, jd.within_s, jd.clock) == (("chat",), "09:00-23:00", 30, "wall")
    for s in scores.values():
        assert 0 < s.target <= 1
        assert s.title["zh"]
        assert s.title["en"]
    # the rest is the service's defaults: the demo changes only the §7 keys
    base = Config()
    assert (cfg.sla, cfg.windows, cfg.regions) == (base.sla, base.windows, base.regions)
    assert cfg.today_window
