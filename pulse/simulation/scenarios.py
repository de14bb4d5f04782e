"""Traffic scenarios (``normal``, ``double11``), the mixes of labels and the diurnal curve.

Numbers from the SPEC header: chat 50 %, 4 priorities, a 3× surge, one region's returns
spiking. The SLAs the delays are drawn against are not here: they come from the service's
configuration (``core.config.SlaConfig``), so the simulator and the service never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "CATEGORY_WEIGHTS",
    "CHANNEL_WEIGHTS",
    "DIURNAL",
    "FLAT",
    "KIND_WEIGHTS",
    "OTHER_REGION_WEIGHT",
    "PRIORITY_WEIGHTS",
    "REASON_WEIGHTS",
    "REGION_WEIGHTS",
    "SCENARIOS",
    "SLOTS_PER_DAY",
    "SLOT_MS",
    "ScenarioConfig",
    "scenario",
]

SCENARIOS: tuple[str, ...] = ("normal", "double11")

SLOT_MS = 15 * 60_000
SLOTS_PER_DAY = 86_400_000 // SLOT_MS

# Mixes (weights need not sum to 1).
CHANNEL_WEIGHTS: dict[str, float] = {"chat": 50, "phone": 20, "app": 20, "email": 10}
CATEGORY_WEIGHTS: dict[str, float] = {
    "return": 25, "exchange": 12, "refund": 22, "repair": 8,
    "complaint": 10, "inquiry": 13, "logistics": 10,
}
PRIORITY_WEIGHTS: dict[str, float] = {"P1": 5, "P2": 20, "P3": 55, "P4": 20}
REGION_WEIGHTS: dict[str, float] = {
    "east": 28, "south": 22, "north": 16, "central": 12,
    "southwest": 10, "northwest": 6, "northeast": 6,
}
OTHER_REGION_WEIGHT = 10.0  # a configured region not in the default list
REASON_WEIGHTS: dict[str, float] = {
    "quality": 22, "size": 20, "damaged": 10, "not_as_described": 14,
    "wrong_item": 6, "changed_mind": 23, "other": 5,
}
KIND_WEIGHTS: dict[str, float] = {"return": 70, "exchange": 30}

# Hourly anchors of the diurnal curve (local time, hour 0..23), normalised to mean 1 below.
_DIURNAL_ANCHORS = (
    0.55, 0.35, 0.22, 0.16, 0.14, 0.18, 0.30, 0.55, 0.85, 1.10, 1.25, 1.25,
    1.10, 1.15, 1.25, 1.25, 1.20, 1.10, 1.15, 1.35, 1.60, 1.75, 1.55, 1.00,
)


def _diurnal_slots() -> tuple[float, ...]:
    """96 quarter-hour multipliers, linearly interpolated between hourly anchors, mean 1."""
    raw = []
    for s in range(SLOTS_PER_DAY):
        h = (s + 0.5) / 4.0 - 0.5  # slot centre, anchors sit at the middle of each hour
        lo = math.floor(h)
        frac = h - lo
        a = _DIURNAL_ANCHORS[lo % 24]
        b = _DIURNAL_ANCHORS[(lo + 1) % 24]
        raw.append(a + (b - a) * frac)
    mean = sum(raw) / len(raw)
    return tuple(v / mean for v in raw)


DIURNAL: tuple[float, ...] = _diurnal_slots()
FLAT: tuple[float, ...] = (1.0,) * SLOTS_PER_DAY


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """A traffic scenario. Times are seconds from the simulator's ``start_ms``.

    ``customer_messages`` turns on the conversation of SPEC §7 (``ticket.message``: the
    customer writing again). It is off by default so that a stream built for an engine
    without §7 stays exactly what it was; the demo turns it on.
    """

    name: str
    rate: float = 20.0  # tickets created per minute, 24 h mean of the normal day
    diurnal: bool = True
    surge_factor: float = 3.0
    surge_start_s: float | None = None
    surge_end_s: float | None = None
    # During a surge arrivals are at least surge_factor × surge_floor × rate: the surge
    # itself lifts the 24 h mean, and the 15m/24h peak ratio must stay clearly above 3.
    surge_floor: float = 1.5
    spike_region: str = "south"
    spike_return_factor: float = 3.0
    reply_slowdown: float = 2.0  # reply and resolution delays × this for surge tickets
    deliveries_per_ticket: float = 10.0
    return_rate: float = 0.12
    first_response_attainment: float = 0.94  # target share within SLA outside a surge
    customer_messages: bool = False
    # share of agent replies the customer answers (mean over channels, first answer back)
    message_after_reply: float = 0.3
    message_surge_factor: float = 1.6  # ... × this while the surge runs (more back-and-forth)
    response_attainment: float = 0.9  # later responses within the response SLA, no surge

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.deliveries_per_ticket < 0:
            raise ValueError("deliveries_per_ticket must be >= 0")
        if not 0 <= self.return_rate <= 1:
            raise ValueError("return_rate must be within 0..1")
        if not 0.5 < self.first_response_attainment < 1:
            raise ValueError("first_response_attainment must be within 0.5..1")
        if not 0.5 < self.response_attainment < 1:
            raise ValueError("response_attainment must be within 0.5..1")
        if not 0 <= self.message_after_reply <= 0.6 or self.message_surge_factor < 1:
            raise ValueError("message_after_reply must be within 0..0.6, "
                             "message_surge_factor >= 1")
        if self.surge_factor <= 0 or self.reply_slowdown <= 0 or self.spike_return_factor < 0:
            raise ValueError("surge_factor, reply_slowdown must be > 0")
        if (self.surge_start_s is None) != (self.surge_end_s is None):
            raise ValueError("surge_start_s and surge_end_s go together")
        if (
            self.surge_start_s is not None
            and self.surge_end_s is not None
            and not 0 <= self.surge_start_s < self.surge_end_s
        ):
            raise ValueError("need 0 <= surge_start_s < surge_end_s")

    @property
    def has_surge(self) -> bool:
        return self.surge_start_s is not None


def scenario(
    name: str,
    *,
    rate: float = 20.0,
    surge_start_s: float | None = None,
    surge_end_s: float | None = None,
    **overrides: Any,
) -> ScenarioConfig:
    """The named scenario. ``double11``: a normal day, then (by default) a 1 h surge at
    24 h after the start; other :class:`ScenarioConfig` fields may be overridden."""
    if name == "normal":
        if surge_start_s is not None or surge_end_s is not None:
            raise ValueError("the normal scenario has no surge")
        cfg = ScenarioConfig(name=name, rate=rate)
    elif name == "double11":
        start = 86_400.0 if surge_start_s is None else float(surge_start_s)
        end = start + 3_600.0 if surge_end_s is None else float(surge_end_s)
        cfg = ScenarioConfig(name=name, rate=rate, surge_start_s=start, surge_end_s=end)
    else:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return replace(cfg, **overrides) if overrides else cfg
