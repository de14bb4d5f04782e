"""SPEC §7 end to end: a hand-built week around 国庆 2026, written by librdkafka, through
``pulse run`` on the real broker, every series of /metrics against the oracle.

The scenario (local time, Asia/Shanghai) runs from Tue 2026-10-06 to Mon 2026-10-12 08:30:
10-06 and 10-07 are statutory holidays (国庆), Thu 10-08 a workday, Fri 10-09 an
``extra_holidays`` date, Sat 10-10 a makeup workday (调休, in the State Council notice and
in python-holidays), Sun 10-11 a weekend. Email and phone follow an office calendar
(09:00-12:00, 13:30-18:00, ``holidays: cn``), app an every-day 08:00-23:00 calendar, chat
none. Tickets start at the edges that matter (a holiday, before opening, lunch, a closing
time, the extra holiday, the makeup day, just before and after 23:00, across midnight into
the ``today`` window) in every channel, each with one of a few conversation shapes: later
customer messages, bot replies that answer nothing, a reply exactly at a score's limit,
resolves with a turn open (before and after the score decided it), reopens, a message on
a resolved ticket. Scores: a wall-clock 3-minute rule (chat, app, 08:00-23:00), a business
1-hour rule (email, phone) and a business probe over the ``other`` channel alone whose
three turns, worked out by hand below, pin the holiday, the extra holiday and the makeup
workday.

The live test runs the service with the wall clock injected (SPEC §2: live, the clock follows
the wall clock) and moves it with no event: a turn becomes overdue, a score decides a missed
turn exactly at start + limit, an email turn's overdue gauge stays 0 through the closed
evening and the extra holiday although its wall wait passes the SLA, and rises only after
the makeup workday's opening; at every step every series equals the oracle at that clock.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from confluent_kafka import Producer

from consumers.admin import ensure_topics
from core.config import Config, load_config
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled
from tests.oracle import Expected, compute, diff, from_exposition
from tests.oracle.section7 import kwargs_from_config

pytestmark = pytest.mark.broker

TZ = ZoneInfo("Asia/Shanghai")

SECTION7: dict[str, Any] = {
    "sla": {
        "first_response_s": {"chat": 30, "phone": 900, "app": 1800, "email": 14400},
        "response_s": {"chat": 60, "phone": 1800, "app": 600, "email": 7200},
    },
    "business_hours": {
        "timezone": "Asia/Shanghai",
        "calendars": {
            "office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                       "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"},
            "online": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "hours": ["08:00-23:00"], "holidays": "none"},
        },
        "channels": {"email": "office", "phone": "office", "app": "online"},
        "extra_holidays": ["2026-10-09"],
        "extra_workdays": [],
    },
    "today_window": True,
    "scores": [
        {"name": "chat_3min", "title": {"zh": "3分钟人工响应率", "en": "3-minute human response"},
         "channels": ["chat", "app"], "hours": "08:00-23:00", "within_s": 180,
         "clock": "wall", "target": 0.9},
        {"name": "office_1h", "title": {"zh": "工作时间1小时响应率", "en": "1 business hour"},
         "channels": ["email", "phone"], "hours": "09:00-18:00", "within_s": 3600,
         "clock": "business", "target": 0.8},
        {"name": "probe_other", "title": {"zh": "探针", "en": "probe"},
         "channels": ["other"], "hours": "00:00-24:00", "within_s": 1800,
         "clock": "business", "target": 0.5},
    ],
}


def local_ms(text: str) -> int:
    """``"2026-10-08 17:45:00"`` in Asia/Shanghai -> epoch ms."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ).timestamp()
               * 1000)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, TZ).isoformat(timespec="milliseconds")


END = local_ms("2026-10-12 08:30:00")  # the replay's clock: office and phone closed

