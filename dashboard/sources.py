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
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from core.alerting import ActiveAlert
from core.config import SlaConfig
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

PEAK_RATIO = 3.0  # SPEC §4: the peak profile applies while the peak ratio is ≥ 3


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
        tz = ZoneInfo(timezone)
    except (KeyError, ValueError):
        return None
    for p in promotions or ():
        try:
            start = datetime.fromisoformat(p.start)
            end = datetime.fromisoformat(p.end)
        except (AttributeError, TypeError, ValueError):
            continue
        start = start if start.tzinfo else start.replace(tzinfo=tz)
        end = end if end.tzinfo else end.replace(tzinfo=tz)
        if start.timestamp() * 1000 <= clock_ms < end.timestamp() * 1000:
            return str(p.name)
    return None


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


class EngineSource:
    """The in-process engine (``pulse run`` / ``pulse demo``) and its alert evaluator.

    ``sla`` is the service's SLA configuration; without it the evaluator's
    ``config.sla`` is used when it has one, else the SPEC defaults.
    """

    def __init__(self, latest: Callable[[], Snapshot | None], alerting: Any = None, *,
                 sla: SlaConfig | None = None) -> None:
        self._latest = latest
        self._alerting = alerting
        if sla is None:
            sla = getattr(getattr(alerting, "config", None), "sla", None)
        self._sla = first_response_sla(sla if isinstance(sla, SlaConfig) else None)

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
            has_alerts=alerts is not None,
            first_response_sla_s=self._sla,
        )
