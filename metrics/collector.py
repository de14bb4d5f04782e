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
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from metrics.snapshot import HistogramData, Snapshot

__all__ = ["SnapshotCollector"]


def _fmt_bound(b: float) -> str:
    """Bucket bounds as client_python writes them (``30.0``), so every parser agrees."""
    return str(floatToGoString(b))  # type: ignore[no-untyped-call]


class SnapshotCollector(Collector):
    """Yields metric families from ``source()``; nothing at all before the first snapshot."""

    def __init__(self, source: Callable[[], Snapshot | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        snap = self._source()
        if snap is None:
            return
        yield from self._counters(snap)
        yield from self._histograms(snap)
        yield from self._state(snap)
        yield from self._windows(snap)
        yield from self._health(snap)

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
        yield fam("aftersales_log_resets",
                  "Times a topic's log went back (recreated, truncated, broker emptied) and "
                  "the state was rebuilt; since process start.", ["topic"], s.log_resets)

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
        q = GaugeMetricFamily(p + "first_response_seconds",
                              "Exact first-response time quantiles in the window.",
                              labels=["window", "channel", "quantile"])
        for w in ws:
            for ch, qs in w.first_response_quantiles.items():
                for quant, v in qs.items():
                    q.add_metric([w.name, ch, repr(quant)], v)
        yield q
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
