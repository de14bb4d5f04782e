"""The pure view: tile values and colours, banner, alert and ticket rows, language."""

from __future__ import annotations

import dataclasses
import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import NOW_MS

from core.alerting import ActiveAlert, ProfileState
from core.config import ScoreConfig, load_config
from core.snapshot import ActionTicket, Snapshot, replace_snapshot
from dashboard.i18n import _LABELS, Names, fmt_duration, lang_from_search, t
from dashboard.sources import BoardData, BoardSettings, Bounds, EngineSource
from dashboard.view import TILES, build_view, level

CJK = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")


def make_alert(**kw: Any) -> ActiveAlert:
    base: dict[str, Any] = {
        "name": "FirstResponseSlaLow", "severity": "critical", "labels": (),
        "summary_zh": "首次响应达成率过低", "summary_en": "First-response SLA low",
        "description_zh": "描述", "description_en": "description", "since_ms": NOW_MS - 600_000,
        "value": 0.871, "threshold": 0.92, "comparison": "<", "profile": "normal"}
    base.update(kw)
    return ActiveAlert(**base)


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    from board_events import feed, traffic

    from core.config import load_config
    from metrics.engine import Engine

    engine = Engine(load_config(), lambda: NOW_MS)
    feed(engine, traffic(NOW_MS - 6 * 3600_000, NOW_MS, rate=20,
                         surge=(NOW_MS - 3 * 3600_000, NOW_MS - 2 * 3600_000)), NOW_MS)
    engine.tick()
    return engine.snapshot()


def tiles(view: Any) -> dict[str, Any]:
    return {tile.key: tile for tile in view.tiles}


@pytest.mark.parametrize(("value", "pair", "expected"), [
    (None, Bounds(1, 2), "none"), (0.5, None, "none"),
    (0, Bounds(1, 5), "ok"), (1, Bounds(1, 5), "warn"), (4.9, Bounds(1, 5), "warn"),
    (5, Bounds(1, 5), "crit"),
    (0.96, Bounds(0.95, 0.92), "ok"), (0.95, Bounds(0.95, 0.92), "warn"),
    (0.92, Bounds(0.95, 0.92), "crit"),
    (0.5, SimpleNamespace(light=lambda v: "amber"), "warn"),
    (0.5, SimpleNamespace(light=lambda v: "red"), "crit"),
])
def test_level_against_warn_and_crit(value: float | None, pair: Any, expected: str) -> None:
    assert level(value, pair) == expected


@pytest.fixture(scope="module")
def rules() -> Any:
    """The shipped rule file's evaluator: the one source of the tiles' bounds."""
    from alerts.alerting import Alerting
    from core.config import load_config

    alerting = Alerting.from_config(load_config())
    yield alerting
    alerting.close()


def test_tiles_show_what_the_snapshot_holds(snap: Snapshot) -> None:
    view = build_view(EngineSource(lambda: snap).read(), "en")
    tv = tiles(view)
    assert tuple(tv) == TILES
    assert tv["unanswered"].value == f"{sum(snap.unanswered.values()):,}"
    assert tv["first_response_overdue"].value == f"{sum(snap.first_response_overdue.values()):,}"
    assert tv["backlog"].value == f"{snap.total_backlog:,}"
    w15, w1h, w24 = snap.windows["15m"], snap.windows["1h"], snap.windows["24h"]
    att = w15.first_response_sla_attainment
    assert att is not None
    assert tv["sla_attainment"].value == f"{att * 100:.1f}%"
    assert tv["escalation_rate"].value == f"{(w1h.escalation_rate or 0) * 100:.1f}%"
    assert tv["csat"].value == f"{w24.csat_satisfied / w24.csat_ratings * 100:.1f}%"
    nps = 100 * (w24.nps_promoters - w24.nps_detractors) / w24.nps_ratings
    assert tv["nps"].value == f"{nps:+.0f}"
    assert tv["peak_ratio"].value == f"{snap.peak_ratio:.1f}×"
    worst = max(w15.first_response_quantiles.items(),
                key=lambda kv: kv[1][0.9] / {"chat": 30, "phone": 900, "app": 1800,
                                             "email": 86400}.get(kv[0], 86400))
    assert tv["first_response_p90"].value == fmt_duration(worst[1][0.9], "en")
    assert tv["first_response_p90"].sub.startswith("15m\u2009·\u2009" + worst[0])
    # no evaluator: no rule bounds, so no traffic lights (the board copies no thresholds)
    assert tv["sla_attainment"].level == "none"


