"""TEMPORARY (issue 16, branch `scores`): the SPEC §7 series of conversation turns that the
`turns` branch adds to the engine, left out of engine-vs-oracle comparisons until it lands.

The `today` window makes the exposition carry §7 samples (``window="today"``), which turns
on the oracle's §7 comparison; turns, responses and awaiting-reply gauges are not in this
branch's engine yet. Once `turns` is merged, delete this module and its calls: every
comparison is then whole again.
"""

from __future__ import annotations

import dataclasses

from tests.oracle import Expected, section7

_TURN_GAUGES = (
    *section7.STATE_GAUGES7,
    "aftersales_window_turns",
    "aftersales_window_responses",
    "aftersales_window_responses_within_sla",
)


def without_turns(e: Expected) -> Expected:
    """``e`` without the turns-only §7 series (everything else, `today` included, stays)."""
    if e.gauges7 is None:
        return e
    return dataclasses.replace(
        e,
        gauges7={k: v for k, v in e.gauges7.items() if k[0] not in _TURN_GAUGES},
        histograms7={},
        window_values7=None if e.window_values7 is None else {
            k: v for k, v in e.window_values7.items()
            if k[0] != section7.RESPONSE_QUANTILE_METRIC},
        quantiles7=None if e.quantiles7 is None else {
            k: v for k, v in e.quantiles7.items() if k[0] != section7.RESPONSE_QUANTILE_METRIC},
    )
