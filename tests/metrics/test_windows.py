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


@pytest.mark.parametrize("seed", [4, 5])
def test_chunk_edges_and_unsorted_chunks_against_brute_force(seed: int) -> None:
    """Windows that are not whole minutes, entries on minute-chunk boundaries and out of
    order within a chunk (a rebuild reading partitions at different event times)."""
    rnd = random.Random(seed)
    spans = {"7s": 7, "90s": 90, "10m": 600}
    sw = SlidingWindows(spans, n_slots=3, n_series=2)
    codes = [sw.code((0,)), sw.code((0, 1)), sw.code((2,), series=0), sw.code((1,), series=1)]
    events: list[tuple[int, int, float]] = []
    clock = 1_700_000_000_000 // 60_000 * 60_000
    for step in range(800):
        clock += rnd.choice([0, 1, 999, 1000, 7000, 59_999, 60_000])
        for _ in range(rnd.randint(0, 6)):
            base = clock - rnd.randint(0, 12) * 60_000
            ts = base - base % 60_000 + rnd.choice([0, 1, 59_999, rnd.randint(0, 59_999)])
            ts = min(ts, clock + 3000)
            code, value = rnd.choice(codes), float(rnd.randint(0, 50))
            sw.add(ts, code, value, clock)
            events.append((ts, code, value))
        if step % 3 == 0:
            sw.advance(clock)
            for name, secs in spans.items():
                inside = [e for e in events if clock - secs * 1000 < e[0] <= clock]
                want = [0, 0, 0]
                for _, code, _ in inside:
                    for s in {codes[0]: (0,), codes[1]: (0, 1), codes[2]: (2,),
                              codes[3]: (1,)}[code]:
                        want[s] += 1
                assert sw.counts(name) == want, (name, step)
                for series, code in ((0, codes[2]), (1, codes[3])):
                    assert list(sw.values(name, series)) == sorted(
                        e[2] for e in inside if e[1] == code)


def test_entries_are_evicted_once_no_window_can_see_them() -> None:
    sw = SlidingWindows({"w": 60, "big": 180}, n_slots=1)
    c = sw.code((0,))
    t0 = 1_700_000_000_000
    for i in range(600):
        sw.add(t0 + i * 1000, c, clock_ms=t0 + i * 1000)
        sw.advance(t0 + i * 1000)
    assert sw.counts("w") == [60]
    assert sw.counts("big") == [180]
    assert 180 <= sw.entry_count() <= 180 + 60  # at most one partly visible chunk more