def test_lights_come_from_the_rule_file(snap: Snapshot, rules: Any) -> None:
    view = build_view(EngineSource(lambda: snap, rules).read(), "en")
    tv = tiles(view)
    for key in ("sla_attainment", "escalation_rate", "peak_ratio"):
        th = rules.thresholds("normal")[key]
        assert th.light(0.0) in ("green", "amber", "red")
        assert tv[key].level in ("ok", "warn", "crit"), key
    att = snap.windows["15m"].first_response_sla_attainment
    want = {"green": "ok", "amber": "warn", "red": "crit"}[
        rules.thresholds("normal")["sla_attainment"].light(att)]
    assert tv["sla_attainment"].level == want


def test_thresholds_follow_the_profile(snap: Snapshot) -> None:
    # the same unanswered count is red under normal and green under the peak thresholds
    data = dataclasses.replace(EngineSource(lambda: snap).read(),
                               thresholds={"unanswered": Bounds(10**6, 10**7)})
    assert tiles(build_view(data))["unanswered"].level == "ok"
    data = dataclasses.replace(data, thresholds={"unanswered": Bounds(0, 1)})
    assert tiles(build_view(data))["unanswered"].level == "crit"


def test_overdue_tile_red_only_past_twice_the_sla(snap: Snapshot, rules: Any) -> None:
    one = dataclasses.replace(snap, first_response_overdue={"chat": 3},
                              first_response_overdue_2x={"chat": 0})
    two = dataclasses.replace(one, first_response_overdue_2x={"chat": 1})
    th = rules.thresholds("normal")
    assert tiles(build_view(BoardData(one, thresholds=th)))[
        "first_response_overdue"].level == "warn"
    assert tiles(build_view(BoardData(two, thresholds=th)))[
        "first_response_overdue"].level == "crit"


def test_peak_tile_names_the_profile_or_promotion(snap: Snapshot) -> None:
    alerting = SimpleNamespace(
        active_alerts=lambda: (), thresholds=lambda p: {}, peak_periods=lambda: (),
        profile=ProfileState("peak", "promotion", "双11"))
    data = EngineSource(lambda: snap, alerting).read()
    assert (data.profile, data.promotion) == ("peak", "双11")
    view = build_view(data, "en")
    assert tiles(view)["peak_ratio"].sub == "双11"
    assert view.profile == "双11"
    plain = build_view(EngineSource(lambda: snap).read(), "en")
    assert plain.profile in ("normal", "peak")


def _health(snap: Snapshot, **kw: Any) -> Snapshot:
    return replace_snapshot(snap, **kw)


@pytest.mark.parametrize(("change", "level_", "reasons"), [
    ({}, "ok", ("ok",)),
    ({"last_event_wall_ms": NOW_MS - 301_000}, "crit", ("stale",)),
    ({"consumer_lag": {("t", 0): 5000}}, "crit", ("lag",)),
    ({"last_event_wall_ms": NOW_MS - 400_000, "consumer_lag": {("t", 0): 5000}}, "crit",
     ("lag", "stale")),
    ({"broker_up": False}, "crit", ("broker",)),
    ({"ready": False}, "warn", ("rebuilding",)),
    ({"live": False}, "warn", ("replay",)),
    ({"live": False, "last_event_wall_ms": NOW_MS - 3600_000}, "warn", ("replay",)),
])
def test_freshness_banner_says_which(snap: Snapshot, change: dict[str, Any], level_: str,
                                     reasons: tuple[str, ...]) -> None:
    base = _health(snap, wall_ms=NOW_MS, last_event_wall_ms=NOW_MS - 2000, live=True,
                   ready=True, consumer_lag={}, broker_up=True)
    view = build_view(BoardData(_health(base, **change)), "en")
    assert (view.banner.level, view.banner.reasons) == (level_, reasons)
    if "stale" in reasons:
        assert "no event for" in view.banner.text
    if "lag" in reasons:
        assert "5,000" in view.banner.text


def test_banner_for_a_failing_or_empty_source() -> None:
    assert build_view(BoardData(None)).banner.reasons == ("waiting",)
    view = build_view(BoardData(None, error="Prometheus: ConnectionError"), "en")
    assert view.banner.level == "crit"
    assert "ConnectionError" in view.banner.text
    assert all(tile.value == "–" for tile in view.tiles)


