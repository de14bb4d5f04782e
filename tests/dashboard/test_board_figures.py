"""Chart figures: peak shading, the +15 % return-rate line, backlog by age, SLA line."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from conftest import NOW_MS

from core.snapshot import Snapshot
from dashboard.figures import FIGURES, peak_spans, plot_text
from dashboard.sources import BoardData, Bounds
from dashboard.view import build_view


@pytest.fixture(scope="module")
def surge_snap() -> Snapshot:
    from board_events import feed, traffic

    from core.config import load_config
    from metrics.engine import Engine

    engine = Engine(load_config(), lambda: NOW_MS)
    feed(engine, traffic(NOW_MS - 24 * 3600_000, NOW_MS, rate=10, seed=3,
                         surge=(NOW_MS - 3 * 3600_000, NOW_MS - 2 * 3600_000)), NOW_MS)
    engine.tick()
    return engine.snapshot()


def figs(snap: Snapshot | None, lang: str = "en", **kw: Any) -> dict[str, Any]:
    return dict(build_view(BoardData(snap, **kw), lang).figures)


def test_peak_spans_rolling_mean_against_the_daily_mean() -> None:
    series = tuple((m * 60000, 30 if 100 <= m < 160 else 10) for m in range(300))
    spans = peak_spans(series, mean_per_min=10.0, ratio=2.0)
    assert len(spans) == 1
    start, end = spans[0]
    # the rolling 15-min mean passes 20/min after 8 minutes of 30/min, and falls back 8 min
    # after the surge ends
    assert start == 107 * 60000
    assert end == 167 * 60000
    assert peak_spans(series, 0.0) == []


def test_arrivals_shade_the_surge(surge_snap: Snapshot) -> None:
    fig = figs(surge_snap)["arrivals"]
    bars = fig["data"][0]
    done = [n for m, n in surge_snap.arrivals_per_minute if m + 60000 <= surge_snap.clock_ms]
    assert bars["y"] == done  # completed minutes: no partial last bar
    assert len(done) >= 359
    shapes = fig["layout"]["shapes"]
    assert shapes, "the 3.5× surge two hours ago must be shaded"
    assert fig["layout"]["uirevision"] == "board"
    assert fig["layout"]["transition"] == {"duration": 0}


def test_return_rates_against_overall_and_the_alert_line(surge_snap: Snapshot) -> None:
    from alerts.alerting import Alerting
    from core.config import load_config

    rules = Alerting.from_config(load_config())  # the shipped rule: 15 % above `all`
    fig = figs(surge_snap, thresholds=rules.thresholds("normal"))["returns"]
    rules.close()
    w = surge_snap.windows["24h"]
    overall = w.return_rate["all"]
    xs = [s["x0"] for s in fig["layout"]["shapes"]]
    # drawn at the screen's resolution (0.1 %), so a quiet refresh sends nothing
    assert xs == [pytest.approx(overall * 100, abs=0.05), pytest.approx(overall * 115, abs=0.05)]
    bar = fig["data"][0]
    by_region = dict(zip(bar["y"], bar["x"], strict=True))
    assert by_region["South"] == pytest.approx(w.return_rate["south"] * 100, abs=0.05)
    # the spike region (1.6× returns) is marked red, the others are not
    colours = dict(zip(bar["y"], bar["marker"]["color"], strict=True))
    assert colours["South"] == "#f85149"
    assert colours["East"] != "#f85149"


def test_return_line_follows_the_rule_threshold(surge_snap: Snapshot) -> None:
    fig = figs(surge_snap, thresholds={"return_rate": Bounds(0.1, 0.3)})["returns"]
    overall = surge_snap.windows["24h"].return_rate["all"]
    assert fig["layout"]["shapes"][1]["x0"] == pytest.approx(overall * 130, abs=0.05)
    # no rule, no line: the board copies no threshold
    assert len(figs(surge_snap)["returns"]["layout"]["shapes"]) == 1


def test_backlog_by_priority_and_age(surge_snap: Snapshot) -> None:
    fig = figs(surge_snap)["backlog"]
    stacks = [tr for tr in fig["data"] if tr["type"] == "bar"]
    assert [tr["name"] for tr in stacks] == ["<1h", "1–4h", "4–24h", "1–2d", ">2d"]
    for i, p in enumerate(stacks[0]["x"]):
        total = sum(n for (pp, _c, _r), n in surge_snap.backlog.items() if pp == p)
        assert sum(tr["y"][i] for tr in stacks) == total
    no_ages = figs(dataclasses.replace(surge_snap, backlog_by_age={}))["backlog"]
    assert len([tr for tr in no_ages["data"] if tr["type"] == "bar"]) == 1


def test_first_response_against_the_sla(surge_snap: Snapshot) -> None:
    fig = figs(surge_snap)["first_response"]
    p90 = next(tr for tr in fig["data"] if tr["name"] == "p90")
    chat = surge_snap.windows["15m"].first_response_quantiles["chat"][0.9]
    assert p90["y"][0] == pytest.approx(min(chat / 30, 3.0), abs=0.005)
    assert fig["layout"]["shapes"][0]["y0"] == 1  # the SLA line at 100 %


def test_figures_are_json_and_empty_without_data() -> None:
    empty = figs(None)
    assert set(empty) == set(FIGURES)
    for fig in empty.values():
        assert fig["data"] == []
        orjson.dumps(fig)


def test_markup_in_names_is_escaped_for_plotly(surge_snap: Snapshot) -> None:
    assert plot_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    from dashboard.view import Settings, build_view

    view = build_view(BoardData(surge_snap), "en",
                      Settings(display_names={"east": "<img src=x onerror=alert(1)>"}))
    ys = view.figures["returns"]["data"][0]["y"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in ys
    assert not any("<img" in y for y in ys)
