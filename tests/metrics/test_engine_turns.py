"""SPEC §7 in the engine against the oracle: turns (ticket.message), response SLA and
business hours (email and phone on an office calendar with China's holidays), replayed
in-process; and a live turn becoming overdue with no further event (wall pinned)."""

from __future__ import annotations

from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from consumers.decode import Decoder, Rejection
from core.config import load_config
from metrics.engine import Engine
from metrics.snapshot_collector import SnapshotCollector
from tests.oracle import compute, diff, from_exposition
from tests.test_oracle_turns import OFFICE, WALL, Log, ms

T = "aftersales.tickets"


# a wall-clock score on chat in the day, a business-clock one on email (office calendar)
SCORES = [
    {"name": "chat_1min", "channels": ["chat"], "hours": "08:00-23:00", "within_s": 60,
     "clock": "wall", "target": 0.9},
    {"name": "email_2h", "channels": ["email", "phone"], "hours": "00:00-24:00",
     "within_s": 7200, "clock": "business", "target": 0.8},
]


def _engine(tmp_path: Path, wall: list[int],
            scores: list[dict[str, object]] | None = None) -> tuple[Engine, Decoder]:
    conf = tmp_path / "pulse.yaml"
    # a wait across 国庆 is 8 wall days: beyond the default 7-day horizon (section7 #26)
    raw: dict[str, object] = {"business_hours": OFFICE, "state_horizon_s": 12 * 86400,
                              "sla": {"response_s": {"chat": 60, "email": 7200}}}
    if scores is not None:
        raw["scores"] = scores
    conf.write_text(yaml.safe_dump(raw))
    cfg = load_config(conf)
    return Engine(cfg, lambda: wall[0]), Decoder(regions=cfg.regions)


def _feed(engine: Engine, dec: Decoder, log: Log, wall_ms: int) -> None:
    """Fold the log's messages in order (every one of them valid)."""
    for topic, _key, value in log.messages:
        item = dec.decode(value, wall_ms)
        assert not isinstance(item, Rejection), item
        engine.process(topic, item, wall_ms)


def _exposition(engine: Engine) -> str:
    engine.tick()
    snap = engine.snapshot()
    reg = CollectorRegistry()
    reg.register(SnapshotCollector(lambda: snap))
    return generate_latest(reg).decode()


def _scenario() -> Log:
    log = Log()
    # chat (24x7): three turns, one answered late, a bot reply answers nothing
    log.created("2026-09-30 22:00", "C", "chat")
    log.add("ticket.replied", "2026-09-30 22:00:20", "C")
    log.add("ticket.message", "2026-09-30 22:05", "C")
    log.add("ticket.replied", "2026-09-30 22:05:10", "C", by="bot")
    log.add("ticket.message", "2026-09-30 22:05:30", "C")  # already waiting: nothing
    log.add("ticket.replied", "2026-09-30 22:07", "C")
    log.add("ticket.message", "2026-09-30 23:59", "C")
    # email before closing on Sep 30, across 国庆 (Oct 1-7), answered on Oct 8
    log.created("2026-09-30 17:30", "E", "email", priority="P1")
    log.add("ticket.replied", "2026-10-08 09:20", "E")
    log.add("ticket.message", "2026-10-08 11:50", "E")
    log.add("ticket.replied", "2026-10-08 13:40", "E")  # 10 business minutes later
    # phone on the makeup workday Sat Oct 10, resolved unanswered, reopened, message
    log.created("2026-10-10 08:30", "P", "phone")
    log.add("ticket.resolved", "2026-10-10 09:05", "P")
    log.add("ticket.reopened", "2026-10-10 09:10", "P")
    log.add("ticket.message", "2026-10-10 09:20", "P")
    log.add("ticket.message", "2026-10-10 10:00", "GHOST")  # orphan
    # email waiting over local midnight, still open at the clock
    log.created("2026-10-10 17:50", "W", "email")
    log.add("ticket.resolved", "2026-10-10 23:59:59", "X")  # orphan, moves the clock
    return log


def test_turns_and_business_hours_match_the_oracle(tmp_path: Path) -> None:
    wall = [WALL]
    engine, dec = _engine(tmp_path, wall)
    log = _scenario()
    _feed(engine, dec, log, WALL)
    got = from_exposition(_exposition(engine))
    want = compute(log.messages, wall_ms=WALL, business_hours=OFFICE,
                   response_sla={"chat": 60, "email": 7200}, state_horizon_s=12 * 86400)
    assert not diff(got, want)
    assert got.gauges7 is not None
    assert got.gauges7  # §7 series are really there and compared
    wall_clock = compute(log.messages, wall_ms=WALL, response_sla={"chat": 60, "email": 7200},
                         state_horizon_s=12 * 86400)
    assert diff(got, wall_clock)  # business time matters


