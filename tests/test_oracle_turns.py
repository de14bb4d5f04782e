"""The oracle's SPEC §7 (tests/oracle/section7.py, tests/oracle/bizhours.py), pinned by small
scenarios whose expected values are computed by hand in the comments.

All times are Asia/Shanghai (+08:00). 2026 calendar facts used below (State Council notice
国办发明电〔2025〕7号): 国庆 Oct 1 (Thu) .. Oct 7 (Wed) off, makeup workdays Sun Sep 20 and
Sat Oct 10.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import yaml

from tests.oracle import Expected, compute, diff, from_exposition, gauge_key, parse_ts, section7
from tests.oracle.bizhours import BusinessHours, china_holidays, china_workdays

WALL = parse_ts("2026-12-01T12:00:00+08:00")
T = "aftersales.tickets"
OFFICE = {
    "timezone": "Asia/Shanghai",
    "calendars": {
        "office": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "hours": ["09:00-12:00", "13:30-18:00"],
            "holidays": "cn",
        },
        "online": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                   "hours": ["08:00-23:00"], "holidays": "none"},
    },
    "channels": {"email": "office", "phone": "office"},
    "extra_holidays": ["2026-12-31"],
}
MIN = 60_000
HOUR = 3_600_000


def ms(local: str) -> int:
    """'2026-10-09 17:30' or with seconds, Shanghai time -> epoch ms."""
    text = local.replace(" ", "T")
    if text.count(":") == 1:
        text += ":00"
    value = parse_ts(text + "+08:00")
    assert value is not None
    return value


class Log:
    """A tiny producer: ticket events with readable local times and unique ids."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str | None, bytes | None]] = []

    def add(self, etype: str, at: str, tid: str = "T1", **fields: Any) -> Log:
        body = {"event_id": f"e{len(self.messages)}", "type": etype, "ts": ms(at),
                "ticket_id": tid, **fields}
        self.messages.append((T, tid, json.dumps(body).encode()))
        return self

    def created(self, at: str, tid: str = "T1", channel: str = "chat", priority: str = "P2") -> Log:
        return self.add("ticket.created", at, tid, channel=channel, category="return",
                        priority=priority, region="east")

    def run(self, clock: str | None = None, **kw: Any) -> Expected:
        return compute(self.messages, wall_ms=WALL, clock_ms=None if clock is None else ms(clock),
                       **kw)


def g7(out: Expected, metric: str, **labels: str) -> float:
    assert out.gauges7 is not None
    return out.gauges7.get(gauge_key(metric, **labels), 0.0)


def responses(out: Expected, channel: str = "chat") -> list[float]:
    assert out.histograms7 is not None
    h = out.histograms7.get((section7.RESPONSE_HIST, channel))
    return [] if h is None or h.values is None else h.values


# --------------------------------------------------------------------------------------
# China's calendar from python-holidays
# --------------------------------------------------------------------------------------


def test_china_2026_national_day_and_makeup_workdays_match_the_notice() -> None:
    off = china_holidays(2026)
    # Oct 1-7 off; Oct 4 is a Sunday (closed on a Mon-Fri calendar anyway, not listed)
    assert {date(2026, 10, d) for d in (1, 2, 3, 5, 6, 7)} <= off
    assert date(2026, 10, 8) not in off
    # 调休上班: Jan 4 (Sun), Feb 14 (Sat), Feb 28 (Sat), May 9 (Sat), Sep 20 (Sun), Oct 10 (Sat)
    assert china_workdays(2026) == {
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    }


@pytest.mark.parametrize(("day", "is_open"), [
    ("2026-09-30", True),   # Wed, ordinary workday
    ("2026-10-01", False),  # Thu, 国庆
    ("2026-10-05", False),  # Mon, 国庆 (observed)
    ("2026-10-07", False),  # Wed, 调休 day off
    ("2026-10-08", True),   # Thu, back to work
    ("2026-10-10", True),   # Sat, makeup workday
    ("2026-10-11", False),  # Sun
    ("2026-09-20", True),   # Sun, makeup workday
    ("2026-12-31", False),  # Thu, extra_holidays
    ("2027-01-01", False),  # Fri, New Year's Day (next year, from the library too)
])
def test_office_calendar_days(day: str, is_open: bool) -> None:
    cal = BusinessHours.from_config(OFFICE).calendars["office"]
    assert cal.open_day(date.fromisoformat(day)) is is_open


def test_extra_workdays_open_a_day() -> None:
    bh = BusinessHours.from_config({**OFFICE, "extra_workdays": ["2026-10-11"]})
    assert bh.calendars["office"].open_day(date(2026, 10, 11))  # a Sunday, made a workday
    # holidays: none follows its days alone: open on 国庆 (online has every weekday)
    assert bh.calendars["online"].open_day(date(2026, 10, 1))


