"""The evaluator on the event-time clock: for, hysteresis, episodes, repeats, profiles."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import pytest
from feed import T0, Feed
from prometheus_client import CollectorRegistry

from alerts.alerting import Alerting
from alerts.notifier import Notifier
from alerts.profiles import Profile, ProfileTracker, promotions_from_config
from alerts.rules import Rule, Text, Thresholds, load_rules
from alerts.signals import Signal, Values
from core.alerting import Notification
from core.config import PromotionPeriod
from core.snapshot import Snapshot, replace_snapshot

BASE = Feed().snap()


def at(ms: int) -> Snapshot:
    return replace(BASE, clock_ms=ms)


class Script:
    """A signal whose value is a function of the clock (or set by hand)."""

    def __init__(self, fn: Callable[[int], Values] | None = None) -> None:
        self.fn = fn
        self.now: Values = {}

    def __call__(self, snap: Snapshot, ctx: object, p: object) -> Values:
        return self.fn(snap.clock_ms) if self.fn else self.now

    def set(self, v: float | None) -> None:
        self.now = {} if v is None else {(): v}


def rule(script: Script, *, name: str = "SlaLow", op: str = "<", threshold: float = 0.92,
         clear: float = 0.93, for_s: int = 120, peak: Thresholds | None = None,
         repeat_s: int | None = None, labels: tuple[str, ...] = ()) -> Rule:
    sig = Signal("scripted", "test", (), labels, "ratio", MappingProxyType({}), script,
                 lambda p, s: "vector(1)")
    return Rule(name=name, expr="scripted", signal=sig, params=(), op=op,
                normal=Thresholds(threshold, clear), peak=peak, for_s=for_s,
                severity="critical", summary=Text("达成率 {value}", "attainment {value}"),
                description=Text("低于 {threshold}", "below {threshold}"),
                repeat_interval_s=repeat_s, tile="sla_attainment")


def make(*rules: Rule, **kw: object) -> Alerting:
    return Alerting(rules, notifier=Notifier([]), eval_interval_s=15, **kw)  # type: ignore[arg-type]


def run(al: Alerting, script: Script, values: list[float | None], step_s: int = 15,
        start: int = T0) -> list[tuple[str, int]]:
    """One evaluation per value, ``step_s`` apart; (status, seconds from start) out."""
    out = []
    for i, v in enumerate(values):
        script.set(v)
        for n in al.evaluate(at(start + i * step_s * 1000)):
            out.append((n.status, (n.at_ms - start) // 1000))
    return out


def test_fires_only_after_for_and_once_per_episode() -> None:
    s = Script()
    al = make(rule(s))
    got = run(al, s, [0.95, 0.90, 0.90, 0.91, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.91])
    assert got == [("firing", 135)]  # pending from 15 s, 2 min later
    assert al.active_alerts()[0].since_ms == T0 + 135_000
    assert al.active_alerts()[0].summary_en == "attainment 91%"


def test_a_breach_shorter_than_for_never_fires() -> None:
    s = Script()
    al = make(rule(s))
    assert run(al, s, [0.90] * 8 + [0.95] + [0.90] * 8) == []


def test_hysteresis_holds_between_threshold_and_clear() -> None:
    s = Script()
    al = make(rule(s, for_s=0))
    got = run(al, s, [0.91, 0.925, 0.921, 0.929, 0.919, 0.9299, 0.93, 0.925, 0.919])
    assert got == [("firing", 0), ("resolved", 90), ("firing", 120)]


def test_resolved_carries_the_episode_start_and_end() -> None:
    s = Script()
    al = make(rule(s, for_s=30))
    notes = []
    for i, v in enumerate([0.9, 0.9, 0.9, 0.9, 0.95]):
        s.set(v)
        notes += al.evaluate(at(T0 + i * 15_000))
    firing, resolved = notes
    assert firing.status == "firing"
    assert firing.alert.since_ms == T0 + 30_000
    assert resolved.status == "resolved"
    assert resolved.ends_ms == T0 + 60_000
    assert resolved.alert.since_ms == T0 + 30_000
    assert al.active_alerts() == ()


def test_absent_data_resolves_a_firing_alert_and_resets_a_pending_one() -> None:
    s = Script()
    al = make(rule(s, for_s=15))
    assert run(al, s, [0.9, None, 0.9, 0.9, None]) == [("firing", 45), ("resolved", 60)]


def test_repeat_interval_reminds_of_a_long_episode() -> None:
    s = Script()
    al = make(rule(s, for_s=0, repeat_s=60))
    notes: list[Notification] = []
    for i in range(10):
        s.set(0.9 if i < 9 else 0.99)
        notes += al.evaluate(at(T0 + i * 15_000))
    assert [(n.status, n.repeat, (n.at_ms - T0) // 1000) for n in notes] == [
        ("firing", False, 0), ("firing", True, 60), ("firing", True, 120), ("resolved", False, 135),
    ]


def test_each_label_set_is_its_own_episode() -> None:
    s = Script()
    al = make(rule(s, name="Region", op=">=", threshold=0.15, clear=0.12, for_s=0,
                   labels=("region",)))
    south, east = (("region", "south"),), (("region", "east"),)
    seq = [{south: 0.2, east: 0.0}, {south: 0.2, east: 0.16}, {south: 0.13, east: 0.16},
           {east: 0.16}]
    notes = []
    for i, v in enumerate(seq):
        s.now = v
        notes += [(n.status, n.alert.labels) for n in al.evaluate(at(T0 + i * 15_000))]
    assert notes == [("firing", south), ("firing", east), ("resolved", south)]
    assert [a.labels for a in al.active_alerts()] == [east]


def test_peak_profile_switches_thresholds_inside_a_promotion() -> None:
    s = Script()
    promos = promotions_from_config(
        [PromotionPeriod("双11", "2026-11-11T00:00", "2026-11-12T00:00")], "Asia/Shanghai")
    al = make(rule(s, for_s=0, peak=Thresholds(0.88, 0.90)), promotions=promos)
    before = T0 - 9 * 3600_000  # 2026-11-10T23:00+08:00
    s.set(0.905)
    assert [n.status for n in al.evaluate(at(before))] == ["firing"]
    assert al.profile.name == "normal"
    assert [n.status for n in al.evaluate(at(T0))] == ["resolved"]  # fine under peak
    assert al.profile == Profile("peak", "promotion", "双11", None, T0)
    s.set(0.87)
    fired = al.evaluate(at(T0 + 15_000))
    assert fired[0].alert.profile == "peak"
    assert fired[0].alert.threshold == 0.88
    assert al.thresholds()["sla_attainment"].red == 0.88
    assert al.thresholds("normal")["sla_attainment"].red == 0.92


def test_peak_periods_for_the_board() -> None:
    s = Script()
    promos = promotions_from_config(
        [PromotionPeriod("双11", "2026-11-11T08:00", "2026-11-11T08:01")], "Asia/Shanghai")
    al = make(rule(s), promotions=promos)
    s.set(0.99)
    for t in range(T0 - 15_000, T0 + 90_000, 15_000):
        al.evaluate(at(t))
        if t == T0 + 30_000:
            assert al.peak_periods() == ((T0, None),)
    assert al.peak_periods() == ((T0, T0 + 60_000),)


def test_peak_ratio_profile_has_hysteresis() -> None:
    t = ProfileTracker(enter=3.0, exit=2.7)
    names = [t.update(i, r).name for i, r in enumerate([1.0, 3.1, 2.8, 2.71, 2.69, 2.9, None])]
    assert names == ["normal", "peak", "peak", "peak", "normal", "normal", "normal"]


def test_evaluation_times_do_not_depend_on_snapshot_cadence() -> None:
    """A replay (snapshots just past each grid point) and a live stream (every 0.5 s)
    fire and resolve at the same event times."""
    def fn(clock: int) -> Values:
        return {(): 0.9 if T0 + 100_000 <= clock < T0 + 400_000 else 0.95}

    def notes(times: list[int]) -> list[tuple[str, int, int]]:
        s = Script(fn)
        al = make(rule(s))
        out: list[Notification] = []
        for t in times:
            al.on_snapshot(at(t))
            out = list(al.history)
        return [(n.status, n.at_ms, n.alert.since_ms) for n in out]

    live = notes(list(range(T0, T0 + 600_000, 500)))
    rng = random.Random(3)
    replay = notes(sorted({T0 + (g * 15_000) + rng.randrange(0, 3000)
                           for g in range(40)}))
    assert live == replay
    assert [n[0] for n in live] == ["firing", "resolved"]


def test_not_ready_snapshots_are_not_evaluated() -> None:
    s = Script()
    al = make(rule(s, for_s=0))
    s.set(0.5)
    al.on_snapshot(replace_snapshot(at(T0), ready=False))
    assert al.active_alerts() == ()
    assert al.last_evaluation_ms is None


def test_a_failing_signal_does_not_stop_the_other_rules() -> None:
    def boom(clock: int) -> Values:
        raise ZeroDivisionError

    ok = Script()
    al = make(rule(Script(boom), name="Broken"), rule(ok, name="Fine", for_s=0))
    ok.set(0.5)
    assert [n.alert.name for n in al.evaluate(at(T0))] == ["Fine"]


def test_collector_exposes_state_profile_and_every_rule() -> None:
    s = Script()
    al = make(rule(s, for_s=0), *load_rules(windows=("15m", "1h", "24h")))
    reg = CollectorRegistry()
    reg.register(al.collector)

    def active(name: str, severity: str) -> float | None:
        return reg.get_sample_value("aftersales_alert_active", {"alert": name,
                                                                "severity": severity})

    assert active("SlaLow", "critical") == 0.0
    assert active("PeakTraffic", "info") == 0.0
    s.set(0.5)
    al.evaluate(at(T0))
    assert active("SlaLow", "critical") == 1.0
    assert reg.get_sample_value("aftersales_alert_profile", {"profile": "normal"}) == 1.0
    assert reg.get_sample_value("aftersales_alert_profile", {"profile": "peak"}) == 0.0
    s.set(0.99)
    al.evaluate(at(T0 + 15_000))
    assert active("SlaLow", "critical") == 0.0


def test_tile_thresholds_give_traffic_lights() -> None:
    al = make(*load_rules(windows=("15m", "1h", "24h")))
    tiles = al.thresholds()
    assert set(tiles) >= {"sla_attainment", "escalation_rate", "peak_ratio", "overdue"}
    sla = tiles["sla_attainment"]
    assert [sla.light(v) for v in (0.99, 0.94, 0.91, None)] == ["green", "amber", "red", "none"]
    assert tiles["escalation_rate"].light(0.085) == "amber"
    assert al.thresholds("peak")["sla_attainment"].red == pytest.approx(0.88)