def test_a_live_turn_becomes_overdue_with_no_further_event(tmp_path: Path) -> None:
    wall = [ms("2026-10-12 09:00")]  # a Monday, office open
    engine, dec = _engine(tmp_path, wall)
    log = Log().created("2026-10-12 08:59:50", "C", "chat")
    log.add("ticket.replied", "2026-10-12 08:59:55", "C")
    log.add("ticket.message", "2026-10-12 08:59:58", "C")
    log.created("2026-10-12 08:59:59", "E", "email")
    log.add("ticket.replied", "2026-10-12 09:00", "E")
    log.add("ticket.message", "2026-10-12 09:00", "E")
    _feed(engine, dec, log, wall[0])
    engine.tick()
    snap = engine.snapshot()
    assert snap.live
    assert snap.awaiting_reply["chat"] == 1
    assert snap.response_overdue["chat"] == 0
    wall[0] = ms("2026-10-12 09:01")  # 62 s waited > 60 s: overdue, no event
    engine.tick()
    snap = engine.snapshot()
    assert snap.response_overdue["chat"] == 1
    assert snap.response_overdue_2x["chat"] == 0
    # email: 2 business hours from 09:00 end at 11:00; over lunch the wait stops
    wall[0] = ms("2026-10-12 11:00")
    engine.tick()
    assert engine.snapshot().response_overdue["email"] == 0
    wall[0] = ms("2026-10-12 11:00:01")
    engine.tick()
    snap = engine.snapshot()
    assert snap.response_overdue["email"] == 1
    assert snap.business_hours_open["email"]
    assert snap.business_hours_open["chat"]
    assert {a.kind for a in snap.act_now} == {"awaiting"}
    wall[0] = ms("2026-10-12 12:30")
    engine.tick()
    snap = engine.snapshot()
    assert not snap.business_hours_open["email"]
    assert snap.business_hours_open["chat"]


def test_platform_scores_match_the_oracle(tmp_path: Path) -> None:
    wall = [WALL]
    engine, dec = _engine(tmp_path, wall, SCORES)
    log = _scenario()
    _feed(engine, dec, log, WALL)
    text = _exposition(engine)
    got = from_exposition(text)
    want = compute(log.messages, wall_ms=WALL, business_hours=OFFICE, scores=SCORES,
                   response_sla={"chat": 60, "email": 7200}, state_horizon_s=12 * 86400)
    assert not diff(got, want)
    assert 'aftersales_score_turns_total{score="chat_1min"}' in text
    assert 'aftersales_score_target{score="email_2h"} 0.8' in text
    snap = engine.snapshot()
    # 22:00 within, 22:05 missed (answered after 2 min), 23:59 outside the hours
    assert snap.score_turns_total["chat_1min"] == 2
    assert snap.score_turns_within_total["chat_1min"] == 1
    assert snap.score_targets == {"chat_1min": 0.9, "email_2h": 0.8}


def test_a_score_without_channels_covers_all_and_its_hours_may_wrap_midnight(
        tmp_path: Path) -> None:
    """SPEC §7: every key of a score is optional (no ``channels``: every channel), and a
    score's ``hours`` may run past midnight ("22:00-02:00": the 23:59 chat turn counts)."""
    rules = [{"name": "night", "hours": "22:00-02:00", "within_s": 60}]
    wall = [WALL]
    engine, dec = _engine(tmp_path, wall, rules)
    assert engine.config.scores[0].channels == ("chat", "phone", "email", "app", "other")
    log = _scenario()
    _feed(engine, dec, log, WALL)
    got = from_exposition(_exposition(engine))
    want = compute(log.messages, wall_ms=WALL, business_hours=OFFICE, scores=rules,
                   response_sla={"chat": 60, "email": 7200}, state_horizon_s=12 * 86400)
    assert not diff(got, want)
    # chat 22:00 (within) and 22:05 (missed), the 23:59 turn (missed); nothing else starts
    # between 22:00 and 02:00 local
    assert engine.snapshot().score_turns_total["night"] == 3


def test_a_live_score_decides_a_missed_turn_at_its_limit(tmp_path: Path) -> None:
    wall = [ms("2026-10-12 10:00")]  # a Monday, office open
    engine, dec = _engine(tmp_path, wall, SCORES)
    log = Log().created("2026-10-12 09:59:30", "C", "chat")
    _feed(engine, dec, log, wall[0])
    engine.tick()
    snap = engine.snapshot()
    assert snap.live
    assert snap.score_turns_total["chat_1min"] == 0
    wall[0] = ms("2026-10-12 10:00:30") - 1  # the limit not yet run out
    engine.tick()
    assert engine.snapshot().score_turns_total["chat_1min"] == 0
    wall[0] += 1  # start + limit: decided missed there (a reply at that ms would revise it)
    engine.tick()
    snap = engine.snapshot()
    assert snap.score_turns_total["chat_1min"] == 1
    assert snap.score_turns_within_total["chat_1min"] == 0
    assert snap.windows["15m"].score_turns["chat_1min"] == 1
    assert snap.windows["today"].score_turns["chat_1min"] == 1