# --------------------------------------------------------------------------------------
# Business time
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "minutes"), [
    ("2026-10-09 11:30", "2026-10-09 14:00", 60),   # 30 before lunch + 30 after 13:30
    ("2026-10-09 17:59", "2026-10-09 18:01", 1),    # closing time 18:00 (end exclusive)
    ("2026-10-09 17:00", "2026-10-10 10:00", 120),  # Fri 17-18 + Sat (makeup) 9-10
    ("2026-10-10 17:00", "2026-10-12 09:30", 90),   # Sat 17-18 + Sun closed + Mon 9-9:30
    ("2026-09-30 17:30", "2026-10-08 09:30", 60),   # 30 + 国庆 closed + 30
    ("2026-10-08 08:00", "2026-10-08 08:59", 0),    # before opening
    ("2026-10-09 14:00", "2026-10-09 11:30", -60),  # reversed: negative
    ("2026-12-30 17:00", "2027-01-04 09:10", 70),   # 60 + 12-31 extra + 01-01 + weekend + 10
])
def test_business_time_email(a: str, b: str, minutes: int) -> None:
    bh = BusinessHours.from_config(OFFICE)
    assert bh.business_ms("email", ms(a), ms(b)) == minutes * MIN
    assert bh.business_ms("chat", ms(a), ms(b)) == ms(b) - ms(a)  # no calendar: wall time
    assert bh.business_ms("other", ms(a), ms(b)) == minutes * MIN  # other follows email


@pytest.mark.parametrize(("at", "is_open"), [
    ("2026-10-09 09:00:00", True),    # span start inclusive
    ("2026-10-09 11:59:59.999", True),
    ("2026-10-09 12:00:00", False),   # span end exclusive
    ("2026-10-09 13:30:00", True),
    ("2026-10-09 18:00:00", False),
    ("2026-10-01 10:00:00", False),   # holiday
    ("2026-10-10 10:00:00", True),    # makeup Saturday
])
def test_business_hours_open_instant(at: str, is_open: bool) -> None:
    bh = BusinessHours.from_config(OFFICE)
    assert bh.is_open("email", ms(at)) is is_open
    assert bh.is_open("chat", ms(at))


@pytest.mark.parametrize(("start", "limit_s", "deadline"), [
    ("2026-10-09 10:00", 180, "2026-10-09 10:03"),     # inside a span
    ("2026-10-09 17:58", 180, "2026-10-10 09:01"),     # 2 min Fri + 1 min Sat (makeup)
    ("2026-10-09 17:57", 180, "2026-10-10 09:00"),     # used up exactly at 18:00: next opening
    ("2026-09-30 17:59", 120, "2026-10-08 09:01"),     # across 国庆
    ("2026-10-09 12:30", 60, "2026-10-09 13:31"),      # starts in the lunch break
])
def test_business_deadline(start: str, limit_s: int, deadline: str) -> None:
    bh = BusinessHours.from_config(OFFICE)
    assert bh.deadline_ms("email", ms(start), limit_s * 1000) == ms(deadline)
    assert bh.deadline_ms("chat", ms(start), limit_s * 1000) == ms(start) + limit_s * 1000


def test_local_midnight_and_time_of_day() -> None:
    bh = BusinessHours.from_config(None)  # Asia/Shanghai by default
    assert bh.local_midnight_ms(ms("2026-10-10 00:00:30")) == ms("2026-10-10 00:00")
    assert bh.local_midnight_ms(ms("2026-10-09 23:59:59.999")) == ms("2026-10-09 00:00")
    assert bh.time_of_day_ms(ms("2026-10-09 23:00")) == 23 * HOUR


# --------------------------------------------------------------------------------------
# ticket.message: validation, counting, orphans
# --------------------------------------------------------------------------------------


def test_ticket_message_is_validated_counted_and_orphaned() -> None:
    log = Log().created("2026-10-09 10:00")
    log.add("ticket.message", "2026-10-09 10:01")           # accepted
    log.add("ticket.message", "2026-10-09 10:02", tid="NOPE")  # orphan, still accepted
    body = {"event_id": "x1", "type": "ticket.message", "ts": ms("2026-10-09 10:03")}
    log.messages.append((T, None, json.dumps(body).encode()))  # no ticket_id
    body = {"event_id": "x2", "type": "ticket.message", "ts": ms("2026-10-09 10:03"),
            "ticket_id": ""}
    log.messages.append((T, None, json.dumps(body).encode()))  # empty ticket_id
    out = log.run()
    assert out.events_total == {(T, "ticket.created"): 1, (T, "ticket.message"): 2}
    assert out.orphans == {(T, "ticket.message"): 1}
    assert out.rejected == {(T, "missing_field"): 1, (T, "invalid_field"): 1}
    assert out.produced == {T: 5}


# --------------------------------------------------------------------------------------
# Turns (chat: first-response and response SLA 30 s, no calendar)
# --------------------------------------------------------------------------------------


def _turn_case(steps: list[tuple[str, str]]) -> Log:
    log = Log().created("2026-10-09 10:00:00")
    for etype, at in steps:
        if etype == "agent":
            log.add("ticket.replied", at, by="agent")
        elif etype == "bot":
            log.add("ticket.replied", at, by="bot")
        else:
            log.add(f"ticket.{etype}", at)
    return log


