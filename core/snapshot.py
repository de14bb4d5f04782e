"""One consistent, immutable view of the engine at one clock reading.

The collector, the alert evaluator and the wall-board all read the same snapshot, so
every surface agrees on every number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.definitions import attainment, csat_share, escalation_rate, nps_score

__all__ = [
    "CHECKPOINT_RESULTS",
    "TODAY",
    "ActionTicket",
    "ConsumerHealth",
    "HistogramData",
    "Snapshot",
    "WindowSnapshot",
    "replace_snapshot",
]

TODAY = "today"
"""The calendar window's name (``window`` label): local midnight to the clock (SPEC §2)."""


@dataclass(frozen=True, slots=True)
class HistogramData:
    """Cumulative bucket counts (Prometheus style); ``bounds`` excludes +Inf."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # len(bounds) + 1, the last one is the +Inf bucket == count
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """Counts of events with ``clock - window < ts <= clock``; label-keyed mappings."""

    name: str
    seconds: int
    tickets_created: Mapping[str, int]  # channel
    first_responses: Mapping[str, int]  # channel
    first_responses_within_sla: Mapping[str, int]  # channel
    first_response_quantiles: Mapping[str, Mapping[float, float]]  # channel -> q -> seconds
    resolutions: Mapping[str, int]  # priority
    resolutions_within_sla: Mapping[str, int]  # priority
    resolutions_first_contact: int
    resolutions_by_bot: int
    escalations: int
    transfers: int
    reopens: int
    csat_ratings: int
    csat_satisfied: int
    nps_ratings: int
    nps_promoters: int
    nps_detractors: int
    orders_delivered: Mapping[str, int]  # region
    deliveries_late: Mapping[str, int]  # region
    returns_requested: Mapping[str, int]  # region
    returns_by_reason: Mapping[str, int]  # reason
    return_rate: Mapping[str, float]  # region incl. "all"; absent where nothing was delivered
    # channel -> sum of the first-response seconds in the window (the count is
    # first_responses): with the quantiles, a Prometheus summary
    first_response_sum_s: Mapping[str, float] = field(default_factory=dict)
    # SPEC §7 conversation turns: turns at their start, responses at the answering reply
    turns: Mapping[str, int] = field(default_factory=dict)  # channel
    responses: Mapping[str, int] = field(default_factory=dict)  # channel
    responses_within_sla: Mapping[str, int] = field(default_factory=dict)  # channel
    response_quantiles: Mapping[str, Mapping[float, float]] = field(default_factory=dict)
    response_sum_s: Mapping[str, float] = field(default_factory=dict)  # channel
    # SPEC §7 platform scores: decided turns at the moment of decision
    score_turns: Mapping[str, int] = field(default_factory=dict)  # score
    score_turns_within: Mapping[str, int] = field(default_factory=dict)  # score

    @property
    def first_response_sla_attainment(self) -> float | None:
        return attainment(sum(self.first_responses_within_sla.values()),
                          sum(self.first_responses.values()))

    @property
    def escalation_rate(self) -> float | None:
        return escalation_rate(self.escalations, sum(self.tickets_created.values()))

    @property
    def csat_share(self) -> float | None:
        return csat_share(self.csat_satisfied, self.csat_ratings)

    @property
    def nps(self) -> float | None:
        return nps_score(self.nps_promoters, self.nps_detractors, self.nps_ratings)


@dataclass(frozen=True, slots=True)
class ActionTicket:
    """A ticket a supervisor should send someone to now."""

    ticket_id: str
    channel: str
    priority: str
    region: str
    age_s: float
    sla_s: float  # the SLA the age is measured against
    kind: str  # "unanswered" (first-response SLA), "awaiting" (a later turn, response SLA)
    # or "overdue" (resolution SLA); age_s is wall time, sla_s the SLA it is judged against
    # the age in the channel's business time (§7), what the SLA judges; None: no calendar
    business_age_s: float | None = None


# aftersales_checkpoint_loads_total{result}: how loading a partition's checkpoint went
CHECKPOINT_RESULTS = ("loaded", "missing", "corrupt", "other_version", "other_config",
                      "other_log", "unreadable")


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """What the reader knows about Kafka, not a function of the events: the reader
    outlives the engines it rebuilds, so this record is built by it and attached to
    each snapshot (the defaults describe a pipeline without a broker, as in tests)."""

    ready: bool = True  # every assigned partition folded up to its fetch high watermark
    broker_up: bool = True
    # messages behind the fetch high watermark, (topic, partition)
    lag: Mapping[tuple[str, int], int] = field(default_factory=dict)
    # next offset to fold in, per (topic, partition): Kafka's own record count, which
    # continues across restarts, rebuilds and partition moves (aftersales_records_read_total)
    offsets: Mapping[tuple[str, int], int] = field(default_factory=dict)
    # rejected messages the DLQ could not take, (source topic, reason): since process
    # start (a DLQ copy is made once, past the committed offset; a restart does not redo it)
    dead_letter_failures: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # how many rebuilds the reader ran (each assignment, each log reset) and the log
    # resets per topic since process start; listeners compare them between snapshots to
    # know the state was rebuilt
    rebuilds: int = 0
    log_resets: Mapping[str, int] = field(default_factory=dict)  # topic
    # checkpoint loads at assignments since process start, by result (CHECKPOINT_RESULTS)
    checkpoint_loads: Mapping[str, int] = field(default_factory=dict)


_HEALTH_KEYS = {"ready": "ready", "broker_up": "broker_up", "consumer_lag": "lag",
                "consumer_offsets": "offsets", "rebuilds": "rebuilds",
                "log_resets": "log_resets", "dead_letter_failures_total": "dead_letter_failures"}


def replace_snapshot(snap: Snapshot, **changes: Any) -> Snapshot:
    """``dataclasses.replace`` that also takes the health fields by their Snapshot names
    (``ready=False``, ``consumer_lag={...}``): for tests and sources that build snapshots."""
    health = {_HEALTH_KEYS[k]: changes.pop(k) for k in list(changes) if k in _HEALTH_KEYS}
    if health:
        changes["health"] = replace(snap.health, **health)
    return replace(snap, **changes)


@dataclass(frozen=True, slots=True)
class Snapshot:
    clock_ms: int
    wall_ms: int
    watermark_ms: int | None
    live: bool
    last_event_wall_ms: int | None
    # counters, since process start (after a rebuild: the log from the state horizon)
    events_total: Mapping[tuple[str, str], int]  # (topic, type)
    rejected_total: Mapping[tuple[str, str], int]  # (topic, reason)
    duplicate_total: Mapping[str, int]  # topic
    late_total: Mapping[str, int]  # topic
    orphan_total: Mapping[tuple[str, str], int]  # (topic, type)
    first_response_seconds: Mapping[str, HistogramData]  # channel
    resolution_seconds: Mapping[str, HistogramData]  # priority
    return_processing_seconds: Mapping[str, HistogramData]  # region
    # state gauges at the clock
    backlog: Mapping[tuple[str, str, str], int]  # (priority, category, region)
    unanswered: Mapping[str, int]  # channel
    first_response_overdue: Mapping[str, int]  # channel
    resolution_overdue: Mapping[str, int]  # priority
    oldest_unanswered_age_s: Mapping[str, float]  # channel
    returns_open: Mapping[str, int]  # region
    windows: Mapping[str, WindowSnapshot]  # "15m", "1h", "24h"
    peak_ratio: float
    # for the wall-board
    act_now: tuple[ActionTicket, ...] = ()
    arrivals_per_minute: tuple[tuple[int, int], ...] = ()  # (minute start ms, tickets created)
    # (priority, age bucket)
    backlog_by_age: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # for the alerts: unanswered and older than 2x the channel's first-response SLA
    first_response_overdue_2x: Mapping[str, int] = field(default_factory=dict)  # channel
    # start of the oldest minute of arrivals still held (at most the largest window back):
    # how much history the peak ratio's baseline really covers
    arrivals_since_ms: int | None = None
    # SPEC §7: every answered turn (first responses included), wall time
    response_seconds: Mapping[str, HistogramData] = field(default_factory=dict)  # channel
    # (topic, partition) -> window -> gauge -> count: the headline window counts per source
    # partition (metrics.slots.PARTITION_GAUGES), to bridge a handover between replicas
    partition_windows: Mapping[tuple[str, int], Mapping[str, Mapping[str, int]]] = field(
        default_factory=dict)
    # decided score turns (§7), by score name
    score_turns_total: Mapping[str, int] = field(default_factory=dict)
    score_turns_within_total: Mapping[str, int] = field(default_factory=dict)
    # the configured target of each score (its `target`), for the board and the alerts
    score_targets: Mapping[str, float] = field(default_factory=dict)
    # SPEC §7 state gauges, by channel: open tickets in an unanswered turn, those waiting
    # longer than the response SLA (business time where the channel has a calendar), the
    # same beyond 2x (for the alert), and the oldest wait (wall time, 0 when none)
    awaiting_reply: Mapping[str, int] = field(default_factory=dict)
    response_overdue: Mapping[str, int] = field(default_factory=dict)
    response_overdue_2x: Mapping[str, int] = field(default_factory=dict)
    oldest_awaiting_reply_age_s: Mapping[str, float] = field(default_factory=dict)
    # channel -> its business-hours calendar is open at the clock (True without one)
    business_hours_open: Mapping[str, bool] = field(default_factory=dict)
    # record batches skipped undecoded, (topic, reason): a function of the log, like the
    # counters above (a rebuild reads the batches again)
    consumer_errors_total: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # the reader's view of Kafka, kept apart from what the engine computed
    health: ConsumerHealth = field(default_factory=ConsumerHealth)

    # the health fields, read as before by the collector, the alerts and the board
    @property
    def ready(self) -> bool:
        return self.health.ready

    @property
    def consumer_lag(self) -> Mapping[tuple[str, int], int]:
        return self.health.lag

    @property
    def consumer_offsets(self) -> Mapping[tuple[str, int], int]:
        return self.health.offsets

    @property
    def broker_up(self) -> bool:
        return self.health.broker_up

    @property
    def dead_letter_failures_total(self) -> Mapping[tuple[str, str], int]:
        return self.health.dead_letter_failures

    @property
    def rebuilds(self) -> int:
        return self.health.rebuilds

    @property
    def log_resets(self) -> Mapping[str, int]:
        return self.health.log_resets

    @property
    def clock_s(self) -> float:
        return self.clock_ms / 1000.0

    @property
    def last_event_age_s(self) -> float | None:
        if self.last_event_wall_ms is None:
            return None
        return max(0.0, (self.wall_ms - self.last_event_wall_ms) / 1000.0)

    @property
    def total_backlog(self) -> int:
        return sum(self.backlog.values())

    @property
    def sliding_windows(self) -> Mapping[str, WindowSnapshot]:
        """``windows`` without the calendar window ``today``, whose length changes through
        the day (0 s at midnight): for rates per minute and "the shortest/longest window"."""
        return {k: w for k, w in self.windows.items() if k != TODAY}
