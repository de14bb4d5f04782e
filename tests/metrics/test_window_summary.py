"""The window summary's ``_count`` and ``_sum`` against a direct computation.

``aftersales_window_first_response_seconds`` is a summary: its quantiles, plus the count
and sum of the first-response times inside the window. The sum is a running total kept
by the windows; here it is recomputed from scratch (brute force over every entry, and
the independent oracle over the raw messages) and must agree exactly.
"""

from __future__ import annotations

import random
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metrics.windows import SlidingWindows
from tests.metrics.test_engine import run_engine, scenario_messages
from tests.oracle import compute, section7


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_running_sum_equals_a_recount_with_late_future_and_unordered_entries(
        seed: int) -> None:
    rnd = random.Random(seed)
    spans = {"a": 60, "b": 600, "c": 3600}
    sw = SlidingWindows(spans, n_slots=2, n_series=2)
    codes = [sw.code((0,), series=0), sw.code((0, 1), series=1), sw.code((1,))]
    events: list[tuple[int, int, float]] = []
    clock = 1_700_000_000_000
    for _ in range(2000):
        clock += rnd.randint(0, 5000)
        for _ in range(rnd.randint(0, 4)):
            # late (older than some or every window), in-window, and ahead of the clock
            ts = clock - rnd.randint(-3000, 4_000_000)
            code = rnd.choice(codes)
            value = rnd.randint(0, 90_000_000) / 1000  # whole milliseconds, in seconds
            if code == codes[2]:
                sw.count(ts, code, clock)
            elif sw.add(ts, code, value, clock):
                events.append((ts, code, value))
        if rnd.random() < 0.3:
            sw.advance(clock)
            for name, secs in spans.items():
                for series in (0, 1):
                    inside = [v for ts, c, v in events
                              if c == codes[series] and clock - secs * 1000 < ts <= clock]
                    want = sum(round(v * 1000) for v in inside) / 1000
                    assert sw.value_sum(name, series) == want, (name, series)
                    assert len(sw.values(name, series)) == len(inside)


def _summary(text: str) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    fam = next(f for f in text_string_to_metric_families(text)
               if f.name == "aftersales_window_first_response_seconds")
    assert fam.type == "summary"
    count, total = {}, {}
    for s in fam.samples:
        key = (s.labels["window"], s.labels["channel"])
        if s.name.endswith("_count"):
            count[key] = s.value
        elif s.name.endswith("_sum"):
            total[key] = s.value
        else:
            assert set(s.labels) == {"window", "channel", "quantile"}
    return count, total


@pytest.mark.parametrize(("seed", "hours", "name"), [(8, 30, "normal"), (9, 26, "double11")])
def test_exposed_count_and_sum_equal_the_oracle(seed: int, hours: float, name: str) -> None:
    wall = int(time.time() * 1000)
    messages = scenario_messages(seed, hours, name)
    random.Random(seed).shuffle(messages)  # any order: the sum must not depend on it
    count, total = _summary(run_engine(messages, wall))
    out = compute(messages, wall_ms=wall)
    assert out.window_first_response_values is not None
    want = dict(out.window_first_response_values)
    for (metric, window, channel), xs in (out.window_values7 or {}).items():  # `today` (§7)
        if metric == section7.FIRST_RESPONSE_QUANTILE_METRIC:
            want[(window, channel)] = xs
    assert any(w == "today" for w, _ in want)
    assert set(count) == set(total)
    assert any(v for v in count.values())
    for (window, channel), n in count.items():
        values = want.get((window, channel), [])
        assert n == len(values), (window, channel)
        assert total[(window, channel)] == sum(round(v * 1000) for v in values) / 1000, (
            window, channel)
    # every (window, channel) with first responses is exposed, zeros for the others too
    assert {k for k, v in want.items() if v} <= {k for k, n in count.items() if n}
