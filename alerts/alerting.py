"""The alerting stage as the service sees it: rules + profiles + evaluator + notifier.

``Alerting.from_config(cfg)`` validates everything at start-up (rule file, promotions,
sinks) and raises a :class:`~core.errors.ConfigError` naming the bad key.
:meth:`Alerting.on_snapshot` runs on the consumer thread for every snapshot: it
evaluates on a fixed grid of the event-time clock (every ``eval_interval_s``) so a fast
replay and a live stream evaluate at the same event times, and hands notifications to
the notifier without waiting. Readers on other threads (board, collector) see one
immutable state, swapped whole after each evaluation.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerts.collector import AlertCollector
from alerts.evaluator import Evaluator
from alerts.notifier import Notifier
from alerts.profiles import NORMAL, PEAK, ProfileTracker
from alerts.rules import Rule, load_rules
from alerts.signals import SIGNALS
from alerts.sinks import Sink, SinkContext, build_sinks
from alerts.sinks.base import SinkOptions
from alerts.sinks.log import LogSink
from core.alerting import ActiveAlert, AlertView, Notification, ProfileState, TileThreshold
from core.config import Config
from core.definitions import PEAK_RATIO_ENTER, PEAK_RATIO_EXIT
from core.promotions import Promotion, promotions_from_config
from core.snapshot import Snapshot

__all__ = ["Alerting", "TileThreshold"]  # TileThreshold: re-exported from core.alerting

log = logging.getLogger(__name__)
_PEAK = SIGNALS["peak_ratio"]
_PEAK_PARAMS = {k: p.default for k, p in _PEAK.params.items()}
_NORMAL = ProfileState(NORMAL)
_PERIODS = 50  # peak periods remembered for the board's arrivals chart


@dataclass(frozen=True, slots=True)
class _State:
    active: tuple[ActiveAlert, ...] = ()
    profile: ProfileState = _NORMAL
    clock_ms: int | None = None
    peak_periods: tuple[tuple[int, int | None], ...] = ()


class Alerting(AlertView):
    """Build with :meth:`from_config`; the service calls :meth:`on_snapshot` and :meth:`close`.

    Readers (the board) see it as a :class:`core.alerting.AlertView`.
    """

    def __init__(
        self,
        rules: tuple[Rule, ...],
        sinks: Sequence[Sink] = (),
        *,
        promotions: tuple[Promotion, ...] = (),
        timezone: str = "Asia/Shanghai",
        eval_interval_s: int = 15,
        repeat_interval_s: int = 4 * 3600,
        peak_ratio_enter: float = PEAK_RATIO_ENTER,
        peak_ratio_exit: float = PEAK_RATIO_EXIT,
        notifier: Notifier | None = None,
        history: int = 200,
    ) -> None:
        self.rules = rules
        self.timezone = ZoneInfo(timezone)
        self.promotions = promotions
        self.eval_interval_ms = max(1, int(eval_interval_s * 1000))
        self.tracker = ProfileTracker(promotions, peak_ratio_enter, peak_ratio_exit)
        self.evaluator = Evaluator(rules, repeat_interval_s)
        self.notifier = notifier or Notifier(sinks)
        self.collector = AlertCollector(self)
        self.history: deque[Notification] = deque(maxlen=history)
        self._state = _State()
        self._next_eval_ms = 0
        self._seen_rebuilds: tuple[int, int] | None = None  # (rebuilds, log resets)

    @classmethod
    def from_config(cls, cfg: Config) -> Alerting:
        ac = cfg.alerting
        if ac.eval_interval_s <= 0:
            from core.errors import ConfigError

            raise ConfigError("alerting.eval_interval_s: must be positive")
        rules = load_rules(ac.rules_file or None, windows=cfg.windows)
        promotions = promotions_from_config(ac.promotions, ac.timezone)
        context = SinkContext(
            timezone=ZoneInfo(ac.timezone),
            generator_url=f"http://{cfg.metrics_host}:{cfg.metrics_port}/metrics",
        )
        sinks = build_sinks(ac.sinks, context) if ac.sinks else [
            LogSink(SinkOptions("log", "log"), context)]
        return cls(rules, sinks, promotions=promotions, timezone=ac.timezone,
                   eval_interval_s=ac.eval_interval_s, repeat_interval_s=ac.repeat_interval_s,
                   peak_ratio_enter=ac.peak_ratio_enter, peak_ratio_exit=ac.peak_ratio_exit)

    # -- the consumer thread ---------------------------------------------------------
    def on_snapshot(self, snap: Snapshot) -> None:
        """Evaluate when the clock reaches the next grid point; never blocks on a sink."""
        if not snap.ready:
            return
        after = self._rebuilt(snap)
        if after or snap.clock_ms >= self._next_eval_ms:
            step = self.eval_interval_ms
            self._next_eval_ms = (snap.clock_ms // step + 1) * step
            self.evaluate(snap, after)
        self.notifier.refresh(self._state.active)

    def _rebuilt(self, snap: Snapshot) -> str:
        """"log_reset" or "rebuilt" on the first ready snapshot of a rebuilt state.

        Judgement is held while the reader rebuilds (only ready snapshots come here);
        the rebuilt state is then judged at once, wherever its clock is, so an episode
        it no longer shows ends with the reason, not as a plain recovery."""
        seen = (snap.rebuilds, sum(snap.log_resets.values()))
        before, self._seen_rebuilds = self._seen_rebuilds, seen
        if before is None or seen == before:
            return ""
        return "log_reset" if seen[1] > before[1] else "rebuilt"

    def evaluate(self, snap: Snapshot, after: str = "") -> list[Notification]:
        """One evaluation, timed at the grid point at or before the clock.

        Times (``for``, ``since_ms``, ``at_ms``) are grid points, so a replay — whose
        snapshots land just past each grid point — and a live stream — whose snapshots
        come every half second — agree on them to the millisecond.
        """
        step = self.eval_interval_ms
        now = snap.clock_ms // step * step
        ratio = _PEAK.compute(snap, self.evaluator.context, _PEAK_PARAMS).get(())
        before = self._state.profile
        profile = self.tracker.update(now, ratio)
        periods = self._state.peak_periods
        if profile.name != before.name:
            log.info("alert profile %s -> %s (%s)", before.name, profile.name,
                     profile.promotion or profile.reason or "peak ratio below the exit")
            if profile.name == PEAK:
                periods = (*periods, (now, None))[-_PERIODS:]
            elif periods and periods[-1][1] is None:
                periods = (*periods[:-1], (periods[-1][0], now))
        notes = self.evaluator.evaluate(snap, profile, now, after)
        if ended := sum(1 for n in notes if n.reason):
            log.warning("%d alert episode(s) ended on the state rebuilt after %s", ended,
                        "a log reset" if after == "log_reset" else "a rebuild")
        self._state = _State(self.evaluator.active, profile, now, periods)
        self.history.extend(notes)
        self.notifier.submit(notes)
        return notes

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, waiting at most ``timeout_s`` for the sinks."""
        self.notifier.close(timeout_s)

    # -- readers (board, collector, tests): any thread ---------------------------------
    def active_alerts(self) -> tuple[ActiveAlert, ...]:
        """Firing episodes, most severe first, then oldest first."""
        return self._state.active

    @property
    def profile(self) -> ProfileState:
        """The profile in force: ``.name`` (normal/peak), ``.reason``, ``.promotion``."""
        return self._state.profile

    def peak_periods(self) -> tuple[tuple[int, int | None], ...]:
        """Event-time spans of the peak profile, oldest first; the open one ends in None."""
        return self._state.peak_periods

    @property
    def last_evaluation_ms(self) -> int | None:
        return self._state.clock_ms

    def thresholds(self, profile: str | None = None) -> dict[str, TileThreshold]:
        """Tile name (a rule's ``tile``) → traffic-light bounds under ``profile`` (default:
        the one in force). Tiles: sla_attainment, overdue, escalation_rate, return_rate,
        peak_ratio with the shipped rules."""
        name = profile or self._state.profile.name
        out: dict[str, TileThreshold] = {}
        for rule in self.rules:
            if rule.tile:
                th = rule.thresholds(name)
                out[rule.tile] = TileThreshold(rule.name, rule.op, th.threshold, th.warn,
                                               rule.signal.unit, name)
        return out
