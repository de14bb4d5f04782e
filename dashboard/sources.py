"""Where the board's numbers come from: the in-process engine, or Prometheus.

Both sources answer :meth:`BoardSource.read` with one :class:`BoardData` — a
:class:`~core.snapshot.Snapshot` plus what the alert evaluator knows — so the same
pure view code (``dashboard.view``) draws both, and both show the same numbers for the
same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.alerting import ActiveAlert
from core.config import SlaConfig
from core.definitions import PEAK_RATIO_ENTER
from core.errors import ConfigError
from core.promotions import active_promotion as _active_promotion
from core.promotions import promotions_from_config
from core.snapshot import Snapshot

__all__ = [
    "PEAK_RATIO",
    "BoardData",
    "BoardSource",
    "EngineSource",
    "active_promotion",
    "first_response_sla",
    "profile_of",
]

log = logging.getLogger(__name__)

PEAK_RATIO = PEAK_RATIO_ENTER  # SPEC §4, used only when no evaluator decides the profile


@dataclass(frozen=True, slots=True)
class BoardData:
    """Everything one refresh draws. ``error`` says why ``snapshot`` may be missing/old."""

    snapshot: Snapshot | None
    alerts: tuple[ActiveAlert, ...] = ()
    profile: str = "normal"
    promotion: str | None = None
    # tile → (warn, crit), or an object with light(value) -> green/amber/red (a rule's)
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    peak_periods: tuple[tuple[int, int | None], ...] = ()  # (start ms, end ms or None)
    # the peak ratio the evaluator decided the profile on (history-aware, §4); None: none
    peak_ratio: float | None = None
    error: str | None = None
    has_ticket_details: bool = True  # Prometheus carries no ticket ids
    has_alerts: bool = True
    first_response_sla_s: Mapping[str, float] = field(
        default_factory=lambda: first_response_sla(None)
    )


class BoardSource(Protocol):
    """Anything the board can poll; ``read`` is called once per refresh and per session."""

    def read(self) -> BoardData: ...


def profile_of(snapshot: Snapshot | None, promotion: str | None) -> str:
    """The alert profile when no evaluator says otherwise (SPEC §4)."""
    if promotion:
        return "peak"
    if snapshot is not None and snapshot.peak_ratio >= PEAK_RATIO:
        return "peak"
    return "normal"


def active_promotion(promotions: Any, timezone: str, clock_ms: int) -> str | None:
    """The name of the configured promotion period that contains ``clock_ms``, if any."""
    try:
        found = _active_promotion(promotions_from_config(promotions or (), timezone), clock_ms)
    except ConfigError:
        return None
    return found.name if found else None


def first_response_sla(sla: SlaConfig | None) -> dict[str, float]:
    """First-response SLA seconds by channel, ``other`` included (it takes email's)."""
    cfg = sla or SlaConfig()
    out = {ch: float(v) for ch, v in cfg.first_response_s.items()}
    out["other"] = float(cfg.first_response("other"))
    return out


def _ask(obj: Any, name: str, *args: Any) -> Any:
    """``obj.name`` (called when it is a method); ``None`` when missing or failing.

    The evaluator is written separately and may be absent, older or newer: a missing or
    failing piece of it must cost the board that piece only, never the whole screen.
    """
    if obj is None:
        return None
    try:
        value = getattr(obj, name, None)
        if callable(value):
            value = value(*args)
    except Exception:  # the board must keep drawing whatever the evaluator does
        log.debug("alerting.%s failed", name, exc_info=True)
        return None
    return value


def _thresholds(raw: Any) -> dict[str, Any]:
    """Tile → ``(warn, crit)`` pairs or objects with ``light(value)`` (the rule's own)."""
    out: dict[str, Any] = {}
    if isinstance(raw, Mapping):
        for key, th in raw.items():
            if callable(getattr(th, "light", None)):
                out[str(key)] = th
                continue
            try:
                warn, crit = th
                out[str(key)] = (float(warn), float(crit))
            except (TypeError, ValueError):
                continue
    return out


def _periods(raw: Any) -> tuple[tuple[int, int | None], ...]:
    out: list[tuple[int, int | None]] = []
    for item in raw or ():
        try:
            start, end = item[0], item[1]
            out.append((int(start), None if end is None else int(end)))
        except (TypeError, ValueError, IndexError):
            continue
    return tuple(out)


def _ratio(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) else None


class EngineSource:
    """The in-process engine (``pulse run`` / ``pulse demo``) and its alert evaluator.

    ``sla`` is the service's SLA configuration (passed by ``pulse.app``); without it the
    SPEC defaults.
    """

    def __init__(self, latest: Callable[[], Snapshot | None], alerting: Any = None, *,
                 sla: SlaConfig | None = None) -> None:
        self._latest = latest
        self._alerting = alerting
        self._sla = first_response_sla(sla)

    def read(self) -> BoardData:
        snap = self._latest()
        a = self._alerting
        if a is None:
            return BoardData(snap, profile=profile_of(snap, None), has_alerts=False,
                             first_response_sla_s=self._sla)
        alerts = _ask(a, "active_alerts")
        if alerts is None:
            alerts = _ask(a, "active")
        prof = _ask(a, "profile")  # a name, or an object with .name and .promotion
        profile: Any
        promotion: Any
        if isinstance(prof, str):
            profile, promotion = prof, _ask(a, "promotion")
        else:
            profile, promotion = getattr(prof, "name", None), getattr(prof, "promotion", None)
        if profile not in ("normal", "peak"):
            profile = profile_of(snap, promotion)
        return BoardData(
            snapshot=snap,
            alerts=tuple(x for x in alerts or () if isinstance(x, ActiveAlert)),
            profile=profile,
            promotion=str(promotion) if promotion else None,
            thresholds=_thresholds(_ask(a, "thresholds", profile)),
            peak_periods=_periods(_ask(a, "peak_periods")),
            peak_ratio=_ratio(getattr(prof, "peak_ratio", None)),
            has_alerts=alerts is not None,
            first_response_sla_s=self._sla,
        )