# (steps after creation at 10:00:00, clock, responses, turns, within SLA, awaiting, overdue,
#  oldest awaiting age s)
TURN_CASES = [
    # agent at +20 s answers the first turn: response 20 = the first response
    ("answered", [("agent", "2026-10-09 10:00:20")], "2026-10-09 10:10", [20.0], 1, 1, 0, 0, 0),
    # a bot reply answers nothing; the agent at +40 does: 40 > 30 not within
    ("bot first", [("bot", "2026-10-09 10:00:05"), ("agent", "2026-10-09 10:00:40")],
     "2026-10-09 10:10", [40.0], 1, 0, 0, 0, 0),
    # answered at +10; message at +100 opens turn 2; message at +110 changes nothing;
    # agent at +150 answers it: 150 - 100 = 50 (> 30)
    ("second turn", [("agent", "2026-10-09 10:00:10"), ("message", "2026-10-09 10:01:40"),
                     ("message", "2026-10-09 10:01:50"), ("agent", "2026-10-09 10:02:30")],
     "2026-10-09 10:10", [10.0, 50.0], 2, 1, 0, 0, 0),
    # turn 2 open at the clock 10:05:00: awaiting since 10:01:40 -> 200 s, overdue (> 30)
    ("awaiting", [("agent", "2026-10-09 10:00:10"), ("message", "2026-10-09 10:01:40")],
     "2026-10-09 10:05", [10.0], 2, 1, 1, 1, 200),
    # a resolve closes turn 2 unanswered: no response, nothing awaiting
    ("resolve closes", [("agent", "2026-10-09 10:00:10"), ("message", "2026-10-09 10:01:40"),
                        ("resolved", "2026-10-09 10:03")],
     "2026-10-09 10:05", [10.0], 2, 1, 0, 0, 0),
    # resolved with no reply closes turn 1; the reopen opens none; the agent reply then is
    # §3's first response (70 s) but answers no turn
    ("reopen opens none", [("resolved", "2026-10-09 10:00:50"), ("reopened", "2026-10-09 10:01"),
                           ("agent", "2026-10-09 10:01:10")],
     "2026-10-09 10:05", [], 1, 0, 0, 0, 0),
    # a message on the resolved ticket opens nothing; after the reopen the next one does
    # (10:01:20); the clock 10:03:20 -> waited 120 s, overdue
    ("message after reopen", [("resolved", "2026-10-09 10:00:50"),
                              ("message", "2026-10-09 10:00:55"),
                              ("reopened", "2026-10-09 10:01"),
                              ("message", "2026-10-09 10:01:20")],
     "2026-10-09 10:03:20", [], 2, 0, 1, 1, 120),
    # log order, not ts order: a reply stamped before the message still answers it (-5 s)
    ("negative", [("agent", "2026-10-09 10:00:10"), ("message", "2026-10-09 10:01:00"),
                  ("agent", "2026-10-09 10:00:55")],
     "2026-10-09 10:05", [-5.0, 10.0], 2, 2, 0, 0, 0),
    # waiting exactly the SLA (30 s) is not overdue; 30.001 s is
    ("exact sla", [], "2026-10-09 10:00:30", [], 1, 0, 1, 0, 30),
    ("past sla", [], "2026-10-09 10:00:30.001", [], 1, 0, 1, 1, 30.001),
]


@pytest.mark.parametrize(
    ("name", "steps", "clock", "resp", "turns", "within", "awaiting", "overdue", "age"),
    TURN_CASES, ids=[c[0] for c in TURN_CASES],
)
def test_turns(name: str, steps: list[tuple[str, str]], clock: str, resp: list[float],
               turns: int, within: int, awaiting: int, overdue: int, age: float) -> None:
    out = _turn_case(steps).run(clock)
    assert responses(out) == resp
    assert g7(out, "aftersales_window_turns", window="24h", channel="chat") == turns
    assert g7(out, "aftersales_window_responses", window="24h", channel="chat") == len(resp)
    assert g7(out, "aftersales_window_responses_within_sla", window="24h", channel="chat") == within
    assert g7(out, "aftersales_awaiting_reply_tickets", channel="chat") == awaiting
    assert g7(out, "aftersales_response_overdue_tickets", channel="chat") == overdue
    assert g7(out, "aftersales_oldest_awaiting_reply_age_seconds", channel="chat") == (
        pytest.approx(age))
    assert out.quantiles7 is not None
    median = out.quantiles7.get((section7.RESPONSE_QUANTILE_METRIC, "15m", "chat", "0.5"))
    # exact quantiles over the window's responses (type 7): one value, or the mean of two
    assert median == (None if not resp else sum(resp) / len(resp))


