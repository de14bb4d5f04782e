"""The pure view: tile values and colours, banner, alert and ticket rows, language."""

from __future__ import annotations

import dataclasses
import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import NOW_MS

from core.alerting import ActiveAlert
from core.snapshot import ActionTicket, Snapshot, replace_snapshot
from dashboard.i18n import _LABELS, Names, fmt_duration, lang_from_search, t
from dashboard.sources import BoardData, EngineSource
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
    return engine.snapshot()


def tiles(view: Any) -> dict[str, Any]:
    return {tile.key: tile for tile in view.tiles}


@pytest.mark.parametrize(("value", "pair", "expected"), [
    (None, (1, 2), "none"), (0.5, None, "none"),
    (0, (1, 5), "ok"), (1, (1, 5), "warn"), (4.9, (1, 5), "warn"), (5, (1, 5), "crit"),
    (0.96, (0.95, 0.92), "ok"), (0.95, (0.95, 0.92), "warn"), (0.92, (0.95, 0.92), "crit"),
    (0.5, SimpleNamespace(light=lambda v: "amber"), "warn"),
    (0.5, SimpleNamespace(light=lambda v: "red"), "crit"),
])
def test_level_against_warn_and_crit(value: float | None, pair: Any, expected: str) -> None:
    assert level(value, pair) == expected


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
    assert all(tile.level in ("ok", "warn", "crit") for tile in view.tiles)


def test_thresholds_follow_the_profile(snap: Snapshot) -> None:
    # the same unanswered count is red under normal and green under the peak thresholds
    data = dataclasses.replace(EngineSource(lambda: snap).read(),
                               thresholds={"unanswered": (10**6, 10**7)})
    assert tiles(build_view(data))["unanswered"].level == "ok"
    data = dataclasses.replace(data, thresholds={"unanswered": (0, 1)})
    assert tiles(build_view(data))["unanswered"].level == "crit"


def test_overdue_tile_red_only_past_twice_the_sla(snap: Snapshot) -> None:
    one = dataclasses.replace(snap, first_response_overdue={"chat": 3},
                              first_response_overdue_2x={"chat": 0})
    two = dataclasses.replace(one, first_response_overdue_2x={"chat": 1})
    assert tiles(build_view(BoardData(one)))["first_response_overdue"].level == "warn"
    assert tiles(build_view(BoardData(two)))["first_response_overdue"].level == "crit"


def test_peak_tile_names_the_profile_or_promotion(snap: Snapshot) -> None:
    alerting = SimpleNamespace(
        active_alerts=lambda: (), thresholds=lambda p: {},
        profile=SimpleNamespace(name="peak", promotion="双11"))
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


def test_alert_list_overflow_and_absence(snap: Snapshot) -> None:
    many = tuple(make_alert(name=f"A{i}", since_ms=snap.clock_ms - i) for i in range(9))
    view = build_view(BoardData(snap, alerts=many), "en")
    assert len(view.alerts) == 4
    assert view.alerts_note == "5 more"
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