# where turns start: the edges of the calendars and of the windows
STARTS = (
    "2026-10-06 10:00:00",  # 国庆: office closed all day, app open
    "2026-10-07 22:58:00",  # just before 23:00: covered by chat_3min; app closes at 23:00
    "2026-10-07 23:30:00",  # after 23:00: no score covers chat; app closed
    "2026-10-08 08:50:00",  # first workday, before opening
    "2026-10-08 11:55:00",  # before lunch
    "2026-10-08 17:45:00",  # before closing; next opening Sat (Fri is an extra holiday)
    "2026-10-09 10:00:00",  # extra holiday
    "2026-10-10 09:30:00",  # makeup workday (Saturday)
    "2026-10-10 17:50:00",  # makeup workday, before closing; Sun closed
    "2026-10-11 23:50:00",  # across midnight into today's window
    "2026-10-12 00:10:00",  # today
    "2026-10-12 08:20:00",  # today, before the office opens: still waiting at the clock
)
CHANNELS = ("chat", "app", "phone", "email")
UNIT_S = {"chat": 1, "app": 4, "phone": 30, "email": 90}  # one shape, each channel's pace
# conversation shapes: (offset in units, what); R agent reply, B bot reply, M customer
# message, X resolve, O reopen, T transfer, C rating
SHAPES: dict[str, tuple[tuple[int, str], ...]] = {
    "fast": ((20, "R"), (300, "M"), (350, "R"), (600, "X"), (650, "C")),
    "slow": ((5, "B"), (400, "R"), (500, "M"), (520, "R"), (700, "M"), (710, "X")),
    "silent": ((10, "B"), (40, "M")),
    "closed_early": ((30, "M"), (90, "X"), (200, "O"), (260, "M"), (300, "R"), (400, "X")),
    "closed_late": ((60, "B"), (3000, "X")),
    "reopened": ((10, "R"), (60, "X"), (100, "M"), (200, "O"), (250, "R"), (300, "M")),
    "at_limit": ((180, "R"), (190, "T"), (200, "M")),
}
PRIORITIES = ("P1", "P2", "P3", "P4")
REGIONS = ("east", "south", "north", "central")
CATEGORIES = ("return", "refund", "complaint", "inquiry")
# the probe score (channel other, email's office calendar, 30 business minutes), by hand:
PROBES = (
    # 国庆 Wed 10:00 -> Thu 09:20: 20 business minutes (Wed closed) -> within
    ("P-holiday", "2026-10-07 10:00:00", "2026-10-08 09:20:00"),
    # Thu 17:45 -> Sat 09:10: 15 + 10 minutes (Fri extra holiday, Sat makeup day) -> within
    ("P-makeup-in", "2026-10-08 17:45:00", "2026-10-10 09:10:00"),
    # Thu 17:50 -> Sat 09:25: 10 + 25 minutes -> missed, decided Sat 09:20
    ("P-makeup-out", "2026-10-08 17:50:00", "2026-10-10 09:25:00"),
)


REDELIVERED = slice(100, 1600, 150)  # 10 messages


def scenario(cfg: Config) -> list[Message]:
    """The messages in the order produced: by event time (each ticket's in its own order),
    then a few redeliveries, an orphan and a broken message."""
    topic = cfg.kafka.tickets_topic
    dated: list[tuple[int, str, dict[str, Any]]] = []
    n = 0

    def event(ticket: str, kind: str, ts: int, **fields: Any) -> None:
        nonlocal n
        n += 1
        when: int | str = ts if n % 2 else rfc3339(ts)  # both formats of SPEC §1
        dated.append((ts, ticket, {"event_id": f"s7-{n}", "type": kind, "ts": when,
                                   "ticket_id": ticket, **fields}))

    kinds = {"R": ("ticket.replied", {"by": "agent", "agent_id": "a7"}),
             "B": ("ticket.replied", {"by": "bot"}), "M": ("ticket.message", {}),
             "X": ("ticket.resolved", {}), "O": ("ticket.reopened", {}),
             "T": ("ticket.transferred", {"to": "expert"}), "C": ("ticket.rated", {"csat": 5})}
    i = 0
    for start in STARTS:
        t0 = local_ms(start)
        for channel in CHANNELS:
            for shape, steps in SHAPES.items():
                i += 1
                tid = f"{channel}-{shape}-{t0 // 60_000}"
                event(tid, "ticket.created", t0, channel=channel,
                      category=CATEGORIES[i % 4], priority=PRIORITIES[i % 4],
                      region=REGIONS[i % 4])
                for offset, what in steps:
                    ts = t0 + offset * UNIT_S[channel] * 1000
                    if ts <= END:
                        kind, extra = kinds[what]
                        event(tid, kind, ts, **extra)
    for tid, created, replied in PROBES:
        event(tid, "ticket.created", local_ms(created), channel="whatsapp",
              category="inquiry", priority="P3", region="east")
        event(tid, "ticket.replied", local_ms(replied), by="agent")
    event("END", "ticket.created", END, channel="chat", category="inquiry", priority="P3",
          region="east")
    dated.sort(key=lambda d: d[0])  # stable: a ticket's events keep their order
    out: list[Message] = [(topic, tid, orjson.dumps(v)) for _, tid, v in dated]
    out += out[REDELIVERED]  # redeliveries: duplicates
    out.append((topic, "GHOST", orjson.dumps({
        "event_id": "s7-ghost", "type": "ticket.message", "ts": END - 60_000,
        "ticket_id": "GHOST"})))  # an orphan
    out.append((topic, "BAD", b'{"event_id": "s7-bad", "type": "ticket.message", '))
    return out