def test_orphans_and_repeated_creations_open_no_turn() -> None:
    # a reply logged before the creation is an orphan; the creation's turn then waits
    # (clock 10:05 - 10:00 = 300 s); a second ticket.created of T1 opens nothing
    log = Log().add("ticket.replied", "2026-10-09 09:59").created("2026-10-09 10:00")
    log.created("2026-10-09 10:02")
    out = log.run("2026-10-09 10:05")
    assert out.orphans == {(T, "ticket.replied"): 1}
    assert g7(out, "aftersales_window_turns", window="15m", channel="chat") == 1
    assert out.gauge("aftersales_window_tickets_created", window="15m", channel="chat") == 2
    assert g7(out, "aftersales_oldest_awaiting_reply_age_seconds", channel="chat") == 300
    assert responses(out) == []


def test_turn_windows_count_at_start_and_at_reply() -> None:
    # turn 1 starts 09:50 (created), answered 10:00:10; clock 10:10: 15m = (09:55, 10:10]
    # -> turns 15m = 1 (turn 2 at 10:01), responses 15m = 2 (10:00:10 and 10:02)
    log = Log().created("2026-10-09 09:50")
    log.add("ticket.replied", "2026-10-09 10:00:10").add("ticket.message", "2026-10-09 10:01")
    log.add("ticket.replied", "2026-10-09 10:02")
    out = log.run("2026-10-09 10:10")
    assert g7(out, "aftersales_window_turns", window="15m", channel="chat") == 1
    assert g7(out, "aftersales_window_turns", window="1h", channel="chat") == 2
    assert g7(out, "aftersales_window_responses", window="15m", channel="chat") == 2
    assert responses(out) == [60.0, 610.0]
    # the first turn's response is the first response of §3
    assert out.histograms[("aftersales_first_response_seconds", "chat")].values == [610.0]


def test_response_sla_per_channel_defaults_to_first_response_sla() -> None:
    # second response 50 s: not within chat's 30 s first-response SLA, within response_s 60
    log = _turn_case([("agent", "2026-10-09 10:00:10"), ("message", "2026-10-09 10:01:40"),
                      ("agent", "2026-10-09 10:02:30")])
    key = {"window": "24h", "channel": "chat"}
    assert g7(log.run(), "aftersales_window_responses_within_sla", **key) == 1
    out = log.run(response_sla={"chat": 60})
    assert g7(out, "aftersales_window_responses_within_sla", **key) == 2
    # the first-response judgement keeps its own SLA
    assert out.gauge("aftersales_window_first_responses_within_sla", **key) == 1


# --------------------------------------------------------------------------------------
# Business hours in every SLA judgement (email on the office calendar, SLA 1 h)
# --------------------------------------------------------------------------------------

SLA_1H = {"first_response_sla": {"email": 3600}, "response_sla": {"email": 3600},
          "resolution_sla": {"P1": 7200}, "business_hours": OFFICE}


def test_first_response_across_national_day_is_within_business_sla() -> None:
    # created Wed 09-30 17:30, answered Thu 10-08 09:20: business 30 + 20 = 50 min <= 60;
    # wall 7 d 15 h 50 min = 661 800 s in the histograms. That is beyond the default state
    # horizon (7 d): with it the ticket is forgotten and the reply is an orphan
    log = Log().created("2026-09-30 17:30", channel="email")
    log.add("ticket.replied", "2026-10-08 09:20")
    assert log.run("2026-10-08 09:30", **SLA_1H).orphans_total == 1
    out = log.run("2026-10-08 09:30", state_horizon_s=14 * 86400, **SLA_1H)
    key = {"window": "24h", "channel": "email"}
    assert out.gauge("aftersales_window_first_responses_within_sla", **key) == 1
    assert g7(out, "aftersales_window_responses_within_sla", **key) == 1
    assert out.histograms[("aftersales_first_response_seconds", "email")].values == [661800.0]
    assert responses(out, "email") == [661800.0]
    # the same without business hours: 661 800 s > 3600, not within
    plain = log.run("2026-10-08 09:30", state_horizon_s=14 * 86400,
                    **{**SLA_1H, "business_hours": None})
    assert plain.gauge("aftersales_window_first_responses_within_sla", **key) == 0


# (clock, business minutes waited, email open, first-response overdue, P1 resolution
#  overdue, oldest awaiting wall age s) for a P1 email created Fri 10-09 17:30
OVERDUE_CASES = [
    ("2026-10-09 17:59", 29, 1, 0, 0, 29 * 60),
    ("2026-10-09 23:59", 30, 0, 0, 0, 6 * 3600 + 29 * 60),        # closed at 18:00: stops
    ("2026-10-10 00:00:30", 30, 0, 0, 0, 6 * 3600 + 30 * 60 + 30),  # local midnight passed
    ("2026-10-10 09:30", 60, 1, 0, 0, 16 * 3600),                  # makeup Sat: resumes
    ("2026-10-10 09:30:00.001", 60, 1, 1, 0, 16 * 3600 + 0.001),   # > 1 h: overdue
    ("2026-10-10 10:45", 135, 1, 1, 1, 17 * 3600 + 15 * 60),       # > 2 h: P1 overdue
]


@pytest.mark.parametrize(("clock", "waited_min", "is_open", "fr_overdue", "res_overdue", "age"),
                         OVERDUE_CASES, ids=[c[0] for c in OVERDUE_CASES])