def test_alert_rows_in_the_board_language(snap: Snapshot) -> None:
    alerts = (
        make_alert(severity="info", name="PeakTraffic", since_ms=snap.clock_ms - 60_000,
                   unit="factor", value=3.2, threshold=3, comparison=">="),
        make_alert(since_ms=snap.clock_ms - 720_000, unit="ratio"),
        make_alert(severity="warning", name="RegionReturnRateHigh",
                   labels=(("region", "south"),), summary_en="Return rate high",
                   summary_zh="退货率偏高", description_en="<img src=x onerror=alert(1)>"),
    )
    data = BoardData(snap, alerts=alerts)
    en = build_view(data, "en")
    assert [r.severity for r in en.alerts] == ["critical", "warning", "info"]
    first = en.alerts[0]
    assert first.name == "First-response SLA low"
    assert first.since == "for 12m"
    assert first.value == "87.1% < 92.0%"
    assert en.alerts[1].name == "Return rate high · South"
    assert en.alerts[1].description == "<img src=x onerror=alert(1)>"  # text, kept verbatim
    assert en.alerts[2].value == "3.20× >= 3.00×"
    zh = build_view(data, "zh")
    assert zh.alerts[0].name == "首次响应达成率过低"
    assert zh.alerts[1].name == "退货率偏高 · 华南"


def test_every_firing_alert_is_listed_compacted_by_severity(snap: Snapshot) -> None:
    """Seen in a surge: the staffing "peak" alert hid under "2 more". Every rule gets a
    row, most severe first; many rows turn compact rather than being cut."""
    many = tuple(make_alert(name=f"A{i}", severity=("critical", "warning")[i % 2],
                            since_ms=snap.clock_ms - i) for i in range(9))
    peak = make_alert(name="PeakTraffic", severity="info", summary_en="Peak started")
    view = build_view(BoardData(snap, alerts=(peak, *many)), "en")
    assert len(view.alerts) == 10
    assert view.alerts[-1].name == "Peak started"
    order = [r.severity for r in view.alerts]
    assert order == sorted(order, key=["critical", "warning", "info"].index)
    assert view.alerts_compact
    assert view.alerts_note == ""
    assert not build_view(BoardData(snap, alerts=many[:3]), "en").alerts_compact
    assert build_view(BoardData(snap), "en").alerts_note == "No active alerts"
    assert build_view(BoardData(snap, has_alerts=False), "en").alerts_note == "Alerts unavailable"


def test_act_now_rows_at_most_ten(snap: Snapshot) -> None:
    acts = tuple(ActionTicket(f"T{i}", "chat", "P2", "east", 90.0 + i, 30.0, "unanswered")
                 for i in range(14))
    view = build_view(BoardData(dataclasses.replace(snap, act_now=acts)), "en")
    assert len(view.act_now) == 10
    row = view.act_now[0]
    assert (row.ticket_id, row.channel, row.priority, row.region) == ("T0", "chat", "P2", "East")
    assert row.age == "1m / 30s"
    assert row.level == "crit"
    assert row.kind == "first reply"
    assert build_view(BoardData(snap, has_ticket_details=False), "en").act_note.startswith(
        "This data source")


def test_english_board_has_no_chinese_left(snap: Snapshot) -> None:
    alerts = (make_alert(labels=(("channel", "chat"),)),)
    view = build_view(BoardData(snap, alerts=alerts), "en")
    text = repr(dataclasses.asdict(view))
    assert not CJK.findall(text), CJK.findall(text)[:10]
    zh = repr(dataclasses.asdict(build_view(BoardData(snap, alerts=alerts), "zh")))
    assert "未回复" in zh
    assert "华东" in zh


def test_every_label_has_both_languages() -> None:
    for key, (zh, en) in _LABELS.items():
        assert zh, key
        assert en, key
        assert not CJK.search(en), key
    assert t("title", "en") == "After-sales Live Board"


@pytest.mark.parametrize(("search", "lang"), [
    ("", "zh"), (None, "zh"), ("?lang=en", "en"), ("?x=1&lang=en", "en"), ("?lang=EN-us", "en"),
    ("?lang=zh", "zh"), ("?lang=fr", "zh"),
])
def test_language_from_the_url(search: str | None, lang: str) -> None:
    assert lang_from_search(search) == lang


def test_configured_display_names_win_and_stay_text() -> None:
    names = Names("en", {"east": "<b>E</b>", "zh:south": "南区", "title": "Ops"})
    assert names("east") == "<b>E</b>"
    assert names("south") == "South"
    assert Names("zh", {"zh:south": "南区"})("south") == "南区"
    assert names.title() == "Ops"


@pytest.mark.parametrize(("seconds", "en", "zh"), [
    (None, "–", "–"), (7, "7s", "7秒"), (45.4, "45s", "45秒"), (600, "10m", "10分"),
    (3600, "1h", "1时"), (3900, "1h05m", "1时05分"), (86400, "1d", "1天"),
    (93600, "1d2h", "1天2时"),
])
def test_durations(seconds: float | None, en: str, zh: str) -> None:
    assert fmt_duration(seconds, "en") == en
    assert fmt_duration(seconds, "zh") == zh


