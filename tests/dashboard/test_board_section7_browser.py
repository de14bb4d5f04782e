"""The SPEC §7 parts of the board in headless Chromium (issue 16): awaiting-reply,
business-hours and score tiles, the act-now list, and the worst case — every alert of the
shipped rule file firing at once — on one 1920×1080 screen, in both languages.

The snapshots are built here with the §7 fields the engine fills; the page is served by
the real BoardServer (Dash + waitress) and read back from the DOM.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from board_browser import LAYOUT_PROBLEMS

from core.alerting import ActiveAlert, ProfileState
from core.config import ScoreConfig, load_config
from core.snapshot import ActionTicket, Snapshot
from dashboard.server import BoardServer, settings_of
from dashboard.sources import BoardSettings, EngineSource
from dashboard.view import TILES, build_view

pytestmark = [pytest.mark.browser]

CJK = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
SCORES = (
    ScoreConfig(name="taobao_3min", title={"zh": "淘宝3分钟人工响应率",
                                           "en": "Taobao 3-minute human response rate"},
                channels=("chat", "app"), target=0.9),
    ScoreConfig(name="douyin_3min", title={"zh": "抖音3分钟人工回复率",
                                           "en": "Douyin 3-minute human reply rate"},
                channels=("chat",), target=0.85),
    ScoreConfig(name="jd_30s", title={"zh": "京东30秒首次响应率",
                                      "en": "JD 30-second first response rate"},
                channels=("chat",), within_s=30, target=0.8),
)
OFFICE = load_config(business_hours={
    "calendars": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                             "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"}},
    "channels": {"email": "office", "phone": "office"}}).business_hours
SETTINGS = BoardSettings(scores=SCORES, business_hours=OFFICE)


class Rules:
    """The evaluator as the board sees it (core.alerting.AlertView), every alert firing."""

    def __init__(self, alerts: tuple[ActiveAlert, ...]) -> None:
        from alerts.alerting import Alerting

        self._rules = Alerting.from_config(load_config())
        self._alerts = alerts
        self.profile = ProfileState("peak", "promotion", "双11大促")

    def active_alerts(self) -> tuple[ActiveAlert, ...]:
        return self._alerts

    def thresholds(self, profile: str) -> Any:
        return self._rules.thresholds(profile)

    def peak_periods(self) -> tuple[tuple[int, int | None], ...]:
        return ()

    def close(self) -> None:
        self._rules.close()


def surge(snap: Snapshot) -> Snapshot:
    """A surge at 20:30 with the office closed: every §7 field full, long values."""
    today = dataclasses.replace(
        snap.windows["24h"], name="today", seconds=72_000,
        score_turns={"taobao_3min": 12_345, "douyin_3min": 4_321, "jd_30s": 987},
        score_turns_within={"taobao_3min": 11_001, "douyin_3min": 4_100, "jd_30s": 700})
    acts = (
        *(ActionTicket(f"TICKET-2026-11-11-{i:08d}", ch, "P2", "southwest", 4000.0 + i,
                       1800.0 if ch == "app" else 30.0, kind)
          for i, (ch, kind) in enumerate([("chat", "unanswered"), ("app", "awaiting"),
                                          ("chat", "awaiting"), ("app", "unanswered")] * 2)),
        ActionTicket("TICKET-2026-11-11-P1-000001", "email", "P1", "northeast", 30_000.0,
                     7200.0, "overdue", business_age_s=9000.0),
        ActionTicket("TICKET-2026-11-11-EM-000002", "email", "P3", "northwest", 200_000.0,
                     86_400.0, "awaiting", business_age_s=100_000.0),
    )
    return dataclasses.replace(
        snap, windows={**snap.windows, "today": today}, act_now=acts,
        unanswered={"chat": 123_456, "app": 7_890, "phone": 4_567, "email": 12_345},
        first_response_overdue={"chat": 12_345, "app": 678, "phone": 4_321, "email": 9_876},
        first_response_overdue_2x={"chat": 10_000, "phone": 4_000, "email": 9_000},
        awaiting_reply={"chat": 23_456, "app": 1_234, "phone": 345, "email": 6_789},
        response_overdue={"chat": 3_456, "app": 123, "phone": 234, "email": 5_678},
        response_overdue_2x={"chat": 1_000, "email": 5_000},
        oldest_awaiting_reply_age_s={"chat": 4000.0, "email": 200_000.0},
        business_hours_open={"chat": True, "app": True, "phone": False, "email": False},
        score_targets={sc.name: sc.target for sc in SCORES},
    )


def every_alert(snap: Snapshot) -> tuple[ActiveAlert, ...]:
    """Each rule of the shipped file firing, the per-label ones on every label value."""
    from alerts.rules import load_rules

    out = []
    long = "首次响应 SLA 达成率过低，请立即增派坐席并开启排队分流，优先处理 VIP 客户与 P1 工单"
    for i, rule in enumerate(load_rules(None)):
        labels: list[tuple[tuple[str, str], ...]] = [()]
        if "channel" in (rule.labels if hasattr(rule, "labels") else ()) or "Overdue" in rule.name:
            labels = [(("channel", ch),) for ch in ("chat", "phone", "app", "email")]
        if "Region" in rule.name:
            labels = [(("region", r),) for r in ("south", "east", "north", "northwest")]
        for lab in labels:
            ch = lab[0][1] if lab else ""
            out.append(ActiveAlert(
                rule.name, rule.severity, lab, f"{ch} 渠道 {long}" if ch else long,
                f"{ch} {rule.name} " * 4,
                long, "description " * 10, snap.clock_ms - 3_600_000 * (i + 1), 0.5, 0.92, "<",
                "peak", unit="ratio"))
    return tuple(out)


@pytest.fixture(scope="module")
def board(make_snapshot_module: Any) -> Iterator[tuple[str, EngineSource, Rules]]:
    snap = surge(make_snapshot_module(hours=2, rate=10))
    rules = Rules(every_alert(snap))
    source = EngineSource(lambda: snap, rules, SETTINGS)
    cfg = load_config(dashboard__port=0, dashboard__refresh_s=1.0)
    with BoardServer(cfg.dashboard, source) as server:
        yield server.url, source, rules
    rules.close()


@pytest.fixture(scope="module")
def make_snapshot_module() -> Any:
    from board_events import feed, traffic
    from conftest import NOW_MS

    from metrics.engine import Engine

    def make(hours: float, rate: float) -> Snapshot:
        engine = Engine(load_config(), lambda: NOW_MS)
        feed(engine, traffic(NOW_MS - int(hours * 3600_000), NOW_MS, rate=rate, seed=9),
             NOW_MS)
        return engine.snapshot()

    return make


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    deadline = time.monotonic() + 30
    while not browser.js("const v = document.getElementById('tile-score_0-value');"
                         "return !!(v && v.textContent &&"
                         " document.querySelectorAll('.alert').length);"):
        assert time.monotonic() < deadline, "the board did not render"
        time.sleep(0.2)
    time.sleep(1.2)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_section7_tiles_and_act_now_in_both_languages(browser: Any, board: Any,
                                                      lang: str) -> None:
    url, source, _rules = board
    open_page(browser, url + ("?lang=en" if lang == "en" else ""))
    want = build_view(source.read(), lang, settings_of(load_config().dashboard))
    got = browser.js("""
        const out = {};
        for (const el of document.querySelectorAll('.tile')) out[el.id.slice(5)] = [
          el.className, el.querySelector('.tile-label').textContent,
          el.querySelector('.tile-value').textContent,
          el.querySelector('.tile-sub').textContent];
        return out;""")
    assert sorted(got) == sorted(TILES)
    for tile in want.tiles:
        cls, label, value, sub = got[tile.key]
        assert (label, value, sub) == (tile.label, tile.value, tile.sub), tile.key
        assert f"tile-{tile.level}" in cls.split(), tile.key
    by_key = {tile.key: tile for tile in want.tiles}
    assert by_key["business_hours"].level == "closed"
    assert by_key["first_response_overdue"].level == "crit"  # chat is open and late
    titles = [got[f"score_{i}"][1] for i in range(3)]
    assert titles == [sc.title[lang] for sc in SCORES]
    closed = "休息中" if lang == "zh" else "closed"
    assert closed in got["first_response_overdue"][3]
    rows = browser.js("return [...document.querySelectorAll('#act-body tr')].map(r => "
                      "[...r.children].map(c => c.textContent));")
    assert len(rows) == 10
    assert rows == [[r.ticket_id + r.kind, r.channel, r.priority, r.region, r.age + r.clock]
                    for r in want.act_now]
    kinds = {r.kind for r in want.act_now}
    assert kinds == ({"首次回复", "再次回复", "解决超时"} if lang == "zh"
                     else {"first reply", "reply again", "resolution late"})
    text = browser.js("return document.body.innerText + ' ' + "
                      "[...document.querySelectorAll('svg text')].map(e => e.textContent)"
                      ".join(' ');")
    if lang == "en":
        # the promotion's name is operator text; everything else is English
        assert not CJK.findall(text.replace("双11大促", "")), sorted(set(CJK.findall(text)))
    else:
        assert not re.search(r"\b(chat|app|phone|email) ?渠道", text)
        for english in ("chat", "phone", "email", " app"):
            assert english not in text.split("TICKET")[0], english


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_rule_firing_at_once_fits_one_screen(browser: Any, board: Any,
                                                   lang: str) -> None:
    """The surge seen on the board: every rule of the shipped file firing (the per-label
    ones on several labels), long texts, six-digit counts, ten long ticket ids. Every
    alert is listed, most severe first, compacted; nothing is cut, clipped or hidden."""
    url, source, _rules = board
    open_page(browser, url + ("?lang=en" if lang == "en" else ""))
    want = build_view(source.read(), lang, settings_of(load_config().dashboard))
    assert browser.js(LAYOUT_PROBLEMS) == []
    got = browser.js("return [...document.querySelectorAll('.alert')].map(e => "
                     "[e.className, e.querySelector('.alert-name').textContent]);")
    rules = {a.name for a in source.read().alerts}
    assert len(got) == len(want.alerts) == len(rules) >= 11
    assert [name for _cls, name in got] == [r.name for r in want.alerts]
    order = [cls.split("sev-")[1] for cls, _name in got]
    assert order == sorted(order, key=["critical", "warning", "info"].index)
    assert want.alerts_compact
    assert browser.text("alerts-note") == ""