def produce_librdkafka(cfg: Config, messages: list[Message]) -> None:
    """Written by a producer we did not write: librdkafka, lz4 batches, its own partitioner."""
    ensure_topics(cfg.kafka)
    p = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers,
                  "compression.type": "lz4", "linger.ms": 20, "batch.num.messages": 200})
    for topic, key, value in messages:
        p.produce(topic, value=value, key=key)
    assert p.flush(30) == 0


def config_doc(cfg: Config) -> dict[str, Any]:
    return {
        "kafka": {"tickets_topic": cfg.kafka.tickets_topic,
                  "logistics_topic": cfg.kafka.logistics_topic,
                  "max_poll_interval_ms": 10000, "session_timeout_ms": 6000},
        "dashboard": {"enabled": False},
        "alerting": {"enabled": False},
        **SECTION7,
    }


@contextmanager
def pulse_run(cfg: Config, conf: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli", "run", "--bootstrap-servers",
         cfg.kafka.bootstrap_servers, "--config", str(conf), "--group-id", cfg.kafka.group_id,
         "--metrics-port", str(cfg.metrics_port), "--no-dashboard"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{cfg.metrics_port}/metrics"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out


def settled(url: str, produced: int) -> str:
    def done() -> bool:
        try:
            text = scrape(url)
        except OSError:
            return False
        return "aftersales_ready 1.0" in text and handled(text) >= produced

    wait_for(done, timeout=90)
    time.sleep(1.0)  # one more publish interval
    return scrape(url)


def value(got: Expected, metric: str, **labels: str) -> float:
    """One §7 sample of a parsed page (0 when absent)."""
    if metric.endswith("_total"):
        return float(got.counter(metric, **labels))
    return got.gauge(metric, **labels)


def test_section7_scenario_through_pulse_run(make_config, tmp_path: Path) -> None:
    cfg = make_config()
    messages = scenario(cfg)
    produce_librdkafka(cfg, messages)
    conf = tmp_path / "pulse.yaml"
    doc = config_doc(cfg)
    conf.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert load_config(conf).scores[0].name == "chat_3min"  # the file is what the CLI reads

    with pulse_run(cfg, conf) as url:
        text = settled(url, len(messages))
    got = from_exposition(text)
    want = compute(messages, wall_ms=int(time.time() * 1000), **kwargs_from_config(doc))
    # a rebuild folds partition after partition (consumers/reader.py): which events of a
    # 6-day log are older than the clock's 24 h window on arrival depends on that order,
    # not on the log (as in test_pipeline.py); every other series is compared
    assert sum(want.late.values()) == 0  # type: ignore[union-attr]
    got.late = want.late = None
    problems = diff(got, want)
    assert not problems, "\n".join(problems[:60])

    # the comparison is not of two empty pages: the §7 series are there and move
    assert got.clock_ms == END
    assert got.histograms7 is not None
    responses = sum(h.count for h in got.histograms7.values())
    first = sum(h.count for (m, _), h in got.histograms.items()
                if m == "aftersales_first_response_seconds")
    assert responses > first > 50, (responses, first)
    for score in ("chat_3min", "office_1h"):
        turns = value(got, "aftersales_score_turns_total", score=score)
        within = value(got, "aftersales_score_turns_within_total", score=score)
        assert turns > within > 0, (score, turns, within)
    # worked out by hand: the holiday and the makeup day each decide one probe turn
    assert value(got, "aftersales_score_turns_total", score="probe_other") == 3
    assert value(got, "aftersales_score_turns_within_total", score="probe_other") == 2
    # at Mon 08:30 the office is closed, app (08:00-23:00) and chat are open
    assert value(got, "aftersales_business_hours_open", channel="chat") == 1
    assert value(got, "aftersales_business_hours_open", channel="app") == 1
    for ch in ("email", "phone", "other"):
        assert value(got, "aftersales_business_hours_open", channel=ch) == 0
    for ch in CHANNELS:
        assert value(got, "aftersales_awaiting_reply_tickets", channel=ch) > 0, ch
        assert value(got, "aftersales_oldest_awaiting_reply_age_seconds", channel=ch) > 0, ch
    assert value(got, "aftersales_response_overdue_tickets", channel="email") > 0
    # today (since Mon 00:00) holds the turns started across midnight and after
    assert value(got, "aftersales_window_turns", window="today", channel="chat") > 0
    assert value(got, "aftersales_window_score_turns", window="today", score="chat_3min") > 0
    assert value(got, "aftersales_window_turns", window="today", channel="chat") < value(
        got, "aftersales_window_turns", window="24h", channel="chat")
    assert sum(got.duplicates.values()) == 10
    # the one §7 series the oracle leaves out (interpretation 25): the configured targets
    targets = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("aftersales_score_target{")}
    assert targets == {sc["name"]: sc["target"] for sc in SECTION7["scores"]}
    assert {k: v for k, v in (got.orphans or {}).items() if v} == {
        (cfg.kafka.tickets_topic, "ticket.message"): 1}