def test_nan_threshold_shows_the_value_alone(snap: Snapshot) -> None:
    view = build_view(BoardData(snap, alerts=(make_alert(threshold=math.nan, unit="count",
                                                         value=12.0),)), "en")
    assert view.alerts[0].value == "12"


# -- SPEC §7 on the board (issue 16) -------------------------------------------------------
SCORES = (
    ScoreConfig(name="taobao_3min", title={"zh": "淘宝3分钟人工响应率",
                                           "en": "Taobao 3-minute human response rate"},
                channels=("chat", "app"), target=0.9),
    ScoreConfig(name="jd_30s", title={"zh": "京东30秒首响率", "en": "JD 30-second first response"},
                channels=("chat",), within_s=30, target=0.85),
)
OFFICE = load_config(business_hours={
    "calendars": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                             "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"}},
    "channels": {"email": "office", "phone": "office"}}).business_hours


def section7(snap: Snapshot, **kw: Any) -> Snapshot:
    """The §7 fields as the engine will fill them: a closed office, waiting customers."""
    today = dataclasses.replace(snap.windows["24h"], name="today", seconds=28_800,
                                score_turns={"taobao_3min": 200, "jd_30s": 40},
                                score_turns_within={"taobao_3min": 190, "jd_30s": 30})
    base: dict[str, Any] = {
        "windows": {**snap.windows, "today": today},
        "awaiting_reply": {"chat": 7, "phone": 3, "email": 2},
        "response_overdue": {"chat": 2, "phone": 3, "email": 2},
        "response_overdue_2x": {"chat": 0, "phone": 2, "email": 1},
        "oldest_awaiting_reply_age_s": {"chat": 95.0, "phone": 4000.0, "email": 90_000.0},
        "first_response_overdue": {"chat": 1, "phone": 4, "email": 5},
        "first_response_overdue_2x": {"phone": 4, "email": 5},
        "business_hours_open": {"chat": True, "app": True, "phone": False, "email": False},
        "score_targets": {"taobao_3min": 0.9, "jd_30s": 0.85},
    }
    base.update(kw)
    return dataclasses.replace(snap, **base)


def data7(snap: Snapshot, **kw: Any) -> BoardData:
    return BoardData(section7(snap), settings=BoardSettings(scores=SCORES,
                                                            business_hours=OFFICE), **kw)


def test_awaiting_reply_tile_counts_every_waiting_customer(snap: Snapshot, rules: Any) -> None:
    view = build_view(data7(snap, thresholds=rules.thresholds("normal")), "en")
    tile = tiles(view)["awaiting_reply"]
    assert (tile.label, tile.value) == ("Awaiting reply", "12")
    # every channel's overdue count is there (none hidden behind "…"), closed ones say so
    assert "phone 3 closed" in tile.sub
    assert "email 2 closed" in tile.sub
    assert "chat 2" in tile.sub
    assert "oldest 1d1h" in tile.sub
    assert tile.level == "warn"  # chat is open and late, but not past 2x


def test_overdue_outside_business_hours_says_closed_instead_of_red(snap: Snapshot,
                                                                   rules: Any) -> None:
    th = rules.thresholds("normal")
    closed_only = section7(snap, first_response_overdue={"phone": 4, "email": 5},
                           first_response_overdue_2x={"phone": 4, "email": 5})
    data = BoardData(closed_only, thresholds=th,
                     settings=BoardSettings(business_hours=OFFICE))
    zh, en = tiles(build_view(data, "zh")), tiles(build_view(data, "en"))
    assert en["first_response_overdue"].level == "closed"
    assert en["first_response_overdue"].sub == "email 5 closed\u2009·\u2009phone 4 closed"
    assert zh["first_response_overdue"].sub == "邮件 5 休息中\u2009·\u2009电话 4 休息中"
    opened = dataclasses.replace(closed_only, business_hours_open={"phone": True,
                                                                   "email": False})
    assert tiles(build_view(dataclasses.replace(data, snapshot=opened), "en"))[
        "first_response_overdue"].level == "crit"  # phone is open and past 2x its SLA


