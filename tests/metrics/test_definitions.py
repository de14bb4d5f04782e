"""Pure definitions of SPEC §3, pinned by small tables."""

from __future__ import annotations

import pytest

from core.definitions import (
    csat_satisfied,
    histogram_bounds,
    in_window,
    nps_class,
    peak_ratio,
    return_rates,
    within_sla,
)


@pytest.mark.parametrize(
    ("elapsed_ms", "sla_s", "ok"),
    [(30_000, 30, True), (30_001, 30, False), (0, 30, True), (-5, 30, True),
     (900_000, 900, True), (86_400_001, 86_400, False)],
)
def test_within_sla_includes_the_boundary(elapsed_ms: int, sla_s: int, ok: bool) -> None:
    assert within_sla(elapsed_ms, sla_s) is ok


@pytest.mark.parametrize(
    ("ts", "clock", "secs", "inside"),
    [(100_000, 100_000, 60, True), (40_000, 100_000, 60, False), (40_001, 100_000, 60, True),
     (100_001, 100_000, 60, False)],
)
def test_in_window(ts: int, clock: int, secs: int, inside: bool) -> None:
    assert in_window(ts, clock, secs) is inside


@pytest.mark.parametrize(("csat", "ok"), [(1, False), (3, False), (4, True), (5, True)])
def test_csat_satisfied(csat: int, ok: bool) -> None:
    assert csat_satisfied(csat) is ok


@pytest.mark.parametrize(
    ("nps", "cls"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"),
     (10, "promoter")],
)
def test_nps_class(nps: int, cls: str) -> None:
    assert nps_class(nps) == cls


def test_return_rates_absent_without_deliveries() -> None:
    rates = return_rates({"east": 3, "south": 1, "north": 2}, {"east": 10, "south": 0})
    assert rates == {"east": 0.3, "all": 0.6}
    assert return_rates({"east": 1}, {"east": 0}) == {}


def test_peak_ratio() -> None:
    assert peak_ratio(30, 900, 1440, 86400) == pytest.approx(2.0)
    assert peak_ratio(5, 900, 0, 86400) == 0.0


def test_every_sla_is_a_histogram_boundary() -> None:
    assert {30.0, 900.0, 1800.0, 86400.0} <= set(histogram_bounds("first_response", (30, 900)))
    assert {7200.0, 86400.0, 172800.0, 259200.0} <= set(histogram_bounds("resolution", ()))
    assert 172800.0 in histogram_bounds("return", (172800,))
    assert 45.0 in histogram_bounds("first_response", (45,))