def test_overdue_gauges_count_business_time(clock: str, waited_min: float, is_open: int,
                                            fr_overdue: int, res_overdue: int,
                                            age: float) -> None:
    log = Log().created("2026-10-09 17:30", channel="email", priority="P1")
    out = log.run(clock, **SLA_1H)
    bh = BusinessHours.from_config(OFFICE)
    assert bh.business_ms("email", ms("2026-10-09 17:30"), ms(clock)) // MIN == waited_min
    assert g7(out, "aftersales_business_hours_open", channel="email") == is_open
    assert g7(out, "aftersales_business_hours_open", channel="chat") == 1
    assert out.gauge("aftersales_first_response_overdue_tickets", channel="email") == fr_overdue
    assert g7(out, "aftersales_response_overdue_tickets", channel="email") == fr_overdue
    assert out.gauge("aftersales_resolution_overdue_tickets", priority="P1") == res_overdue
    assert g7(out, "aftersales_awaiting_reply_tickets", channel="email") == 1
    assert g7(out, "aftersales_oldest_awaiting_reply_age_seconds", channel="email") == (
        pytest.approx(age))
    assert out.gauge("aftersales_oldest_unanswered_age_seconds", channel="email") == (
        pytest.approx(age))


def test_resolution_within_sla_by_the_tickets_channel_calendar() -> None:
    # P1 email created Fri 10-09 17:00, resolved Sat 10-10 09:30 (makeup workday):
    # business 60 + 30 = 90 min <= 120 -> within; wall 16.5 h in the histogram
    log = Log().created("2026-10-09 17:00", channel="email", priority="P1")
    log.add("ticket.resolved", "2026-10-10 09:30")
    out = log.run(**SLA_1H)
    assert out.gauge("aftersales_window_resolutions_within_sla", window="24h", priority="P1") == 1
    assert out.histograms[("aftersales_resolution_seconds", "P1")].values == [16.5 * 3600]
    # chat has no calendar: the same times are 16.5 h > 2 h
    chat = Log().created("2026-10-09 17:00", channel="chat", priority="P1")
    chat.add("ticket.resolved", "2026-10-10 09:30")
    assert chat.run(**SLA_1H).gauge(
        "aftersales_window_resolutions_within_sla", window="24h", priority="P1") == 0


# --------------------------------------------------------------------------------------
# today
# --------------------------------------------------------------------------------------


def test_today_window_starts_at_local_midnight() -> None:
    # created 23:59:50 (yesterday) and 00:00:00.000 (today, inclusive), clock 00:00:30
    log = Log().created("2026-10-09 23:59:50", tid="A").created("2026-10-10 00:00:00", tid="B")
    log.add("ticket.replied", "2026-10-10 00:00:05", tid="A")
    out = log.run("2026-10-10 00:00:30")
    assert out.gauge("aftersales_window_tickets_created", window="15m", channel="chat") == 2
    assert g7(out, "aftersales_window_tickets_created", window="today", channel="chat") == 1
    assert g7(out, "aftersales_window_turns", window="today", channel="chat") == 1
    # the reply at 00:00:05 is today's: first response and response of 15 s
    assert g7(out, "aftersales_window_first_responses", window="today", channel="chat") == 1
    assert g7(out, "aftersales_window_responses", window="today", channel="chat") == 1
    assert out.quantiles7 is not None
    assert out.quantiles7[(section7.FIRST_RESPONSE_QUANTILE_METRIC, "today", "chat", "0.9")] == 15
    assert out.quantiles7[("aftersales_window_response_seconds", "today", "chat", "0.5")] == 15
    # no today series at all when turned off; the sliding ones unchanged
    off = log.run("2026-10-10 00:00:30", today_window=False)
    assert off.gauges7 is not None
    assert not [k for k in off.gauges7 if ("window", "today") in k[1]]
    assert off.gauges == out.gauges


def test_today_follows_the_configured_timezone() -> None:
    # clock 2026-10-10 00:00:30 +08:00 = 2026-10-09 16:00:30 UTC: today (UTC) began 16 h ago
    log = Log().created("2026-10-09 23:59:50", tid="A").created("2026-10-09 07:59", tid="B")
    out = log.run("2026-10-10 00:00:30", business_hours={"timezone": "UTC"})
    assert g7(out, "aftersales_window_tickets_created", window="today", channel="chat") == 1


# --------------------------------------------------------------------------------------
# Platform scores
# --------------------------------------------------------------------------------------

TAOBAO = {"name": "taobao_3min", "title": {"zh": "淘宝3分钟人工响应率", "en": "Taobao"},
          "channels": ["chat", "app"], "hours": "08:00-23:00", "within_s": 180,
          "clock": "wall", "target": 0.9}
