"""The board in Prometheus mode (SPEC §5, §7) in headless Chromium, with real parts.

Two replicas, each holding the tickets of half the keys (as partitions split them), serve
their real collector and their own ``/act-now`` on real metrics servers; a real
Prometheus scrapes both with the committed rules; the board reads PromQL and every
replica's act-now list. The §7 tiles (customers awaiting a reply, each channel's
business-hours state, each score today against its target) and the act-now list (the
ten most urgent of both replicas: customers waiting for a first or a later reply, open
P1 tickets past their resolution SLA, ranked by age ÷ SLA) must be what the board over
one engine holding everything shows — on the page, in both languages.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from board_browser import LAYOUT_PROBLEMS
from board_events import Message, feed, traffic
from conftest import NOW_MS
from prometheus_client import CollectorRegistry

from core.config import Config, load_config
from dashboard.act_now import ACT_NOW_PATH, act_now_app
from dashboard.prometheus import PrometheusSource
from dashboard.server import BoardServer, settings_of
from dashboard.sources import BoardSettings, EngineSource
from dashboard.view import BoardView, build_view
from metrics.engine import Engine
from metrics.http_endpoints import MetricsServer
from metrics.snapshot_collector import BuildInfoCollector, SnapshotCollector
from tests.deploy.stack import Prometheus, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CJK = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
SECTION7_TILES = ("awaiting_reply", "business_hours", "score_0", "score_1", "score_2")
MIN = 60_000


def section7_config() -> Config:
    """Email and phone on office hours (closed at 08:00, the pinned now), three scores."""
    return load_config(
        dashboard__port=0,
        # chat customers waiting an hour for a first reply, ten minutes for a later one
        # (email's later ones in business time): every kind of the act-now list ranks
        sla={"first_response_s": {"chat": 3600, "phone": 900, "app": 1800, "email": 86400},
             "response_s": {"chat": 600, "email": 600}},
        business_hours={
            "calendars": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                                     "hours": ["09:00-12:00", "13:30-18:00"],
                                     "holidays": "cn"}},
            "channels": {"email": "office", "phone": "office"}},
        scores=[
            {"name": "taobao_3min", "channels": ["chat", "app"], "hours": "08:00-23:00",
             "within_s": 180, "target": 0.9,
             "title": {"zh": "淘宝3分钟人工响应率", "en": "Taobao 3-minute human response rate"}},
            {"name": "douyin_3min", "channels": ["chat"], "hours": "00:00-24:00",
             "within_s": 180, "target": 0.85,
             "title": {"zh": "抖音3分钟人工回复率", "en": "Douyin 3-minute human reply rate"}},
            {"name": "jd_30s", "channels": ["chat"], "hours": "00:00-24:00",
             "within_s": 30, "target": 0.8,
             "title": {"zh": "京东30秒首次响应率", "en": "JD 30-second first response rate"}},
        ])


def conversations() -> list[Message]:
    """Customers who wrote again after an answer and wait (later turns), on every channel,
    and P1 tickets open past their resolution SLA: what the act-now list is for."""
    out: list[Message] = []

    def ev(ts: int, tid: str, etype: str, **extra: Any) -> None:
        out.append(("tickets", tid, {"event_id": f"{tid}-{etype}-{ts}", "type": etype,
                                     "ts": ts, "ticket_id": tid, **extra}))

    for i in range(16):
        tid, t0 = f"W{i:04d}", NOW_MS - 300 * MIN + i * 7 * MIN
        ev(t0, tid, "ticket.created", channel=("chat", "email", "app", "phone")[i % 4],
           category="refund", priority="P3", region=("east", "southwest", "north")[i % 3])
        ev(t0 + 20_000, tid, "ticket.replied", by="agent")
        ev(t0 + 40 * MIN, tid, "ticket.message")  # the customer writes again, unanswered
    for i in range(2):  # email customers waiting since yesterday afternoon (office hours)
        tid, t0 = f"Y{i:04d}", NOW_MS - 18 * 60 * MIN + i * 13 * MIN
        ev(t0, tid, "ticket.created", channel="email", category="refund", priority="P3",
           region="central")
        ev(t0 + 20_000, tid, "ticket.replied", by="agent")
        ev(t0 + 30 * MIN, tid, "ticket.message")
    for i in range(4):
        tid, t0 = f"P{i:04d}", NOW_MS - 30 * 60 * MIN + i * 11 * MIN
        ev(t0, tid, "ticket.created", channel="email" if i % 2 else "chat",
           category="complaint", priority="P1", region="northeast")
        ev(t0 + 15_000, tid, "ticket.replied", by="agent")
    return out


def messages() -> list[Message]:
    msgs = traffic(NOW_MS - 6 * 3600_000, NOW_MS, rate=12, seed=11) + conversations()
    return sorted(msgs, key=lambda m: int(m[2]["ts"]))


def engine(cfg: Config, msgs: list[Message]) -> Engine:
    e = Engine(cfg, lambda: NOW_MS)
    feed(e, msgs, NOW_MS)
    e.tick()
    return e


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, PrometheusSource, EngineSource]]:
    cfg = section7_config()
    msgs = messages()
    whole = engine(cfg, msgs).snapshot()
    # Kafka partitions by key: one ticket, one replica
    snaps = [engine(cfg, [m for m in msgs if zlib.crc32(m[1].encode()) % 2 == i]).snapshot()
             for i in range(2)]
    servers = []
    for snap in snaps:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(SnapshotCollector(lambda s=snap: s))
        reg.register(BuildInfoCollector("test"))  # as pulse registers it
        servers.append(MetricsServer(reg, lambda: True, "127.0.0.1", 0, routes={
            ACT_NOW_PATH: act_now_app(lambda s=snap: s)}).start())
    tmp: Path = tmp_path_factory.mktemp("prom-board")
    prom = Prometheus("prometheus", tmp, [f"127.0.0.1:{s.port}" for s in servers])
    try:
        prom.wait_ready()
        wait_until(lambda: prom.scalar(
            "count(count by (instance) (aftersales_awaiting_reply_tickets))") == 2,
            60, "both replicas scraped")
        source = PrometheusSource(prom.url, cfg, min_interval_s=0.5)
        one = EngineSource(lambda: whole, None, BoardSettings.from_config(cfg))
        with BoardServer(cfg.dashboard, source) as board:
            yield board.url, source, one
    finally:
        prom.proc.stop()
        for srv in servers:
            srv.stop()


def page(browser: Any, url: str) -> dict[str, Any]:
    browser.get(url)
    deadline = time.monotonic() + 30
    while not browser.js("return document.querySelectorAll('#act-body tr').length >= 10 &&"
                         " !!document.getElementById('tile-score_0-value').textContent;"):
        assert time.monotonic() < deadline, "the board did not render"
        time.sleep(0.2)
    time.sleep(1.0)
    return dict(browser.js("""
        const tiles = {};
        for (const el of document.querySelectorAll('.tile')) tiles[el.id.slice(5)] = [
          el.className.split(' ')[1], el.querySelector('.tile-label').textContent,
          el.querySelector('.tile-value').textContent,
          el.querySelector('.tile-sub').textContent];
        const rows = [...document.querySelectorAll('#act-body tr')].map(r =>
          [...r.children].map(c => c.textContent));
        return {tiles: tiles, rows: rows, note: document.getElementById('act-note').textContent,
                text: document.body.innerText};"""))


def tile_of(view: BoardView, key: str) -> list[str]:
    tile = {t.key: t for t in view.tiles}[key]
    return [f"tile-{tile.level}", tile.label, tile.value, tile.sub]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_section7_tiles_and_act_now_over_prometheus(browser: Any, boards: Any,
                                                    lang: str) -> None:
    url, source, one = boards
    got = page(browser, url + ("?lang=en" if lang == "en" else ""))
    settings = settings_of(load_config().dashboard)
    over_prometheus = build_view(source.read(), lang, settings)
    over_one_engine = build_view(one.read(), lang, settings)
    for key in SECTION7_TILES:
        assert got["tiles"][key] == tile_of(over_prometheus, key) == tile_of(over_one_engine,
                                                                             key), key
    awaiting = {t.key: t for t in over_one_engine.tiles}["awaiting_reply"]
    assert int(awaiting.value.replace(",", "")) >= 18  # the customers who wrote again
    hours = got["tiles"]["business_hours"]
    assert hours[0] == "tile-closed"
    assert hours[2] == "0/3"  # email, phone, and `other` on email's calendar: all closed
    assert got["tiles"]["score_0"][1] == ("淘宝3分钟人工响应率" if lang == "zh"
                                          else "Taobao 3-minute human response rate")
    # the act-now list: the ten most urgent of both replicas, as one engine ranks them
    want = [[r.ticket_id + r.kind, r.channel, r.priority, r.region, r.age + r.clock]
            for r in over_one_engine.act_now]
    assert got["rows"] == want
    assert len(want) == 10
    assert got["note"] == ""
    kinds = {r.kind for r in over_one_engine.act_now}
    assert kinds == ({"首次回复", "再次回复", "解决超时"} if lang == "zh"
                     else {"first reply", "reply again", "resolution late"})
    assert any(r.clock for r in over_one_engine.act_now)  # email ages in business time
    ids = [r.ticket_id for r in over_one_engine.act_now]
    assert {zlib.crc32(i.encode()) % 2 for i in ids} == {0, 1}  # from both replicas
    assert browser.js(LAYOUT_PROBLEMS) == []
    if lang == "en":
        assert not CJK.findall(got["text"]), sorted(set(CJK.findall(got["text"])))
    else:
        assert not re.search(r"\b(chat|app|phone|email) ?渠道", got["text"])
