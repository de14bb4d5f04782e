"""The two default rules of SPEC §4 over §7: customers waiting again, platform scores."""

from __future__ import annotations

from dataclasses import replace

import pytest
from feed import MIN, T0, Feed

from alerts.alerting import Alerting
from alerts.notifier import Notifier
from alerts.rules import load_rules
from alerts.signals import SIGNALS, SignalContext
from core.snapshot import Snapshot, WindowSnapshot

RULES = load_rules(windows=("15m", "1h", "24h"))
BASE = Feed().snap()


def today(turns: dict[str, int], within: dict[str, int]) -> WindowSnapshot:
    w = BASE.windows["24h"]
    return replace(w, name="today", seconds=8 * 3600, score_turns=turns,
                   score_turns_within=within)


def snap(clock_ms: int, *, overdue_2x: dict[str, int] | None = None,
         turns: dict[str, int] | None = None, within: dict[str, int] | None = None,
         targets: dict[str, float] | None = None) -> Snapshot:
    windows = {**BASE.windows, "today": today(turns or {}, within or {})}
    return replace(BASE, clock_ms=clock_ms, response_overdue_2x=overdue_2x or {},
                   windows=windows, score_targets=targets or {})


def value(name: str, s: Snapshot, **params: str) -> dict[object, float]:
    sig = SIGNALS[name]
    p = {k: v.default for k, v in sig.params.items()} | params
    return dict(sig.compute(s, SignalContext(), p))


def test_response_overdue_2x_per_channel() -> None:
    s = snap(T0, overdue_2x={"chat": 3, "email": 0})
    assert value("response_overdue_2x", s) == {(("channel", "chat"),): 3.0,
                                                (("channel", "email"),): 0.0}


@pytest.mark.parametrize(("turns", "within", "targets", "expected"), [
    ({"tb": 49}, {"tb": 0}, {"tb": 0.9}, {}),  # fewer than 50 decided turns: no judgement
    ({"tb": 50}, {"tb": 40}, {"tb": 0.9}, {(("score", "tb"),): pytest.approx(-0.1)}),
    ({"tb": 100}, {"tb": 95}, {"tb": 0.9}, {(("score", "tb"),): pytest.approx(0.05)}),
    ({"tb": 100}, {"tb": 95}, {}, {}),  # a score without a target is not judged
    ({"tb": 100, "jd": 200}, {"tb": 100, "jd": 100}, {"tb": 0.9, "jd": 0.8},
     {(("score", "tb"),): pytest.approx(0.1), (("score", "jd"),): pytest.approx(-0.3)}),
])
def test_score_below_target_is_the_shortfall(turns: dict[str, int], within: dict[str, int],
                                             targets: dict[str, float],
                                             expected: dict[object, float]) -> None:
    s = snap(T0, turns=turns, within=within, targets=targets)
    assert value("score_below_target", s) == expected


def test_score_without_a_today_window_is_absent() -> None:
    s = replace(snap(T0, turns={"tb": 100}, within={"tb": 10}, targets={"tb": 0.9}),
                windows=BASE.windows)
    assert value("score_below_target", s) == {}


def test_evaluator_fires_and_resolves_both_rules() -> None:
    al = Alerting(RULES, notifier=Notifier([]), eval_interval_s=15)
    fired: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
    for m in range(40):
        bad_wait = 5 <= m < 20
        low_score = 10 <= m < 30
        s = snap(T0 + m * MIN, overdue_2x={"chat": 2 if bad_wait else 0},
                 turns={"taobao_3min": 120}, within={"taobao_3min": 90 if low_score else 115},
                 targets={"taobao_3min": 0.9})
        for n in al.evaluate(s):
            fired.append((n.status, n.alert.name, n.alert.labels))
            at = {"ResponseOverdue2x": (6, 20), "PlatformScoreLow": (15, 30)}[n.alert.name]
            assert m == at[0 if n.status == "firing" else 1], (n.status, n.alert.name)
    assert fired == [
        ("firing", "ResponseOverdue2x", (("channel", "chat"),)),
        ("firing", "PlatformScoreLow", (("score", "taobao_3min"),)),
        ("resolved", "ResponseOverdue2x", (("channel", "chat"),)),
        ("resolved", "PlatformScoreLow", (("score", "taobao_3min"),)),
    ]


def test_alert_texts_name_the_channel_and_score() -> None:
    al = Alerting(RULES, notifier=Notifier([]), eval_interval_s=15)
    for m in range(8):
        al.evaluate(snap(T0 + m * MIN, overdue_2x={"email": 4}, turns={"jd_30s": 60},
                         within={"jd_30s": 30}, targets={"jd_30s": 0.8}))
    by = {a.name: a for a in al.active_alerts()}
    assert by["ResponseOverdue2x"].summary("en") == (
        "4 email customers waiting again longer than 2x the response SLA")
    assert "email" in by["ResponseOverdue2x"].summary("zh")
    assert by["PlatformScoreLow"].value == pytest.approx(0.5 - 0.8)
    assert "jd_30s" in by["PlatformScoreLow"].summary("zh")
    assert "jd_30s" in by["PlatformScoreLow"].description("en")
