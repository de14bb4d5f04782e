"""A custom Prometheus collector: every family of SPEC §3 from one snapshot per scrape.

Series are emitted for every label value of the fixed vocabularies (zeros included), so
dashboards never see a series appear or vanish, and no event field can add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from core.snapshot import CHECKPOINT_RESULTS, HistogramData, Snapshot, WindowSnapshot

__all__ = ["BuildInfoCollector", "SnapshotCollector"]


def _fmt_bound(b: float) -> str:
    """Bucket bounds as client_python writes them (``30.0``), so every parser agrees."""
    return str(floatToGoString(b))  # type: ignore[no-untyped-call]


def _window_summary(name: str, doc: str, ws: list[WindowSnapshot], count: str,
                    quantiles: str, sums: str) -> Metric:
    """Window quantiles as a summary (the type a ``quantile`` label belongs to, so
    ``promtool check metrics`` is clean), with ``_count`` and ``_sum`` over the window for
    every channel. The quantile series keep their names, labels and values. ``count``,
    ``quantiles`` and ``sums`` name the WindowSnapshot mappings (by channel) to read."""
    f = SummaryMetricFamily(name, doc, labels=["window", "channel"])
    for w in ws:
        qs, total = getattr(w, quantiles), getattr(w, sums)
        for ch, n in getattr(w, count).items():
            for quant, v in qs.get(ch, {}).items():
                f.samples.append(Sample(name, {"window": w.name, "channel": ch,
                                               "quantile": repr(quant)}, v))
            f.add_metric([w.name, ch], n, total.get(ch, 0.0))
    return f


_REFERENCE = Snapshot(  # for describe(): no data, the optional families present
    clock_ms=0, wall_ms=0, watermark_ms=0, live=False, last_event_wall_ms=0,
    events_total={}, rejected_total={}, duplicate_total={}, late_total={}, orphan_total={},
    first_response_seconds={}, resolution_seconds={}, return_processing_seconds={},
    backlog={}, unanswered={}, first_response_overdue={}, resolution_overdue={},
    oldest_unanswered_age_s={}, returns_open={}, windows={}, peak_ratio=0.0,
)


class SnapshotCollector(Collector):
    """Yields metric families from ``source()``; nothing at all before the first snapshot.

    With ``complete`` (the last snapshot taken once the state was rebuilt), counters,
    histograms, state and window gauges come from it and pipeline health from
    ``source()``: a process rebuilding from the log (at start, or after a rebalance)
    shows its last complete values, or none before the first, never a partial count
    that Prometheus would read as a counter reset (SPEC §2).
    """

    def __init__(
        self,
        source: Callable[[], Snapshot | None],
        complete: Callable[[], Snapshot | None] | None = None,
    ) -> None:
        self._source = source
        self._complete = complete

    def collect(self) -> Iterator[Metric]:
        snap = self._source()
        if snap is None:
            return
        full = snap if self._complete is None else self._complete()
        yield from self._families(snap, full)

    def describe(self) -> Iterator[Metric]:
        """Every family ``collect`` can yield (those of an empty snapshot that has every
        optional family), so the registry refuses a second collector of the same names."""
        return self._families(_REFERENCE, _REFERENCE)

    def _families(self, snap: Snapshot, full: Snapshot | None) -> Iterator[Metric]:
        if full is not None:
            yield from self._counters(full)
            yield from self._histograms(full)
            yield from self._state(full)
            yield from self._windows(full)
            yield from self._partition_windows(full)
            yield from self._records_read(full)
        yield from self._health(snap)

    @staticmethod
    def _partition_windows(s: Snapshot) -> Iterator[Metric]:
        """The headline window counts per source partition: the series that move with a
        partition, so a sum across replicas can bridge a handover (the recording rule
        ``aftersales:partition_window_events:bridged``) where the per-process gauges dip."""
        f = GaugeMetricFamily(
            "aftersales_partition_window_events",
            "What one source partition adds to the window gauge aftersales_window_<gauge> "
            "(summed over its label).", labels=["topic", "partition", "window", "gauge"])
        for (topic, part), windows in sorted(s.partition_windows.items()):
            for window, counts in windows.items():
                for gauge, v in counts.items():
                    f.add_metric([topic, str(part), window, gauge], v)
        yield f

    @staticmethod
    def _records_read(s: Snapshot) -> Iterator[Metric]:
        """Per-partition offsets as a counter: ``sum(rate())`` over it is the arrival rate
        whichever replica holds a partition (a moved partition is a new series that starts
        at the offset, not at 0, and a rebuild never shows a lower one)."""
        f = CounterMetricFamily("aftersales_records_read",
                                "Records of the partition read and folded in (its next offset).",
                                labels=["topic", "partition"])
        for (topic, part), offset in sorted(s.consumer_offsets.items()):
            f.add_metric([topic, str(part)], offset)
        yield f

    # -- families ----------------------------------------------------------------------
    @staticmethod
    def _counters(s: Snapshot) -> Iterator[Metric]:
        def fam(
            name: str, doc: str, labels: list[str], data: Mapping[Any, int]
        ) -> CounterMetricFamily:
            f = CounterMetricFamily(name, doc, labels=labels)
            for key, v in sorted(data.items()):
                f.add_metric(list(key) if isinstance(key, tuple) else [key], v)
            return f

        yield fam("aftersales_events", "Accepted events (orphans included).",
                  ["topic", "type"], s.events_total)
        yield fam("aftersales_events_rejected", "Rejected messages, copied to the DLQ.",
                  ["topic", "reason"], s.rejected_total)
        yield fam("aftersales_events_duplicate", "Repeated event_ids, ignored.",
                  ["topic"], s.duplicate_total)
        yield fam("aftersales_events_late", "Events older than the largest window.",
                  ["topic"], s.late_total)
        yield fam("aftersales_events_orphan", "Events for a ticket or return never created.",
                  ["topic", "type"], s.orphan_total)
        yield fam("aftersales_consumer_errors", "Record batches that could not be decoded, "
                  "skipped.", ["topic", "reason"], s.consumer_errors_total)
        yield fam("aftersales_dead_letter_failures", "Rejected messages the dead-letter "
                  "topic refused (counted since process start).", ["topic", "reason"],
                  s.dead_letter_failures_total)
        yield fam("aftersales_log_resets",
                  "Times a topic's log went back (recreated, truncated, broker emptied) and "
                  "the state was rebuilt; since process start.", ["topic"], s.log_resets)
        yield fam("aftersales_score_turns", "Conversation turns a platform score decided "
                  "(within its limit or missed).", ["score"], s.score_turns_total)
        yield fam("aftersales_score_turns_within", "Decided turns answered within the "
                  "score's limit.", ["score"], s.score_turns_within_total)

    @staticmethod
    def _histograms(s: Snapshot) -> Iterator[Metric]:
        def fam(name: str, doc: str, label: str, data: Mapping[str, HistogramData]) -> Metric:
            f = HistogramMetricFamily(name, doc, labels=[label])
            for lab, h in data.items():
                buckets = [(_fmt_bound(b), c) for b, c in zip(h.bounds, h.cumulative, strict=False)]
                buckets.append(("+Inf", h.cumulative[-1]))
                f.add_metric([lab], buckets, h.sum)
            return f

        yield fam("aftersales_first_response_seconds", "First response time (reply − created).",
                  "channel", s.first_response_seconds)
        yield fam("aftersales_resolution_seconds", "Resolution time (resolve − created).",
                  "priority", s.resolution_seconds)
        yield fam("aftersales_return_processing_seconds",
                  "Return processing time (refunded/exchanged − requested).",
                  "region", s.return_processing_seconds)
        yield fam("aftersales_response_seconds",
                  "Response time of every answered conversation turn (reply − turn start).",
                  "channel", s.response_seconds)

    @staticmethod
    def _state(s: Snapshot) -> Iterator[Metric]:
        f = GaugeMetricFamily("aftersales_backlog_tickets", "Open tickets.",
                              labels=["priority", "category", "region"])
        for (p, c, r), v in s.backlog.items():
            f.add_metric([p, c, r], v)
        yield f
        gauges: tuple[tuple[str, str, str, Mapping[str, float]], ...] = (
            ("aftersales_unanswered_tickets", "Open tickets with no agent reply yet.", "channel",
             s.unanswered),
            ("aftersales_first_response_overdue_tickets",
             "Unanswered tickets older than the channel's first-response SLA.", "channel",
             s.first_response_overdue),
            ("aftersales_first_response_overdue_2x_tickets",
             "Unanswered tickets older than twice the channel's first-response SLA.", "channel",
             s.first_response_overdue_2x),
            ("aftersales_resolution_overdue_tickets",
             "Open tickets older than the priority's resolution SLA.", "priority",
             s.resolution_overdue),
            ("aftersales_oldest_unanswered_age_seconds",
             "Age of the oldest unanswered ticket (0 when none).", "channel",
             s.oldest_unanswered_age_s),
            ("aftersales_returns_open", "Returns requested and not yet closed.", "region",
             s.returns_open),
            ("aftersales_awaiting_reply_tickets",
             "Open tickets in a conversation turn no agent has answered yet.", "channel",
             s.awaiting_reply),
            ("aftersales_response_overdue_tickets",
             "Tickets awaiting a reply longer than the channel's response SLA.", "channel",
             s.response_overdue),
            ("aftersales_response_overdue_2x_tickets",
             "Tickets awaiting a reply longer than twice the channel's response SLA.",
             "channel", s.response_overdue_2x),
            ("aftersales_oldest_awaiting_reply_age_seconds",
             "Wait of the longest-waiting customer (0 when none).", "channel",
             s.oldest_awaiting_reply_age_s),
            ("aftersales_business_hours_open",
             "1 while the channel's business-hours calendar is open (1 without one).",
             "channel", {ch: 1.0 if v else 0.0 for ch, v in s.business_hours_open.items()}),
        )
        age = GaugeMetricFamily("aftersales_backlog_age_tickets",
                                "Open tickets by priority and age bucket.",
                                labels=["priority", "age"])
        for (p, bucket), n in s.backlog_by_age.items():
            age.add_metric([p, bucket], n)
        yield age
        for name, doc, label, data in gauges:
            g = GaugeMetricFamily(name, doc, labels=[label])
            for lab, value in data.items():
                g.add_metric([lab], value)
            yield g
        target = GaugeMetricFamily("aftersales_score_target",
                                   "The configured target of each platform score (0-1).",
                                   labels=["score"])
        for name, value in s.score_targets.items():
            target.add_metric([name], value)
        yield target

    @staticmethod
    def _windows(s: Snapshot) -> Iterator[Metric]:
        ws = list(s.windows.values())

        def labelled(name: str, doc: str, label: str, attr: str) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["window", label])
            for w in ws:
                for lab, v in getattr(w, attr).items():
                    g.add_metric([w.name, lab], v)
            return g

        def plain(name: str, doc: str, attr: str) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["window"])
            for w in ws:
                g.add_metric([w.name], getattr(w, attr))
            return g

        p = "aftersales_window_"
        yield labelled(p + "tickets_created", "Tickets created in the window.", "channel",
                       "tickets_created")
        yield labelled(p + "first_responses", "First responses in the window.", "channel",
                       "first_responses")
        yield labelled(p + "first_responses_within_sla", "First responses within the SLA.",
                       "channel", "first_responses_within_sla")
        yield _window_summary(p + "first_response_seconds",
                              "Exact first-response time quantiles in the window.", ws,
                              "first_responses", "first_response_quantiles",
                              "first_response_sum_s")
        yield labelled(p + "turns", "Conversation turns started in the window.", "channel",
                       "turns")
        yield labelled(p + "responses", "Turns answered in the window.", "channel", "responses")
        yield labelled(p + "responses_within_sla", "Turns answered within the response SLA.",
                       "channel", "responses_within_sla")
        yield _window_summary(p + "response_seconds",
                              "Exact response time quantiles (every answered turn) in the "
                              "window.", ws, "responses", "response_quantiles", "response_sum_s")
        yield labelled(p + "score_turns", "Turns a platform score decided in the window.",
                       "score", "score_turns")
        yield labelled(p + "score_turns_within", "Decided turns within the score's limit, "
                       "decided in the window.", "score", "score_turns_within")
        yield labelled(p + "resolutions", "Resolutions in the window.", "priority", "resolutions")
        yield labelled(p + "resolutions_within_sla", "Resolutions within the SLA.", "priority",
                       "resolutions_within_sla")
        for attr, doc in (
            ("resolutions_first_contact", "Resolutions with no transfer, escalation or reopen."),
            ("resolutions_by_bot", "Resolutions with no agent reply."),
            ("escalations", "Escalations."),
            ("transfers", "Transfers."),
            ("reopens", "Reopens."),
            ("csat_ratings", "CSAT ratings."),
            ("csat_satisfied", "CSAT ratings of 4 or 5."),
            ("nps_ratings", "NPS ratings."),
            ("nps_promoters", "NPS ratings of 9 or 10."),
            ("nps_detractors", "NPS ratings of 0 to 6."),
        ):
            yield plain(p + attr, doc + " In the window.", attr)
        yield labelled(p + "orders_delivered", "Orders delivered.", "region", "orders_delivered")
        yield labelled(p + "deliveries_late", "Deliveries after the promised time.", "region",
                       "deliveries_late")
        yield labelled(p + "returns_requested", "Returns requested.", "region",
                       "returns_requested")
        yield labelled(p + "returns_by_reason", "Returns requested by reason.", "reason",
                       "returns_by_reason")
        yield labelled(p + "return_rate",
                       "Returns requested ÷ orders delivered (absent when none delivered).",
                       "region", "return_rate")
        yield GaugeMetricFamily(
            p + "peak_ratio", "Tickets created per minute over 15m ÷ per minute over 24h.",
            value=s.peak_ratio,
        )

    @staticmethod
    def _health(s: Snapshot) -> Iterator[Metric]:
        lag = GaugeMetricFamily("aftersales_consumer_lag_messages",
                                "Messages behind the fetch high watermark.",
                                labels=["topic", "partition"])
        for (topic, part), v in sorted(s.consumer_lag.items()):
            lag.add_metric([topic, str(part)], v)
        yield lag
        if s.watermark_ms is not None:
            yield GaugeMetricFamily("aftersales_watermark_timestamp_seconds",
                                    "Largest accepted event time.", value=s.watermark_ms / 1000.0)
        yield GaugeMetricFamily("aftersales_clock_timestamp_seconds",
                                "The event-time clock the gauges are computed at.",
                                value=s.clock_ms / 1000.0)
        age = s.last_event_age_s
        if age is not None:
            yield GaugeMetricFamily("aftersales_last_event_age_seconds",
                                    "Wall time since the last accepted event.", value=age)
        yield GaugeMetricFamily("aftersales_ready", "1 once the rebuild has caught up.",
                                value=1.0 if s.ready else 0.0)
        yield GaugeMetricFamily("aftersales_live",
                                "1 while the clock follows the wall clock (live stream).",
                                value=1.0 if s.live else 0.0)
        yield GaugeMetricFamily("aftersales_broker_up", "1 while the Kafka broker answers.",
                                value=1.0 if s.broker_up else 0.0)
        loads = CounterMetricFamily(
            "aftersales_checkpoint_loads", "Partition checkpoints read at an assignment, by "
            "result (loaded, or why the partition was rebuilt from the log instead); since "
            "process start.", labels=["result"])
        got = s.health.checkpoint_loads
        for result in CHECKPOINT_RESULTS:
            loads.add_metric([result], got.get(result, 0))
        yield loads


class BuildInfoCollector(Collector):
    """``aftersales_build_info{version}`` = 1 (SPEC §3): which release each replica runs,
    from the first scrape on (before any snapshot), so a mixed rollout shows on a graph."""

    def __init__(self, version: str) -> None:
        self._version = version

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("aftersales_build_info", "The running release (value 1).",
                                 labels=["version"])
        info.add_metric([self._version], 1.0)
        yield info