# ---- live: the wall clock injected, timers with no event -------------------------------

W0 = local_ms("2026-10-08 17:59:00")  # Thu, a workday, a minute before the office closes


def live_messages(cfg: Config) -> list[Message]:
    topic = cfg.kafka.tickets_topic
    return [
        (topic, "LC", orjson.dumps({  # chat_3min: missed at 18:01:50 if unanswered
            "event_id": "lc", "type": "ticket.created", "ts": W0 - 10_000, "ticket_id": "LC",
            "channel": "chat", "category": "refund", "priority": "P2", "region": "east"})),
        (topic, "LE", orjson.dumps({  # email: 90 business seconds left today
            "event_id": "le", "type": "ticket.created", "ts": rfc3339(W0 - 30_000),
            "ticket_id": "LE", "channel": "email", "category": "return", "priority": "P3",
            "region": "south"})),
        (topic, "LA", orjson.dumps({  # chat, answered within: decided at the reply
            "event_id": "la", "type": "ticket.created", "ts": W0 - 20_000, "ticket_id": "LA",
            "channel": "chat", "category": "inquiry", "priority": "P4", "region": "north"})),
        (topic, "LA", orjson.dumps({
            "event_id": "la-r", "type": "ticket.replied", "ts": W0 - 5_000, "ticket_id": "LA",
            "by": "agent"})),
    ]


