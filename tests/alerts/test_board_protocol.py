"""The board reads what the evaluator decided, through core.alerting.AlertView."""

from __future__ import annotations

from feed import MIN, T0, Feed

from alerts.alerting import Alerting
from alerts.notifier import Notifier
from alerts.rules import load_rules
from core.alerting import AlertView
from core.definitions import PEAK_RATIO_ENTER
from dashboard.sources import EngineSource
from dashboard.view import build_view


def _alerting() -> Alerting:
    return Alerting(load_rules(windows=("15m", "1h", "24h")), notifier=Notifier([]),
                    eval_interval_s=15)


def test_board_peak_profile_is_the_alerts_profile() -> None:
    f = Feed()
    al = _alerting()
    view: AlertView = al  # Alerting is the typed protocol the board reads
    for m in range(120):  # two quiet hours at 2/min …
        f.created(f"a{m}", T0 + m * MIN)
        f.created(f"b{m}", T0 + m * MIN + 30_000)
    al.on_snapshot(f.snap())
    quiet = EngineSource(f.snap, view).read()
    assert quiet.profile == view.profile.name == "normal"
    assert quiet.peak_ratio == view.profile.peak_ratio
    for m in range(120, 135):  # … then 15 minutes at 10/min: over 3× the history held
        for k in range(10):
            f.created(f"s{m}-{k}", T0 + m * MIN + k * 5000)
    snap = f.snap()
    al.on_snapshot(snap)
    data = EngineSource(f.snap, view).read()
    assert al.profile.name == "peak"
    assert al.profile.reason == "peak_ratio"
    assert data.profile == al.profile.name
    assert data.peak_ratio == al.profile.peak_ratio
    assert data.peak_ratio is not None
    assert data.peak_ratio >= PEAK_RATIO_ENTER
    # the SPEC gauge takes the 24 h window as full (a fresh start reads far higher);
    # the tile shows the ratio the profile was decided on
    assert snap.peak_ratio > 10 * data.peak_ratio
    tile = {t.key: t for t in build_view(data, "en").tiles}["peak_ratio"]
    assert tile.value == f"{data.peak_ratio:.1f}×"


def test_tile_thresholds_come_from_the_rule_file() -> None:
    al = _alerting()
    data = EngineSource(lambda: None, al).read()
    rules = {r.tile: r for r in al.rules if r.tile}
    assert set(data.thresholds) == set(rules)
    for tile, th in data.thresholds.items():
        assert (th.rule, th.red) == (rules[tile].name, rules[tile].thresholds("normal").threshold)
