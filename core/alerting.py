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
