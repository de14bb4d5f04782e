"""Deliveries and the return life-cycle (requested → received → inspected → refunded,
exchanged or cancelled), SPEC §1 logistics events."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from core.events import KINDS, RETURN_REASONS
from pulse.simulation.records import (
    HOUR_MS,
    LOGISTICS,
    NO_EXTRA,
    Picker,
    Plan,
    RecentOrders,
    Step,
    rfc3339,
)
from pulse.simulation.scenarios import (
    KIND_WEIGHTS,
    REASON_WEIGHTS,
    ScenarioConfig,
)

__all__ = ["Logistics"]


class Logistics:
    """Draws each delivery and, for a share of them, the whole return that follows."""

    def __init__(
        self,
        config: ScenarioConfig,
        rng: random.Random,
        *,
        prefix: str,
        region: Picker,
        orders: RecentOrders,
        in_surge: Callable[[float], bool],
    ) -> None:
        self._config = config
        self._rng = rng
        self._prefix = prefix
        self._region = region
        self._orders = orders
        self._in_surge = in_surge
        self._reason = Picker(REASON_WEIGHTS, RETURN_REASONS)
        self._kind = Picker(KIND_WEIGHTS, KINDS)
        self._order_n = 0
        self._return_n = 0

    def delivery(self, ts: int) -> tuple[str, dict[str, object], Plan | None]:
        """``(order id, shipment.delivered value, the return it triggers or None)``."""
        rnd = self._rng.random
        self._order_n += 1
        oid = f"O{self._prefix}{self._order_n}"
        region = self._region(rnd())
        value: dict[str, object] = {
            "event_id": "",
            "type": "shipment.delivered",
            "ts": ts,
            "order_id": oid,
            "region": region,
        }
        if rnd() < 0.9:
            if rnd() < 0.05:
                promised = ts - HOUR_MS - int(rnd() * 47 * HOUR_MS)  # late
            else:
                promised = ts + 2 * HOUR_MS + int(rnd() * 70 * HOUR_MS)
            value["promised_ts"] = rfc3339(promised) if self._order_n % 5 == 0 else promised
        self._orders.add(region, oid)

        cfg = self._config
        p = cfg.return_rate
        if region == cfg.spike_region and self._in_surge(ts):
            p = min(1.0, p * cfg.spike_return_factor)
        plan = self._return(ts + 1 + int(rnd() * 5_000), region) if rnd() < p else None
        return oid, value, plan

    def _return(self, t: int, region: str) -> Plan:
        rnd = self._rng.random
        self._return_n += 1
        rid = f"R{self._prefix}{self._return_n}"
        kind = self._kind(rnd())
        requested: dict[str, object] = {
            "region": region,
            "reason": self._reason(rnd()),
            "kind": kind,
        }
        order = self._orders.pick(region)  # an earlier order of that region
        if order is not None:
            requested["order_id"] = order
        steps: list[Step] = [(t, "return.requested", requested)]
        u = rnd()
        if u < 0.05:  # cancelled by the customer before shipping it back
            steps.append((t + 600_000 + int(rnd() * 12 * HOUR_MS), "return.cancelled",
                          NO_EXTRA))
        else:
            v = rnd()
            if v < 0.10:
                total = 12 + 12 * rnd()
            elif v < 0.92:
                total = 24 + 24 * rnd()
            else:
                total = 48 + 24 * rnd()
            total_ms = int(total * HOUR_MS)
            received = t + int(total_ms * (0.3 + 0.3 * rnd()))
            inspected = received + int((t + total_ms - received) * (0.3 + 0.5 * rnd()))
            passed = rnd() < 0.95
            steps.append((received, "return.received", NO_EXTRA))
            steps.append((inspected, "return.inspected", {"passed": passed}))
            if passed:
                end_type = "return.refunded" if kind == "return" else "return.exchanged"
                steps.append((t + total_ms, end_type, NO_EXTRA))
            else:
                steps.append((inspected + 600_000 + int(rnd() * 6 * HOUR_MS),
                              "return.cancelled", NO_EXTRA))
        return Plan(LOGISTICS, "return_id", rid, steps)


def regions_picker(regions: Sequence[str], weights: dict[str, float], other: float) -> Picker:
    """The region mix over the configured regions (unknown ones get ``other``'s weight)."""
    return Picker({r: weights.get(r, other) for r in regions}, regions)
