"""Where the board's numbers come from: the in-process engine, or Prometheus.

Both sources answer :meth:`BoardSource.read` with one :class:`BoardData` — a
:class:`~core.snapshot.Snapshot` plus what the alert evaluator knows — so the same
pure view code (``dashboard.view``) draws both, and both show the same numbers for the
same data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.alerting import ActiveAlert, AlertView
from core.business_hours import BusinessHours, BusinessHoursConfig
from core.config import Config, ScoreConfig, SlaConfig
from core.definitions import PEAK_RATIO_ENTER
from core.errors import ConfigError
from core.events import CHANNELS, OTHER
from core.promotions import active_promotion as _active_promotion
from core.promotions import promotions_from_config
from core.snapshot import Snapshot

__all__ = [
    "PEAK_RATIO",
    "BoardData",
    "BoardSettings",
    "BoardSource",
    "Bounds",
    "EngineSource",
    "Threshold",
    "active_promotion",
    "profile_of",
]

PEAK_RATIO = PEAK_RATIO_ENTER  # SPEC §4, used only when no evaluator decides the profile


class Threshold(Protocol):
    """Traffic-light bounds of one tile, from the rule that watches it (the rule file)."""

    def light(self, value: float | None) -> str:
        """``green``, ``amber``, ``red``, or ``none`` when there is no value."""
        ...


@dataclass(frozen=True, slots=True)
class Bounds:
    """``(warn, crit)`` as a :class:`Threshold`; ``warn > crit`` means lower is worse.
    For callers with fixed bounds (tests, a rule's export): the board copies none."""

    warn: float
    crit: float

    def light(self, value: float | None) -> str:
        if value is None:
            return "none"
        if self.warn <= self.crit:
            return "red" if value >= self.crit else "amber" if value >= self.warn else "green"
        return "red" if value <= self.crit else "amber" if value <= self.warn else "green"


@dataclass(frozen=True, slots=True)
class BoardSettings:
    """What the board judges against, passed in by the wiring from the service config:
    the SLAs (first response, every later response, resolution), the business-hours
    calendars (which channels count business time) and the platform scores (titles,
    targets)."""

    sla: SlaConfig = field(default_factory=SlaConfig)
    business_hours: BusinessHoursConfig = field(default_factory=BusinessHoursConfig)
    scores: tuple[ScoreConfig, ...] = ()
    _with_calendar: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the rule's one home is BusinessHours.sla_calendar; asked once per channel here
        hours = BusinessHours(self.business_hours)
        with_calendar = frozenset(ch for ch in (*CHANNELS, OTHER, *self.business_hours.channels)
                                  if hours.sla_calendar(ch) is not None)
        object.__setattr__(self, "_with_calendar", with_calendar)

    @classmethod
    def from_config(cls, config: Config) -> BoardSettings:
        return cls(config.sla, config.business_hours, tuple(config.scores))

    def first_response_sla_s(self) -> dict[str, float]:
        """First-response SLA seconds by channel, ``other`` included (it takes email's)."""
        out = {ch: float(v) for ch, v in self.sla.first_response_s.items()}
        out["other"] = float(self.sla.first_response("other"))
        return out

    def response_sla_s(self, channel: str) -> float:
        return float(self.sla.response(channel))

    def has_calendar(self, channel: str) -> bool:
        """Whether the channel's SLAs count business time (``other`` takes email's)."""
        return channel in self._with_calendar


@dataclass(frozen=True, slots=True)
class BoardData:
    """Everything one refresh draws. ``error`` says why ``snapshot`` may be missing/old."""

    snapshot: Snapshot | None
    alerts: tuple[ActiveAlert, ...] = ()
    profile: str = "normal"
    promotion: str | None = None
    # tile -> the bounds of the rule that watches it (empty: no evaluator, no lights)
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    peak_periods: tuple[tuple[int, int | None], ...] = ()  # (start ms, end ms or None)
    # the peak ratio the evaluator decided the profile on (history-aware, §4); None: none
    peak_ratio: float | None = None
    error: str | None = None
    has_ticket_details: bool = True
    has_alerts: bool = True
    settings: BoardSettings = field(default_factory=BoardSettings)
    # Prometheus mode: replicas whose act-now list could not be read (named in a note)
    act_now_missing: tuple[str, ...] = ()
    # Prometheus mode: how many replicas were asked for their list (None: the engine's own)
    act_now_replicas: int | None = None

    @property
    def first_response_sla_s(self) -> Mapping[str, float]:
        return self.settings.first_response_sla_s()


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


class EngineSource:
    """The in-process engine (``pulse run`` / ``pulse demo``) and its alert evaluator.

    The board reads the evaluator through ``core.alerting.AlertView`` only (``pulse``
    hands it over; the board imports no alerts code). Without an evaluator (alerting
    disabled) the tiles show their values without traffic lights: the thresholds belong
    to the rules, and the rules are off.
    """

    def __init__(self, latest: Callable[[], Snapshot | None],
                 alerting: AlertView | None = None,
                 settings: BoardSettings | None = None) -> None:
        self._latest = latest
        self._alerting = alerting
        self._settings = settings or BoardSettings()

    def read(self) -> BoardData:
        snap = self._latest()
        a = self._alerting
        if a is None:
            return BoardData(snap, profile=profile_of(snap, None), has_alerts=False,
                             settings=self._settings)
        prof = a.profile
        return BoardData(
            snapshot=snap,
            alerts=a.active_alerts(),
            profile=prof.name,
            promotion=prof.promotion or None,
            thresholds=dict(a.thresholds(prof.name)),
            peak_periods=a.peak_periods(),
            peak_ratio=prof.peak_ratio,
            settings=self._settings,
        )