# (first turn's start, later steps, clock, decided turns, within; in 15m window at the clock)
SCORE_CASES = [
    # reply exactly at start + 180 s: within ("≤"), decided at 10:03
    ("at the limit", "2026-10-09 10:00", [("agent", "2026-10-09 10:03:00")],
     "2026-10-09 10:05", 1, 1),
    # 1 ms late: missed, decided at 10:03:00
    ("1 ms late", "2026-10-09 10:00", [("agent", "2026-10-09 10:03:00.001")],
     "2026-10-09 10:05", 1, 0),
    # no reply, no further event: undecided 1 ms before the limit, missed at it (ts <= clock)
    ("open before", "2026-10-09 10:00", [], "2026-10-09 10:02:59.999", 0, 0),
    ("open at limit", "2026-10-09 10:00", [], "2026-10-09 10:03", 1, 0),
    # closed unanswered before the limit (or exactly at it): never counted
    ("resolved before", "2026-10-09 10:00", [("resolved", "2026-10-09 10:02")],
     "2026-10-09 10:10", 0, 0),
    ("resolved at limit", "2026-10-09 10:00", [("resolved", "2026-10-09 10:03")],
     "2026-10-09 10:10", 0, 0),
    # closed after the limit ran out: it was decided missed at 10:03
    ("resolved after", "2026-10-09 10:00", [("resolved", "2026-10-09 10:03:01")],
     "2026-10-09 10:10", 1, 0),
    # hours 08:00-23:00 by the turn's START: 22:59:59 covered, 23:00 and 07:59 not
    ("22:59:59", "2026-10-09 22:59:59", [("agent", "2026-10-09 23:00:30")],
     "2026-10-09 23:05", 1, 1),
    ("23:00", "2026-10-09 23:00", [("agent", "2026-10-09 23:00:30")], "2026-10-09 23:05", 0, 0),
    ("07:59", "2026-10-09 07:59", [("agent", "2026-10-09 08:00:30")], "2026-10-09 08:05", 0, 0),
    # bots do not answer: the turn runs out at 10:03
    ("bot", "2026-10-09 10:00", [("bot", "2026-10-09 10:00:05")], "2026-10-09 10:05", 1, 0),
    # a later turn counts like the first: turn 1 within (10 s), turn 2 (10:01) missed at 10:04
    ("two turns", "2026-10-09 10:00", [("agent", "2026-10-09 10:00:10"),
                                       ("message", "2026-10-09 10:01"),
                                       ("agent", "2026-10-09 10:04:30")],
     "2026-10-09 10:10", 2, 1),
]


@pytest.mark.parametrize(("name", "start", "steps", "clock", "turns", "within"), SCORE_CASES,
                         ids=[c[0] for c in SCORE_CASES])
def test_scores(name: str, start: str, steps: list[tuple[str, str]], clock: str, turns: int,
                within: int) -> None:
    log = Log().created(start)
    for etype, at in steps:
        if etype in ("agent", "bot"):
            log.add("ticket.replied", at, by=etype)
        else:
            log.add(f"ticket.{etype}", at)
    out = log.run(clock, scores=[TAOBAO])
    assert out.counter(section7.SCORE_TURNS, score="taobao_3min") == turns
    assert out.counter(section7.SCORE_WITHIN, score="taobao_3min") == within
    for window in ("15m", "today"):
        key = {"window": window, "score": "taobao_3min"}
        assert g7(out, "aftersales_window_score_turns", **key) == turns
        assert g7(out, "aftersales_window_score_turns_within", **key) == within


def test_missed_turn_is_counted_in_windows_at_start_plus_limit() -> None:
    # started 10:00, missed at 10:03 with no further event. At the clock 10:17:59.999 the
    # 15m window (10:02:59.999, 10:17:59.999] holds 10:03; at 10:18:00 it no longer does
    log = Log().created("2026-10-09 10:00")
    key = {"window": "15m", "score": "taobao_3min"}
    assert g7(log.run("2026-10-09 10:17:59.999", scores=[TAOBAO]),
              "aftersales_window_score_turns", **key) == 1
    late = log.run("2026-10-09 10:18", scores=[TAOBAO])
    assert g7(late, "aftersales_window_score_turns", **key) == 0
    assert late.counter(section7.SCORE_TURNS, score="taobao_3min") == 1


def test_score_channels_filter() -> None:
    log = Log().created("2026-10-09 10:00", channel="phone")
    out = log.run("2026-10-09 11:00", scores=[TAOBAO])
    assert out.counter(section7.SCORE_TURNS, score="taobao_3min") == 0