def test_section7_live_timers_fire_with_no_event(make_config) -> None:
    cfg = make_config(**SECTION7)
    wall = [W0]
    messages = live_messages(cfg)
    kwargs = kwargs_from_config(SECTION7)
    with Service(cfg, wall=lambda: wall[0]) as svc:
        assert svc.wait_ready(60)
        produce_librdkafka(cfg, messages)

        def page() -> Expected:
            return from_exposition(scrape(svc.metrics_url))

        def at(when: str | int, check: Any) -> Expected:
            """Move the wall clock, wait for ``check``, then compare everything."""
            wall[0] = local_ms(when) if isinstance(when, str) else when
            got = wait_for(lambda: (p := page()).clock_ms == wall[0] and check(p) and p,
                           timeout=30)
            want = compute(messages, clock_ms=wall[0], wall_ms=wall[0], **kwargs)
            problems = diff(got, want)
            assert not problems, f"at {rfc3339(wall[0])}:\n" + "\n".join(problems[:40])
            return got

        got = at(W0, lambda p: value(p, "aftersales_awaiting_reply_tickets", channel="email"))
        assert value(got, "aftersales_awaiting_reply_tickets", channel="chat") == 1
        assert value(got, "aftersales_response_overdue_tickets", channel="chat") == 0
        assert value(got, "aftersales_score_turns_total", score="chat_3min") == 1  # LA
        assert value(got, "aftersales_business_hours_open", channel="email") == 1

        # 18:01:49.999, a millisecond before LC's limit runs out; chat's 60 s SLA has passed
        got = at(W0 + 169_999, lambda p: value(
            p, "aftersales_response_overdue_tickets", channel="chat") == 1)
        assert value(got, "aftersales_score_turns_total", score="chat_3min") == 1
        assert value(got, "aftersales_business_hours_open", channel="email") == 0
        # exactly start + limit: LC is decided missed, no event arrived
        got = at(W0 + 170_000, lambda p: value(
            p, "aftersales_score_turns_total", score="chat_3min") == 2)
        assert value(got, "aftersales_score_turns_within_total", score="chat_3min") == 1
        assert value(got, "aftersales_window_score_turns", window="today", score="chat_3min") == 2

        # the evening and the extra holiday's morning (office hours on a normal Friday): LE
        # has waited 16 h of wall time, far past the email SLA (2 h), but only 90 s of
        # business time: not overdue, not decided
        got = at("2026-10-09 10:00:00", lambda p: value(
            p, "aftersales_business_hours_open", channel="email") == 0)
        assert value(got, "aftersales_response_overdue_tickets", channel="email") == 0
        assert value(got, "aftersales_score_turns_total", score="office_1h") == 0
        assert value(got, "aftersales_oldest_awaiting_reply_age_seconds",
                     channel="email") == pytest.approx(16 * 3600 + 90)
        # the makeup Saturday opens at 09:00; office_1h's hour runs out at 09:58:30
        got = at("2026-10-10 09:58:29", lambda p: value(
            p, "aftersales_business_hours_open", channel="email") == 1)
        assert value(got, "aftersales_score_turns_total", score="office_1h") == 0
        got = at("2026-10-10 09:58:30", lambda p: value(
            p, "aftersales_score_turns_total", score="office_1h") == 1)
        assert value(got, "aftersales_score_turns_within_total", score="office_1h") == 0
        assert value(got, "aftersales_response_overdue_tickets", channel="email") == 0
        # 2 h of business time = 90 s on Thursday + 7110 s from 09:00: 10:58:30
        got = at("2026-10-10 10:58:30", lambda p: value(
            p, "aftersales_business_hours_open", channel="email") == 1)
        assert value(got, "aftersales_response_overdue_tickets", channel="email") == 0
        at("2026-10-10 10:58:31", lambda p: value(
            p, "aftersales_response_overdue_tickets", channel="email") == 1)
        assert svc.failed is None


def test_the_service_warns_at_start_when_next_year_has_no_notice(
    make_config, caplog: pytest.LogCaptureFixture,
) -> None:
    """In December the coming year's calendar is said at start, not at its New Year."""
    from core.cn_holidays import cn_year, covered_years

    last = max(covered_years())
    december = local_ms(f"{last}-12-01 09:00:00")
    cfg = make_config(business_hours=SECTION7["business_hours"])
    cn_year.cache_clear()
    with caplog.at_level(logging.INFO), Service(cfg, wall=lambda: december):
        pass
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and r.name == "core.cn_holidays"]
    assert len(warned) == 1
    assert f"no State Council notice for {last + 1}" in warned[0]
    info = [r.getMessage() for r in caplog.records if r.name == "pulse.service"]
    assert any(f"statutory days only for [{last + 1}]" in m for m in info), info
