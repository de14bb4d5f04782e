"""SPEC §7 on simulated days that cross China's calendar: the engine with business hours
(an office calendar with holidays, an online one, a night shift past midnight), a response
SLA and platform scores (wall, business, past midnight), against the independent oracle
(tests/oracle) -- over 国庆 (a statutory holiday), the makeup Saturday after it (调休), an
extra holiday and local midnights."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.metrics.test_engine import Message, run_engine, scenario_messages
from tests.oracle import compute, diff, from_exposition
from tests.oracle.section7 import kwargs_from_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = {
    "sla": {"response_s": {"chat": 60, "phone": 600, "app": 900, "email": 14400}},
    "business_hours": {
        "timezone": "Asia/Shanghai",
        "calendars": {
            "office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                       "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"},
            "night": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                      "hours": ["08:00-12:00", "20:00-01:00"], "holidays": "none"},
        },
        "channels": {"email": "office", "phone": "office", "app": "night"},
        "extra_holidays": ["2026-10-09"],
    },
    "scores": [
        {"name": "chat_3min", "channels": ["chat", "app"], "hours": "08:00-23:00",
         "within_s": 180, "clock": "wall", "target": 0.9},
        {"name": "office_2h", "channels": ["email", "phone"], "within_s": 7200,
         "clock": "business", "target": 0.8},
        {"name": "night_1min", "hours": "23:00-09:00", "within_s": 60, "target": 0.5},
    ],
}


def _messages(seed: int, start: str, hours: float) -> list[Message]:
    start_ms = int(datetime.fromisoformat(start).replace(tzinfo=SHANGHAI).timestamp() * 1000)
    return scenario_messages(seed, hours, start_ms=start_ms, rate=2.0, redeliveries=0)


@pytest.mark.parametrize(("seed", "start", "hours"), [
    pytest.param(7, "2026-09-29T06:00", 60, id="into-guoqing"),
    pytest.param(8, "2026-10-08T10:00", 60, id="extra-holiday-then-makeup-saturday"),
])
def test_engine_with_china_calendar_and_scores_matches_oracle(
        tmp_path: Path, seed: int, start: str, hours: float) -> None:
    conf = tmp_path / "pulse.yaml"
    conf.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    messages = _messages(seed, start, hours)
    wall = int(time.time() * 1000)
    text = run_engine(messages, wall, conf)
    got = from_exposition(text)
    want = compute(messages, wall_ms=wall, **kwargs_from_config(CONFIG))
    problems = diff(got, want)
    assert not problems, "\n".join(problems[:30])
    for score in ("chat_3min", "office_2h", "night_1min"):
        decided = got.counter("aftersales_score_turns_total", score=score)
        within = got.counter("aftersales_score_turns_within_total", score=score)
        assert decided > within > 0, (score, decided, within)
    # business time matters here: the same log judged 24x7 gives other numbers
    plain = {k: v for k, v in CONFIG.items() if k != "business_hours"}
    assert diff(got, compute(messages, wall_ms=wall, **kwargs_from_config(plain)))
