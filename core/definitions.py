"""Pure definitions of SPEC §3, §4 and §7: the one home of each rule.

Every surface reads these: the engine builds its hot-path tables from them at start-up,
the alert signals and the board derive their values through them, the oracle's table
tests pin them (tests/core/test_definitions.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from core.business_calendar import Calendar

__all__ = [
    "DEFAULT_FIRST_RESPONSE_SLA_S",
    "DEFAULT_RESOLUTION_SLA_S",
    "DEFAULT_RETURN_PROCESSING_SLA_S",
    "PEAK_RATIO_ENTER",
    "PEAK_RATIO_EXIT",
    "BusinessClock",
    "attainment",
    "csat_satisfied",
    "csat_share",
    "escalation_rate",
    "histogram_bounds",
    "in_window",
    "nps_class",
    "nps_score",
    "overdue",
    "peak_ratio",
    "return_rates",
    "within_sla",
    "within_sla_between",
]

# SPEC §3 default SLAs, seconds (``sla`` in the config overrides them; ``SlaConfig`` and
# the simulator read these)
DEFAULT_FIRST_RESPONSE_SLA_S: Mapping[str, int] = MappingProxyType(
    {"chat": 30, "phone": 900, "app": 1800, "email": 86400})
DEFAULT_RESOLUTION_SLA_S: Mapping[str, int] = MappingProxyType(
    {"P1": 7200, "P2": 86400, "P3": 172800, "P4": 259200})
DEFAULT_RETURN_PROCESSING_SLA_S = 172800

# SPEC §4: the peak profile applies while the peak ratio is ≥ 3; it ends below 2.7 (the
# hysteresis). These are the defaults of ``alerting.peak_ratio_enter`` / ``_exit``; the
# configured values are the ones in force, and every surface reads the profile the
# evaluator decided rather than comparing against these.
PEAK_RATIO_ENTER = 3.0
PEAK_RATIO_EXIT = 2.7


class BusinessClock(Protocol):
    """What an SLA judgement needs of a business-hours calendar (core.business_hours)."""

    def business_ms(self, start_ms: int, end_ms: int) -> int: ...


def within_sla(elapsed_ms: int, sla_s: int) -> bool:
    """*Within SLA* means at most the SLA (the boundary itself is within)."""
    return elapsed_ms <= sla_s * 1000


def within_sla_between(start_ms: int, end_ms: int, sla_s: int,
                       calendar: BusinessClock | None = None) -> bool:
    """Within SLA from ``start_ms`` to ``end_ms``: wall time, or the calendar's business
    time when the channel has one (SPEC §7) — the same "at most the SLA" rule."""
    elapsed = end_ms - start_ms if calendar is None else calendar.business_ms(start_ms, end_ms)
    return within_sla(elapsed, sla_s)


def overdue(start_ms: int, now_ms: int, sla_s: int,
            calendar: BusinessClock | None = None) -> bool:
    """Waiting strictly longer than the SLA at ``now_ms`` (the overdue gauges): the
    complement of :func:`within_sla_between`, so a wait of exactly the SLA is not overdue.
    A timer form of it is ``now >= calendar.deadline_ms(start, sla_ms + 1)``."""
    return not within_sla_between(start_ms, now_ms, sla_s, calendar)


def in_window(ts_ms: int, clock_ms: int, window_s: int) -> bool:
    """An event counts in a window when ``clock - window < ts <= clock``."""
    return clock_ms - window_s * 1000 < ts_ms <= clock_ms


def csat_satisfied(csat: int) -> bool:
    """A CSAT rating of 4 or 5 is satisfied (``aftersales_window_csat_satisfied``)."""
    return csat >= 4


def nps_class(nps: int) -> str:
    """``promoter`` (9–10), ``detractor`` (0–6) or ``passive`` (7–8)."""
    if nps >= 9:
        return "promoter"
    if nps <= 6:
        return "detractor"
    return "passive"


def _share(part: float, whole: float, floor: int = 1) -> float | None:
    return part / whole if whole >= max(1, floor) else None


def attainment(within: int, total: int, min_total: int = 1) -> float | None:
    """Share judged within the SLA; None below ``min_total`` (nothing to judge)."""
    return _share(within, total, min_total)


def escalation_rate(escalations: int, created: int, min_created: int = 1) -> float | None:
    """Escalations ÷ tickets created in the same window; None below ``min_created``."""
    return _share(escalations, created, min_created)


def csat_share(satisfied: int, ratings: int) -> float | None:
    """Satisfied ÷ CSAT ratings; None without ratings."""
    return _share(satisfied, ratings)


def nps_score(promoters: int, detractors: int, ratings: int) -> float | None:
    """Net promoter score, −100 … +100; None without ratings."""
    return 100.0 * (promoters - detractors) / ratings if ratings > 0 else None


def return_rates(
    requested: Mapping[str, int], delivered: Mapping[str, int]
) -> dict[str, float]:
    """Returns requested ÷ orders delivered per region, plus ``all``; absent when 0 delivered."""
    rates = {r: requested.get(r, 0) / d for r, d in delivered.items() if d > 0}
    total = sum(delivered.values())
    if total > 0:
        rates["all"] = sum(requested.values()) / total
    return rates


def peak_ratio(created_short: int, short_s: float, created_long: int, long_s: float,
               covered_s: float | None = None) -> float:
    """Tickets per minute over the short window ÷ per minute over the long one (0 if none).

    ``covered_s`` is how much of the long window the history really holds: the baseline
    is divided by it (at most ``long_s``), so a fresh start — 15 minutes of data in a 24 h
    window — is not a 96× peak. None: the long window is taken as full, which is the
    literal SPEC §3 gauge ``aftersales_window_peak_ratio`` (what Prometheus can compute).
    """
    if created_long <= 0:
        return 0.0
    base_s = long_s if covered_s is None else max(min(long_s, covered_s), short_s)
    return (created_short / (short_s / 60.0)) / (created_long / (base_s / 60.0))


_FR_BOUNDS = (5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
_RES_BOUNDS = (600, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 432000, 604800)
_RET_BOUNDS = (3600, 21600, 43200, 86400, 129600, 172800, 259200, 432000, 604800)


def histogram_bounds(kind: str, slas: tuple[int, ...]) -> tuple[float, ...]:
    """Bucket boundaries for a histogram; every configured SLA is a boundary."""
    base = {"first_response": _FR_BOUNDS, "resolution": _RES_BOUNDS, "return": _RET_BOUNDS}[kind]
    return tuple(float(b) for b in sorted(set(base) | set(slas)))


# -- SPEC §7: the same SLA rules in a channel's business time ------------------------------


def sla_judge(sla_s: int, calendar: Calendar | None = None) -> Callable[[int, int], bool]:
    """``within(start_ms, end_ms)``: :func:`within_sla` of the time waited from start to
    end — wall time, or the calendar's business time for a channel with one (SPEC §7).
    Built once per channel at start-up, so the hot path is one look-up and one call."""
    limit = sla_s * 1000
    if calendar is None:
        return lambda start_ms, end_ms: end_ms - start_ms <= limit
    business = calendar.business_ms
    return lambda start_ms, end_ms: business(start_ms, end_ms) <= limit


def overdue_from_ms(start_ms: int, sla_ms: int, calendar: Calendar | None = None) -> int:
    """The first instant at which a wait from ``start_ms`` is over the SLA (overdue means
    strictly more than the SLA, the complement of :func:`within_sla`); later starts never
    give an earlier instant, so a start-sorted index has its overdue items as a prefix."""
    if calendar is None:
        return start_ms + sla_ms + 1
    return calendar.deadline_ms(start_ms, sla_ms + 1)


def waited_ms(start_ms: int, end_ms: int, calendar: Calendar | None = None) -> int:
    """What an SLA judges: business time where the channel has a calendar, else wall time."""
    return end_ms - start_ms if calendar is None else calendar.business_ms(start_ms, end_ms)


__all__ += ["overdue_from_ms", "sla_judge", "waited_ms"]
