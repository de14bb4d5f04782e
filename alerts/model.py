"""What the alert evaluator tells the rest of the system (board, collector, sinks)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ActiveAlert", "Notification"]


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
