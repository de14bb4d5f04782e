"""Threshold profiles: ``normal`` and ``peak`` (SPEC §4).

``peak`` applies while the peak ratio is at least 3 or while the event-time clock is
inside a configured promotion period (双11). The ratio has hysteresis of its own (enter at
``enter``, leave below ``exit``) so thresholds do not switch back and forth when arrivals
hover around 3×. Promotion periods are local times in the configured time zone, turned
into epoch milliseconds once, at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import PromotionPeriod
from core.errors import ConfigError

__all__ = ["NORMAL", "PEAK", "Profile", "ProfileTracker", "Promotion", "promotions_from_config"]

NORMAL = "normal"
PEAK = "peak"


@dataclass(frozen=True, slots=True)
class Promotion:
    name: str
    start_ms: int
    end_ms: int

    def covers(self, clock_ms: int) -> bool:
        return self.start_ms <= clock_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class Profile:
    """The profile in force, and why: for the metrics, the board and the messages."""

    name: str  # "normal" | "peak"
    reason: str | None = None  # "promotion" | "peak_ratio" | None
    promotion: str | None = None  # the promotion period in force, if any
    peak_ratio: float | None = None
    since_ms: int = 0


def _local_ms(text: str, tz: ZoneInfo, where: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {text!r} is not an ISO date-time like "
                          "2026-11-10T20:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return int(dt.timestamp() * 1000)


def promotions_from_config(periods: Iterable[PromotionPeriod], timezone: str) -> tuple[
        Promotion, ...]:
    """Validate and convert; errors name the key (``alerting.promotions[0].end``)."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"alerting.timezone: unknown time zone {timezone!r}") from None
    out = []
    for i, p in enumerate(periods):
        where = f"alerting.promotions[{i}]"
        start = _local_ms(p.start, tz, f"{where}.start")
        end = _local_ms(p.end, tz, f"{where}.end")
        if end <= start:
            raise ConfigError(f"{where}.end: must be after start")
        if not p.name:
            raise ConfigError(f"{where}.name: must not be empty")
        out.append(Promotion(p.name, start, end))
    return tuple(out)


class ProfileTracker:
    """Fed the clock and the peak ratio at every evaluation; returns the profile in force."""

    def __init__(self, promotions: tuple[Promotion, ...] = (), enter: float = 3.0,
                 exit: float = 2.7) -> None:
        if exit > enter:
            raise ConfigError("alerting.peak_ratio_exit: must be at most peak_ratio_enter")
        self.promotions = promotions
        self.enter = enter
        self.exit = exit
        self._by_ratio = False
        self.current = Profile(NORMAL)

    def update(self, clock_ms: int, peak_ratio: float | None) -> Profile:
        if self._by_ratio:
            self._by_ratio = peak_ratio is not None and peak_ratio >= self.exit
        else:
            self._by_ratio = peak_ratio is not None and peak_ratio >= self.enter
        promo = next((p for p in self.promotions if p.covers(clock_ms)), None)
        if promo is not None:
            name, reason = PEAK, "promotion"
        elif self._by_ratio:
            name, reason = PEAK, "peak_ratio"
        else:
            name, reason = NORMAL, None
        since = self.current.since_ms if name == self.current.name else clock_ms
        self.current = Profile(name, reason, promo.name if promo else None, peak_ratio, since)
        return self.current

    def promotion_at(self, clock_ms: int) -> Promotion | None:
        return next((p for p in self.promotions if p.covers(clock_ms)), None)