def test_business_clock_score_across_a_closing_time_and_a_makeup_workday() -> None:
    # email on office: turn starts Fri 10-09 17:58; 180 s of business time = 2 min Fri +
    # 1 min on the makeup Saturday -> deadline Sat 10-10 09:01:00
    rule = {**TAOBAO, "name": "office_3min", "channels": ["email"], "hours": "00:00-24:00",
            "clock": "business"}
    kw = {"business_hours": OFFICE, "scores": [rule]}
    log = Log().created("2026-10-09 17:58", channel="email")
    before = log.run("2026-10-10 09:00:59.999", **kw)
    assert before.counter(section7.SCORE_TURNS, score="office_3min") == 0
    at = log.run("2026-10-10 09:01", **kw)
    assert at.counter(section7.SCORE_TURNS, score="office_3min") == 1
    assert at.counter(section7.SCORE_WITHIN, score="office_3min") == 0
    # decided today (Sat), not on Friday
    assert g7(at, "aftersales_window_score_turns", window="today", score="office_3min") == 1
    # a reply on Saturday 09:00:30 (wall 15 h later) is within business 180 s
    answered = Log().created("2026-10-09 17:58", channel="email")
    answered.add("ticket.replied", "2026-10-10 09:00:30")
    out = answered.run("2026-10-10 10:00", **kw)
    assert out.counter(section7.SCORE_WITHIN, score="office_3min") == 1
    # the wall-clock rule misses the same reply
    wall = answered.run("2026-10-10 10:00", business_hours=OFFICE,
                        scores=[{**rule, "clock": "wall"}])
    assert wall.counter(section7.SCORE_WITHIN, score="office_3min") == 0
    assert wall.counter(section7.SCORE_TURNS, score="office_3min") == 1


# --------------------------------------------------------------------------------------
# Config, exposition round trip, comparison
# --------------------------------------------------------------------------------------

SPEC_CONFIG = """
sla:
  response_s: {chat: 30, phone: 900, app: 1800, email: 86400}
business_hours:
  timezone: Asia/Shanghai
  calendars:
    office: {days: [mon, tue, wed, thu, fri], hours: ["09:00-12:00", "13:30-18:00"], holidays: cn}
    online: {days: [mon, tue, wed, thu, fri, sat, sun], hours: ["08:00-23:00"], holidays: none}
  channels: {email: office, phone: office}
  extra_holidays: ["2026-12-31"]
  extra_workdays: []
today_window: true
scores:
  - name: taobao_3min
    title: {zh: 淘宝3分钟人工响应率, en: Taobao 3-minute human response rate}
    channels: [chat, app]
    hours: "08:00-23:00"
    within_s: 180
    clock: wall
    target: 0.9
"""


def _scenario() -> Log:
    log = Log().created("2026-10-09 10:00").add("ticket.replied", "2026-10-09 10:00:20")
    log.add("ticket.message", "2026-10-09 10:01").created("2026-10-09 17:30", "E", "email")
    return log


def test_kwargs_from_config_reads_the_spec_example() -> None:
    kw = section7.kwargs_from_config(yaml.safe_load(SPEC_CONFIG))
    assert set(kw) == {"response_sla", "business_hours", "today_window", "scores"}
    out = _scenario().run("2026-10-10 09:30", **kw)
    assert out.counter(section7.SCORE_TURNS, score="taobao_3min") == 2  # within + missed
    assert out.counter(section7.SCORE_WITHIN, score="taobao_3min") == 1
    assert g7(out, "aftersales_business_hours_open", channel="email") == 1  # makeup Sat


def _render(out: Expected) -> str:
    """A /metrics page of the §7 series, written by hand in the text format."""
    assert out.gauges7 is not None
    assert out.counters7 is not None
    assert out.histograms7 is not None
    assert out.quantiles7 is not None
    lines = []

    def labels(items: tuple[tuple[str, str], ...]) -> str:
        return "{" + ",".join(f'{k}="{v}"' for k, v in items) + "}"

    metrics = sorted({metric for metric, _ in out.gauges7})
    for name in metrics:
        lines.append(f"# TYPE {name} gauge")
        for (metric, items), value in sorted(out.gauges7.items()):
            if metric == name:
                lines.append(f"{metric}{labels(items)} {value}")
    for name in (section7.SCORE_TURNS, section7.SCORE_WITHIN):
        lines.append(f"# TYPE {name.removesuffix('_total')} counter")
        for (metric, items), value in sorted(out.counters7.items()):
            if metric == name:
                lines.append(f"{metric}{labels(items)} {value}")
    lines.append(f"# TYPE {section7.RESPONSE_HIST} histogram")
    for (metric, ch), h in sorted(out.histograms7.items()):
        assert h.values is not None
        for le in (30.0, 900.0, float("inf")):
            n = sum(1 for v in h.values if v <= le)
            le_text = "+Inf" if le == float("inf") else str(le)
            lines.append(f'{metric}_bucket{{channel="{ch}",le="{le_text}"}} {n}')
        lines += [f'{metric}_count{{channel="{ch}"}} {h.count}',
                  f'{metric}_sum{{channel="{ch}"}} {h.sum}']
    for metric in (section7.RESPONSE_QUANTILE_METRIC, section7.FIRST_RESPONSE_QUANTILE_METRIC):
        lines.append(f"# TYPE {metric} summary")
        for (m, window, ch, q), value in sorted(out.quantiles7.items()):
            if m == metric:
                lines.append(f'{m}{{window="{window}",channel="{ch}",quantile="{q}"}} {value}')
    return "\n".join(lines) + "\n"


