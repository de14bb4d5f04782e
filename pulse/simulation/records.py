"""What the simulator's models share: the generated event, a planned step, weighted choice,
the ring of recent orders, and the +08:00 timestamp format."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "LOGISTICS",
    "MIN_MS",
    "NO_EXTRA",
    "TICKETS",
    "Picker",
    "Plan",
    "RecentOrders",
    "SimEvent",
    "Step",
    "rfc3339",
]

TICKETS = "tickets"
LOGISTICS = "logistics"

MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_CST = timezone(timedelta(hours=8))

Step = tuple[int, str, dict[str, object]]
"""One planned event of an entity: ``(ts_ms, type, extra fields)``."""

NO_EXTRA: dict[str, object] = {}
_RING = 256  # recent order ids kept per region (tickets and returns refer to them)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One generated event. ``topic`` is ``"tickets"`` or ``"logistics"``."""

    topic: str
    key: str
    value: dict[str, object]
    ts_ms: int


class Plan:
    """The pending steps of one ticket or return, fed through the simulator's heap."""

    __slots__ = ("idfield", "key", "steps", "topic")

    def __init__(self, topic: str, idfield: str, key: str, steps: list[Step]) -> None:
        self.topic = topic
        self.idfield = idfield
        self.key = key
        self.steps = steps


class Picker:
    """Weighted choice by bisect over precomputed cumulative weights."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, weights: dict[str, float], values: Sequence[str]) -> None:
        self._values = tuple(values)
        self._cum = list(accumulate(float(weights.get(v, 0.0)) for v in self._values))
        self._total = self._cum[-1]
        if self._total <= 0:
            raise ValueError("weights sum to zero")

    def __call__(self, u: float) -> str:
        """The value for a uniform draw ``u`` in [0, 1)."""
        return self._values[bisect(self._cum, u * self._total)]


class RecentOrders:
    """The last delivered orders per region: tickets and returns refer to real orders."""

    __slots__ = ("_pos", "_rings", "_rng")

    def __init__(self, regions: Sequence[str], rng: random.Random) -> None:
        self._rng = rng
        self._rings: dict[str, list[str]] = {r: [] for r in regions}
        self._pos: dict[str, int] = dict.fromkeys(regions, 0)

    def add(self, region: str, order_id: str) -> None:
        ring = self._rings[region]
        if len(ring) < _RING:
            ring.append(order_id)
        else:
            pos = self._pos[region]
            ring[pos] = order_id
            self._pos[region] = (pos + 1) % _RING

    def pick(self, region: str) -> str | None:
        """A recent order of ``region`` (one draw of the shared generator), or None."""
        ring = self._rings[region]
        if not ring:
            return None
        return ring[int(self._rng.random() * len(ring))]


def rfc3339(ts_ms: int) -> str:
    """``ts_ms`` as an RFC 3339 string with the +08:00 offset and milliseconds."""
    dt = datetime.fromtimestamp(ts_ms // 1000, tz=_CST).replace(microsecond=(ts_ms % 1000) * 1000)
    return dt.isoformat(timespec="milliseconds")
