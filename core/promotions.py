"""Promotion periods (双11): the one definition of "the clock is inside a promotion".

The alert profiles (SPEC §4) and the board both read it. Periods are local times in the
configured time zone, turned into epoch milliseconds once, at start-up, with errors
naming the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import PromotionPeriod
from core.errors import ConfigError

__all__ = ["Promotion", "active_promotion", "promotions_from_config"]


@dataclass(frozen=True, slots=True)
class Promotion:
    name: str
    start_ms: int
    end_ms: int  # exclusive

    def covers(self, clock_ms: int) -> bool:
        return self.start_ms <= clock_ms < self.end_ms


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


def active_promotion(promotions: Iterable[Promotion], clock_ms: int) -> Promotion | None:
    """The first configured period that contains ``clock_ms``, if any."""
    return next((p for p in promotions if p.covers(clock_ms)), None)