def test_business_hours_tile_names_the_closed_channels(snap: Snapshot) -> None:
    en = tiles(build_view(data7(snap), "en"))["business_hours"]
    assert (en.label, en.value, en.level) == ("Channels open", "0/2", "closed")
    assert en.sub == "email closed\u2009·\u2009phone closed"
    zh = tiles(build_view(data7(snap), "zh"))["business_hours"]
    assert (zh.label, zh.sub) == ("营业渠道", "邮件 休息中\u2009·\u2009电话 休息中")
    plain = tiles(build_view(BoardData(snap), "en"))["business_hours"]
    assert (plain.value, plain.sub) == ("24×7", "no business hours")


def test_each_score_today_against_its_target(snap: Snapshot) -> None:
    en = tiles(build_view(data7(snap), "en"))
    zh = tiles(build_view(data7(snap), "zh"))
    taobao, jd, unused = en["score_0"], en["score_1"], en["score_2"]
    assert (taobao.label, taobao.value, taobao.level) == (
        "Taobao 3-minute human response rate", "95.0%", "ok")
    assert taobao.sub == "target 90%\u2009·\u2009decided 200"
    assert (jd.label, jd.value, jd.level) == ("JD 30-second first response", "75.0%", "crit")
    assert unused.level == "hidden"
    assert (zh["score_0"].label, zh["score_0"].sub) == ("淘宝3分钟人工响应率",
                                                        "目标 90%\u2009·\u2009已判定 200")
    # no turn decided yet today: no value, no colour
    empty = section7(snap, windows={**snap.windows, "today": dataclasses.replace(
        snap.windows["24h"], name="today", score_turns={}, score_turns_within={})})
    data = BoardData(empty, settings=BoardSettings(scores=SCORES))
    assert (tiles(build_view(data, "en"))["score_0"].value,
            tiles(build_view(data, "en"))["score_0"].level) == ("–", "none")


def test_act_now_first_or_later_reply_and_late_p1_in_business_time(snap: Snapshot) -> None:
    acts = (
        ActionTicket("T-EMAIL", "email", "P3", "north", 200_000.0, 86_400.0, "awaiting",
                     business_age_s=30_000.0),
        ActionTicket("T-CHAT", "chat", "P2", "east", 95.0, 30.0, "unanswered"),
        ActionTicket("T-P1", "phone", "P1", "south", 9000.0, 7200.0, "overdue",
                     business_age_s=7300.0),
    )
    view = build_view(BoardData(dataclasses.replace(snap, act_now=acts)), "en")
    email, chat, p1 = view.act_now
    assert (email.kind, email.age, email.clock, email.level) == (
        "reply again", "8h20m / 1d", "business time", "ok")
    assert (chat.kind, chat.age, chat.clock, chat.level) == ("first reply", "1m / 30s", "",
                                                              "crit")
    assert (p1.kind, p1.priority, p1.age, p1.level) == ("resolution late", "P1",
                                                        "2h01m / 2h", "warn")
    zh = build_view(BoardData(dataclasses.replace(snap, act_now=acts)), "zh").act_now
    assert [r.kind for r in zh] == ["再次回复", "首次回复", "解决超时"]
    assert zh[0].clock == "营业时间"


def test_channel_names_in_alert_titles_are_translated(snap: Snapshot) -> None:
    """Seen on the board: ``app 渠道`` / ``chat 渠道`` in the Chinese view."""
    alerts = tuple(make_alert(name="FirstResponseOverdue2x", severity="warning",
                              labels=(("channel", ch),),
                              summary_zh=f"{ch} 渠道有 3 张工单等待超过 2 倍 SLA",
                              summary_en=f"{ch}: 3 tickets waiting past 2x SLA",
                              description_zh=f"{ch} 渠道有 3 张未回复工单")
                   for ch in ("app", "chat", "email"))
    zh = build_view(BoardData(snap, alerts=alerts), "zh")
    assert len(zh.alerts) == 1  # one rule, one row: its other channels joined
    row = zh.alerts[0]
    assert row.name == "移动端渠道有 3 张工单等待超过 2 倍 SLA · 另 在线、邮件"
    assert row.description == "移动端渠道有 3 张未回复工单"
    assert not re.search(r"[A-Za-z]+ ?渠道", row.name + row.description)
    en = build_view(BoardData(snap, alerts=alerts), "en")
    assert en.alerts[0].name == "app: 3 tickets waiting past 2x SLA · also chat, email"


def test_english_board_with_section7_has_no_chinese_left(snap: Snapshot) -> None:
    acts = (ActionTicket("T1", "email", "P1", "east", 99.0, 30.0, "awaiting", 10.0),)
    view = build_view(data7(dataclasses.replace(snap, act_now=acts)), "en")
    text = repr(dataclasses.asdict(view))
    assert not CJK.findall(text), CJK.findall(text)[:10]