def test_exposition_round_trip_and_diff_of_section7() -> None:
    out = _scenario().run("2026-10-10 09:30", **section7.kwargs_from_config(
        yaml.safe_load(SPEC_CONFIG)))
    parsed = from_exposition(_render(out))
    assert parsed.gauges7 == out.gauges7
    assert parsed.counters7 == out.counters7
    assert section7.diff7(parsed, out, 1e-9, 0.02) == []
    assert parsed.quantiles7 == out.quantiles7
    # a changed §7 value is reported
    assert out.gauges7 is not None
    key = gauge_key("aftersales_awaiting_reply_tickets", channel="chat")
    changed = Expected(**{**out.__dict__, "gauges7": {**out.gauges7, key: 5.0}})
    assert any("awaiting_reply" in line for line in diff(changed, out))
    # a page without any §7 series leaves §7 unknown (not compared)
    bare = from_exposition("# TYPE aftersales_ready gauge\naftersales_ready 1.0\n")
    assert bare.gauges7 is None
    assert bare.counters7 is None
    assert section7.diff7(bare, out, 1e-9, 0.02) == []


# --------------------------------------------------------------------------------------
# The conformance scenario: no ticket.message, so §7 repeats §3 there
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conformance() -> tuple[Expected, Expected]:
    from tests.conftest import conformance_dir
    from tests.oracle import load_conformance

    messages = load_conformance(conformance_dir() / "messages.jsonl")
    out = compute(messages, wall_ms=WALL)
    # today (clock 2025-11-11 22:00 +08:00) = [00:00, 22:00]: a sliding 22 h window holds the
    # same events unless one is stamped exactly at midnight
    hours22 = compute(messages, wall_ms=WALL, windows={"22h": 22 * 3600})
    return out, hours22


def test_conformance_turns_repeat_first_responses(conformance: tuple[Expected, Expected]) -> None:
    out, _ = conformance
    assert out.histograms7 is not None
    assert out.gauges7 is not None
    first = {k[1]: h for k, h in out.histograms.items()
             if k[0] == "aftersales_first_response_seconds"}
    assert {ch: h.values for (_, ch), h in out.histograms7.items()} == {
        ch: h.values for ch, h in first.items()}
    pairs = [
        ("aftersales_window_first_responses", "aftersales_window_responses"),
        ("aftersales_window_first_responses_within_sla", "aftersales_window_responses_within_sla"),
        ("aftersales_unanswered_tickets", "aftersales_awaiting_reply_tickets"),
        ("aftersales_first_response_overdue_tickets", "aftersales_response_overdue_tickets"),
        ("aftersales_oldest_unanswered_age_seconds",
         "aftersales_oldest_awaiting_reply_age_seconds"),
    ]
    for old, new in pairs:
        want = {k[1]: v for k, v in out.gauges.items() if k[0] == old}
        got = {k[1]: v for k, v in out.gauges7.items()
               if k[0] == new and ("window", "today") not in k[1]}
        assert got == want, new
        assert want, old  # the scenario has some
    # turns start at creation: a created ticket (known once) per turn
    for key, value in out.gauges7.items():
        if key[0] == "aftersales_window_turns" and ("window", "today") not in key[1]:
            assert value <= out.gauges[("aftersales_window_tickets_created", key[1])]
    assert out.counters7 == {}  # no scores configured
    assert all(g7(out, "aftersales_business_hours_open", channel=ch) == 1
               for ch in section7.CHANNEL_LABELS)


def test_conformance_today_equals_a_22h_window(conformance: tuple[Expected, Expected]) -> None:
    out, hours22 = conformance
    assert out.clock_ms == ms("2025-11-11 22:00")
    assert out.gauges7 is not None
    assert hours22.gauges7 is not None
    today = {(k[0], tuple(i for i in k[1] if i[0] != "window")): v
             for k, v in out.gauges7.items() if ("window", "today") in k[1]}
    sliding = {(k[0], tuple(i for i in k[1] if i[0] != "window")): v
               for k, v in [*hours22.gauges.items(), *hours22.gauges7.items()]
               if ("window", "22h") in k[1]}
    assert today == sliding
    assert len(today) > 40
    assert out.quantiles7 is not None
    assert hours22.quantiles7 is not None
    assert {(m, c, q): v for (m, w, c, q), v in out.quantiles7.items() if w == "today"} == {
        (m, c, q): v for (m, w, c, q), v in hours22.quantiles7.items() if w == "22h"
    } | {(section7.FIRST_RESPONSE_QUANTILE_METRIC, c, q): v
         for (w, c, q), v in hours22.quantiles.items() if w == "22h"}


@pytest.mark.parametrize(("response_sla", "want"), [
    (None, {"chat": 30, "phone": 900, "app": 1800, "email": 86400, "other": 86400}),
    ({"email": 100}, {"chat": 30, "phone": 900, "app": 1800, "email": 100, "other": 100}),
    ({"other": 5}, {"chat": 30, "phone": 900, "app": 1800, "email": 86400, "other": 5}),
])
def test_response_sla_defaults(response_sla: dict[str, float] | None,
                               want: dict[str, float]) -> None:
    from tests.oracle import FIRST_RESPONSE_SLA

    settings = section7.Settings.build(dict(FIRST_RESPONSE_SLA), response_sla, None, True, None)
    assert settings.response_sla == want
