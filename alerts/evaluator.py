"""The in-process rule evaluator: snapshots in, alert episodes and notifications out.

Time is the snapshot's event-time clock (``snapshot.clock_ms``), never the wall clock,
so a replay of a day fires the same alerts at the same event times as the live day did.
Each rule and label set is one episode with the states of Prometheus (inactive →
pending for ``for`` → firing), plus what Prometheus lacks: a clear threshold distinct
from the fire threshold (hysteresis), and exactly one ``firing`` and one ``resolved``
notification per episode, with a reminder every ``repeat_interval`` of a long one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from alerts.profiles import Profile
from alerts.render import fill, format_value
from alerts.rules import SEVERITIES, Rule, Thresholds
from alerts.signals import Labels, SignalContext, parse_duration
from core.alerting import ActiveAlert, Notification, compare
from core.snapshot import Snapshot

__all__ = ["Evaluator"]

log = logging.getLogger(__name__)


@dataclass
class _Episode:
    pending_ms: int
    firing_ms: int | None = None
    last_sent_ms: int = 0
    alert: ActiveAlert | None = None


def _history_ms(rules: Iterable[Rule]) -> int:
    """How much backlog history the signals need (the longest ``range`` parameter)."""
    longest = 600
    for r in rules:
        for key, value in r.params:
            if key == "range":
                longest = max(longest, parse_duration(value))
    return longest * 1000 + 60_000


class Evaluator:
    """Single-threaded: the consumer thread calls :meth:`evaluate`; readers use :attr:`active`."""

    def __init__(self, rules: tuple[Rule, ...], repeat_interval_s: int = 4 * 3600) -> None:
        self.rules = rules
        self.repeat_interval_s = repeat_interval_s
        self.context = SignalContext(keep_ms=_history_ms(rules))
        self._episodes: dict[tuple[str, Labels], _Episode] = {}
        self.active: tuple[ActiveAlert, ...] = ()
        self._after = ""

    def evaluate(self, snap: Snapshot, profile: Profile,
                 now_ms: int | None = None, after: str = "") -> list[Notification]:
        """One evaluation at ``now_ms`` (default ``snap.clock_ms``); returns notifications.

        ``after`` is set on the first evaluation of a rebuilt state: "log_reset" (the log
        went back) or "rebuilt". An episode that ends then did not recover in the data:
        its resolved notification carries the reason. After a log reset nothing judged on
        the old log carries over: pending episodes restart and the history is dropped.
        """
        now = snap.clock_ms if now_ms is None else now_ms
        if after == "log_reset":
            self.context.backlog.clear()
            self._episodes = {k: ep for k, ep in self._episodes.items()
                              if ep.firing_ms is not None}
        self._after = after
        self.context.record(snap)
        out: list[Notification] = []
        for rule in self.rules:
            try:
                values = rule.signal.compute(snap, self.context, rule.param_map)
            except Exception:  # a broken signal must not stop the other rules or the stream
                log.exception("signal %s of rule %s failed", rule.signal.name, rule.name)
                continue
            th = rule.thresholds(profile.name)
            known = {k for (name, k) in self._episodes if name == rule.name}
            for key in sorted(set(values) | known):
                note = self._step(rule, key, values.get(key), th, profile, now)
                if note is not None:
                    out.append(note)
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        self.active = tuple(sorted(
            (ep.alert for ep in self._episodes.values()
             if ep.firing_ms is not None and ep.alert is not None),
            key=lambda a: (-rank.get(a.severity, 0), a.since_ms, a.name, a.labels),
        ))
        return out

    def _step(self, rule: Rule, key: Labels, value: float | None, th: Thresholds,
              profile: Profile, now: int) -> Notification | None:
        ident = (rule.name, key)
        ep = self._episodes.get(ident)
        if ep is None or ep.firing_ms is None:
            if value is None or not compare(rule.op, value, th.threshold):
                self._episodes.pop(ident, None)  # a pending episode ends quietly
                return None
            if ep is None:
                ep = self._episodes[ident] = _Episode(pending_ms=now)
            if now - ep.pending_ms < rule.for_s * 1000:
                return None
            ep.firing_ms = ep.last_sent_ms = now
            ep.alert = self._alert(rule, key, value, th, profile, now)
            return Notification("firing", ep.alert, now)
        assert ep.alert is not None
        if value is None or not compare(rule.op, value, th.clear):
            del self._episodes[ident]
            last = value if value is not None else ep.alert.value
            alert = self._alert(rule, key, last, th, profile, ep.firing_ms)
            # after a log reset no end is a recovery; after a rebuild, a vanished series
            reason = self._after if self._after == "log_reset" or (
                self._after and value is None) else ""
            return Notification("resolved", alert, now, ends_ms=max(now, ep.firing_ms),
                                reason=reason)
        ep.alert = self._alert(rule, key, value, th, profile, ep.firing_ms)
        repeat_s = rule.repeat_interval_s or self.repeat_interval_s
        if repeat_s and now - ep.last_sent_ms >= repeat_s * 1000:
            ep.last_sent_ms = now
            return Notification("firing", ep.alert, now, repeat=True)
        return None

    @staticmethod
    def _alert(rule: Rule, key: Labels, value: float, th: Thresholds, profile: Profile,
               since_ms: int) -> ActiveAlert:
        unit = rule.signal.unit
        subs = {"value": format_value(unit, value), "threshold": format_value(unit, th.threshold),
                **dict(key)}
        rs = rule.resolved_summary
        return ActiveAlert(
            name=rule.name,
            severity=rule.severity,
            labels=tuple(sorted((*rule.labels, *key))),
            summary_zh=fill(rule.summary.zh, subs),
            summary_en=fill(rule.summary.en, subs),
            description_zh=fill(rule.description.zh, subs),
            description_en=fill(rule.description.en, subs),
            since_ms=since_ms,
            value=value,
            threshold=th.threshold,
            comparison=rule.op,
            profile=profile.name,
            resolved_summary_zh=fill(rs.zh, subs) if rs else "",
            resolved_summary_en=fill(rs.en, subs) if rs else "",
            unit=unit,
        )
