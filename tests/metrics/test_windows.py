"""Exact sliding windows against a brute-force recount, with out-of-order input."""

from __future__ import annotations

import random

import pytest

from metrics.windows import SlidingWindows, quantile


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windows_equal_brute_force_recount(seed: int) -> None:
    rnd = random.Random(seed)
    spans = {"a": 60, "b": 600}
    sw = SlidingWindows(spans, n_slots=2, n_series=1)
    plain, timed = sw.code((0,)), sw.code((0, 1), series=0)
    events: list[tuple[int, int, float]] = []
    clock = 1_700_000_000_000
    for _ in range(1500):
        clock += rnd.randint(0, 3000)
        for _ in range(rnd.randint(0, 5)):
            ts = clock - rnd.randint(-2000, 700_000)  # late, in-window and slightly future
            code, value = rnd.choice([plain, timed]), rnd.random()
            sw.add(ts, code, value, clock)
            events.append((ts, code, value))
        if rnd.random() < 0.3:
            sw.advance(clock)
            for name, secs in spans.items():
                inside = [e for e in events if clock - secs * 1000 < e[0] <= clock]
                assert sw.counts(name) == [len(inside), sum(e[1] == timed for e in inside)]
                assert list(sw.values(name, 0)) == sorted(e[2] for e in inside if e[1] == timed)


def test_window_edges_are_exclusive_below_and_inclusive_above() -> None:
    sw = SlidingWindows({"w": 60}, n_slots=1)
    c = sw.code((0,))
    for ts in (1_000_000, 1_000_001, 1_060_000, 1_060_001):
        sw.add(ts, c)
    sw.advance(1_060_000)  # window (1_000_000, 1_060_000]
    assert sw.counts("w") == [2]
    sw.advance(1_060_001)
    assert sw.counts("w") == [2]  # 1_000_001 left, 1_060_001 entered


def test_a_big_clock_jump_and_eviction() -> None:
    sw = SlidingWindows({"w": 60}, n_slots=1)
    c = sw.code((0,))
    sw.add(10_000, c)
    sw.advance(20_000)
    assert sw.counts("w") == [1]
    sw.advance(10_000_000_000)
    assert sw.counts("w") == [0]
    assert sw.entry_count() == 0
    assert sw.add(5_000, c) is False  # never visible again: not stored


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 0.99, 1.0),
        ([35.159, 36.681, 36.719, 136.612], 0.5, 36.7),
        ([35.159, 36.681, 36.719, 136.612], 0.9, 36.719 + 0.7 * (136.612 - 36.719)),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 3.0),
        ([0.0, 10.0], 0.99, 9.9),
    ],
)
def test_quantile_interpolates_linearly(values: list[float], q: float, expected: float) -> None:
    assert quantile(values, q) == pytest.approx(expected)
