"""Threshold profiles: ``normal`` and ``peak`` (SPEC §4).

``peak`` applies while the peak ratio is at least ``alerting.peak_ratio_enter`` (3) or
while the event-time clock is inside a configured promotion period (双11, see
:mod:`core.promotions`). The ratio has hysteresis of its own (enter at ``enter``, leave
below ``exit``) so thresholds do not switch back and forth when arrivals hover around
3×. The profile decided here is the one the board shows (it reads
:class:`core.alerting.ProfileState` through :class:`core.alerting.AlertView`).
"""

from __future__ import annotations

from core.alerting import ProfileState
from core.definitions import PEAK_RATIO_ENTER, PEAK_RATIO_EXIT
from core.errors import ConfigError
from core.promotions import Promotion, active_promotion, promotions_from_config

__all__ = ["NORMAL", "PEAK", "Profile", "ProfileTracker", "Promotion", "promotions_from_config"]

NORMAL = "normal"
PEAK = "peak"
Profile = ProfileState  # the record of the profile in force lives in the kernel


class ProfileTracker:
    """Fed the clock and the peak ratio at every evaluation; returns the profile in force."""

    def __init__(self, promotions: tuple[Promotion, ...] = (),
                 enter: float = PEAK_RATIO_ENTER, exit: float = PEAK_RATIO_EXIT) -> None:
        if exit > enter:
            raise ConfigError("alerting.peak_ratio_exit: must be at most peak_ratio_enter")
        self.promotions = promotions
        self.enter = enter
        self.exit = exit
        self._by_ratio = False
        self.current = ProfileState(NORMAL)

    def update(self, clock_ms: int, peak_ratio: float | None) -> ProfileState:
        if self._by_ratio:
            self._by_ratio = peak_ratio is not None and peak_ratio >= self.exit
        else:
            self._by_ratio = peak_ratio is not None and peak_ratio >= self.enter
        promo = active_promotion(self.promotions, clock_ms)
        if promo is not None:
            name, reason = PEAK, "promotion"
        elif self._by_ratio:
            name, reason = PEAK, "peak_ratio"
        else:
            name, reason = NORMAL, None
        since = self.current.since_ms if name == self.current.name else clock_ms
        self.current = ProfileState(name, reason, promo.name if promo else None, peak_ratio,
                                    since)
        return self.current
