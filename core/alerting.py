"""What the alert evaluator tells the rest of the system (board, collector, sinks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ActiveAlert",
    "AlertView",
    "Notification",
    "ProfileState",
    "TileThreshold",
    "compare",
]


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """One alert episode that is firing now."""

    name: str  # rule name, e.g. "FirstResponseSlaLow"
    severity: str  # "critical" | "warning" | "info"
    labels: tuple[tuple[str, str], ...]  # e.g. (("region", "south"),) for per-series rules
    summary_zh: str
    summary_en: str
    description_zh: str
    description_en: str
    since_ms: int  # event-time clock when it started firing
    value: float  # the current value of the expression
    threshold: float  # the threshold in force (of the active profile)
    comparison: str  # ">", ">=", "<", "<=", "==", "!="
    profile: str  # "normal" or "peak"
    # the message for the resolved notification ("peak over"); empty: the summary
    resolved_summary_zh: str = ""
    resolved_summary_en: str = ""
    unit: str = ""  # of value and threshold: ratio | count | per_min | seconds | messages | factor

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """One episode's identity: rule name and label set."""
        return (self.name, self.labels)

    def resolved_summary(self, lang: str) -> str:
        text = self.resolved_summary_en if lang == "en" else self.resolved_summary_zh
        return text or self.summary(lang)

    def summary(self, lang: str) -> str:
        return self.summary_en if lang == "en" else self.summary_zh

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" else self.description_zh


@dataclass(frozen=True, slots=True)
class Notification:
    """A message for the sinks: one ``firing`` and one ``resolved`` per episode (+ repeats)."""

    status: str  # "firing" | "resolved"
    alert: ActiveAlert
    at_ms: int  # event-time clock of the transition
    ends_ms: int | None = None  # set when resolved
    repeat: bool = False  # a reminder of a long episode (repeat_interval), not a new one
    # why a resolved episode ended when it is not a recovery seen in the data: "log_reset"
    # (the log went back and the state was rebuilt from what is left) or "rebuilt" (the
    # state was rebuilt and no longer shows the episode); "" for a plain recovery
    reason: str = ""


def compare(op: str, value: float, threshold: float) -> bool:
    """``value op threshold`` for the comparisons a rule may use (>, >=, <, <=, ==, !=)."""
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == "==":
        return value == threshold
    return value != threshold


@dataclass(frozen=True, slots=True)
class TileThreshold:
    """Traffic-light bounds for one wall-board tile, from the rule that watches it.

    Red when ``value op red`` holds (the fire threshold in force), amber when
    ``value op amber`` holds (the rule's ``warn``; None: no amber), green otherwise.
    """

    rule: str
    op: str
    red: float
    amber: float | None
    unit: str
    profile: str

    def light(self, value: float | None) -> str:
        """``green``, ``amber``, ``red`` — or ``none`` when there is no value."""
        if value is None:
            return "none"
        if compare(self.op, value, self.red):
            return "red"
        if self.amber is not None and compare(self.op, value, self.amber):
            return "amber"
        return "green"


@dataclass(frozen=True, slots=True)
class ProfileState:
    """The threshold profile in force (SPEC §4), and why: what the evaluator decided."""

    name: str  # "normal" | "peak"
    reason: str | None = None  # "promotion" | "peak_ratio" | None
    promotion: str | None = None  # the promotion period in force, if any
    peak_ratio: float | None = None  # the ratio the decision was taken on (history-aware)
    since_ms: int = 0


class AlertView(Protocol):
    """What the board (and any other reader) may ask of the alert evaluator, on any thread.

    ``alerts.alerting.Alerting`` implements it; the board depends on this protocol only,
    never on the alerts package.
    """

    def active_alerts(self) -> tuple[ActiveAlert, ...]:
        """Firing episodes, most severe first, then oldest first."""
        ...

    @property
    def profile(self) -> ProfileState:
        """The profile in force, its reason and promotion, as last evaluated."""
        ...

    def thresholds(self, profile: str | None = None) -> Mapping[str, TileThreshold]:
        """Tile → traffic-light bounds of the rule file under ``profile`` (default: in force)."""
        ...

    def peak_periods(self) -> tuple[tuple[int, int | None], ...]:
        """Event-time spans of the peak profile, oldest first; the open one ends in None."""
        ...
