"""Table tests of the one definition of each rule (core.definitions, core.promotions)."""

from __future__ import annotations

import pytest

from core.alerting import TileThreshold, compare
from core.config import PromotionPeriod, SlaConfig
from core.definitions import (
    DEFAULT_FIRST_RESPONSE_SLA_S,
    DEFAULT_RESOLUTION_SLA_S,
    PEAK_RATIO_ENTER,
    PEAK_RATIO_EXIT,
    attainment,
    csat_satisfied,
    csat_share,
    escalation_rate,
    nps_class,
    nps_score,
    overdue,
    peak_ratio,
    within_sla,
    within_sla_between,
)
from core.errors import ConfigError
from core.promotions import active_promotion, promotions_from_config


class Hours:
    """A stand-in calendar: business time is the overlap with one open span."""

    def __init__(self, open_ms: int, close_ms: int) -> None:
        self.open_ms, self.close_ms = open_ms, close_ms

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        return max(0, min(end_ms, self.close_ms) - max(start_ms, self.open_ms))


@pytest.mark.parametrize(("elapsed_ms", "sla_s", "within"), [
    (0, 30, True), (29_999, 30, True), (30_000, 30, True), (30_001, 30, False),
    (7_200_000, 7200, True), (7_200_001, 7200, False),
])
def test_within_sla_is_at_most_the_sla(elapsed_ms: int, sla_s: int, within: bool) -> None:
    assert within_sla(elapsed_ms, sla_s) is within
    assert within_sla_between(1000, 1000 + elapsed_ms, sla_s) is within


@pytest.mark.parametrize(("start", "end", "within"), [
    (0, 100_000, True),  # closed until 90 s: only 10 s of business time
    (0, 120_000, True),  # exactly 30 s of business time: the boundary is within
    (0, 120_001, False),
    (200_000, 500_000, True),  # after closing time nothing counts
    (60_000, 95_000, True),
])
def test_within_sla_in_business_time(start: int, end: int, within: bool) -> None:
    assert within_sla_between(start, end, 30, Hours(90_000, 200_000)) is within
    assert overdue(start, end, 30, Hours(90_000, 200_000)) is not within
    assert overdue(0, 30_000, 30) is False
    assert overdue(0, 30_001, 30) is True


@pytest.mark.parametrize(("csat", "satisfied"), [(1, False), (3, False), (4, True), (5, True)])
def test_csat_satisfied_is_four_or_more(csat: int, satisfied: bool) -> None:
    assert csat_satisfied(csat) is satisfied


@pytest.mark.parametrize(("nps", "cls"), [
    (0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"),
    (9, "promoter"), (10, "promoter"),
])
def test_nps_classes(nps: int, cls: str) -> None:
    assert nps_class(nps) == cls


@pytest.mark.parametrize(("args", "expected"), [
    ((9, 10), 0.9), ((0, 10), 0.0), ((0, 0), None), ((5, 9, 10), None), ((9, 10, 10), 0.9),
])
def test_attainment(args: tuple[int, ...], expected: float | None) -> None:
    assert attainment(*args) == expected


@pytest.mark.parametrize(("args", "expected"), [
    ((1, 10), 0.1), ((0, 0), None), ((3, 20, 50), None), ((5, 50, 50), 0.1),
])
def test_escalation_rate(args: tuple[int, ...], expected: float | None) -> None:
    assert escalation_rate(*args) == expected


def test_csat_share_and_nps_score() -> None:
    assert csat_share(3, 4) == 0.75
    assert csat_share(0, 0) is None
    assert nps_score(6, 2, 10) == pytest.approx(40.0)
    assert nps_score(0, 10, 10) == pytest.approx(-100.0)
    assert nps_score(0, 0, 0) is None


@pytest.mark.parametrize(("args", "expected"), [
    ((30, 900, 1440, 86400), 2.0),  # the SPEC gauge: the long window taken as full
    ((5, 900, 0, 86400), 0.0),
    # a 15-minute-old stream: 15 tickets in 15 minutes is 1x, not 96x
    ((15, 900, 15, 86400, 900.0), 1.0),
    ((40, 900, 120, 86400, 7200.0), pytest.approx(40 / 15 / (120 / 120))),
    ((40, 900, 1440, 86400, 10 * 86400.0), 40 / 15),  # history beyond the window: capped
])
def test_peak_ratio(args: tuple[float, ...], expected: object) -> None:
    assert peak_ratio(*args) == expected  # type: ignore[arg-type]


def test_peak_threshold_has_one_home() -> None:
    from alerts.profiles import ProfileTracker
    from core.config import AlertingConfig

    assert (AlertingConfig().peak_ratio_enter, AlertingConfig().peak_ratio_exit) == (
        PEAK_RATIO_ENTER, PEAK_RATIO_EXIT) == (3.0, 2.7)
    t = ProfileTracker()
    assert (t.enter, t.exit) == (PEAK_RATIO_ENTER, PEAK_RATIO_EXIT)


def test_default_slas_have_one_home() -> None:
    from pulse.simulation import Simulator, scenario

    sla = SlaConfig()
    assert dict(sla.first_response_s) == dict(DEFAULT_FIRST_RESPONSE_SLA_S) == {
        "chat": 30, "phone": 900, "app": 1800, "email": 86400}
    assert dict(sla.resolution_s) == dict(DEFAULT_RESOLUTION_SLA_S) == {
        "P1": 7200, "P2": 86400, "P3": 172800, "P4": 259200}
    # the simulator draws its delays against the service's SlaConfig, not a copy of it
    assert Simulator(scenario("normal"), seed=1, start_ms=0).sla == sla


def test_promotions_in_the_configured_time_zone() -> None:
    periods = (PromotionPeriod("双11", "2026-11-10T20:00", "2026-11-12T02:00"),
               PromotionPeriod("utc", "2026-12-01T00:00+00:00", "2026-12-02T00:00+00:00"))
    promos = promotions_from_config(periods, "Asia/Shanghai")
    start = 1_794_312_000_000  # 2026-11-10T20:00+08:00
    assert promos[0].start_ms == start
    assert active_promotion(promos, start - 1) is None
    assert active_promotion(promos, start) == promos[0]
    assert active_promotion(promos, promos[0].end_ms) is None  # the end is exclusive
    assert active_promotion(promos, promos[1].start_ms) == promos[1]
    with pytest.raises(ConfigError, match=r"alerting.promotions\[0\].end"):
        promotions_from_config((PromotionPeriod("x", "2026-11-11T00:00", "2026-11-10"),),
                               "Asia/Shanghai")
    with pytest.raises(ConfigError, match=r"alerting\.timezone"):
        promotions_from_config((), "Mars/Olympus")


@pytest.mark.parametrize(("op", "value", "threshold", "holds"), [
    (">", 2, 1, True), (">", 1, 1, False), (">=", 1, 1, True), ("<", 1, 2, True),
    ("<=", 2, 2, True), ("==", 2, 2, True), ("!=", 2, 2, False),
])
def test_compare(op: str, value: float, threshold: float, holds: bool) -> None:
    assert compare(op, value, threshold) is holds


@pytest.mark.parametrize(("value", "light"), [
    (None, "none"), (0.95, "green"), (0.93, "amber"), (0.91, "red"), (0.92, "amber"),
])
def test_tile_threshold_light(value: float | None, light: str) -> None:
    th = TileThreshold("FirstResponseSlaLow", "<", 0.92, 0.94, "ratio", "normal")
    assert th.light(value) == light
