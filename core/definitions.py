"""Pure definitions of SPEC §3, pinned by table tests (tests/metrics/test_definitions.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.business_calendar import Calendar

__all__ = [
    "csat_satisfied",
    "histogram_bounds",
    "in_window",
    "nps_class",
    "peak_ratio",
    "return_rates",
    "within_sla",
]


def within_sla(elapsed_ms: int, sla_s: int) -> bool:
    """*Within SLA* means at most the SLA (the boundary itself is within)."""
    return elapsed_ms <= sla_s * 1000


def in_window(ts_ms: int, clock_ms: int, window_s: int) -> bool:
    """An event counts in a window when ``clock - window < ts <= clock``."""
    return clock_ms - window_s * 1000 < ts_ms <= clock_ms


def csat_satisfied(csat: int) -> bool:
    return csat >= 4


def nps_class(nps: int) -> str:
    """``promoter`` (9–10), ``detractor`` (0–6) or ``passive`` (7–8)."""
    if nps >= 9:
        return "promoter"
    if nps <= 6:
        return "detractor"
    return "passive"


def return_rates(
    requested: Mapping[str, int], delivered: Mapping[str, int]
) -> dict[str, float]:
    """Returns requested ÷ orders delivered per region, plus ``all``; absent when 0 delivered."""
    rates = {r: requested.get(r, 0) / d for r, d in delivered.items() if d > 0}
    total = sum(delivered.values())
    if total > 0:
        rates["all"] = sum(requested.values()) / total
    return rates


def peak_ratio(created_short: int, short_s: int, created_long: int, long_s: int) -> float:
    """Tickets per minute over the short window ÷ per minute over the long one (0 if none)."""
    if created_long <= 0:
        return 0.0
    return (created_short / (short_s / 60.0)) / (created_long / (long_s / 60.0))


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
