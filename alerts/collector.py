"""Prometheus families of the alerting stage, read at scrape time from one state object.

``aftersales_alert_active{alert,severity}`` has a series for every rule from start-up
(0 or 1), so a Grafana panel or a recording rule never sees a series appear from nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.profiles import NORMAL, PEAK

if TYPE_CHECKING:
    from alerts.alerting import Alerting

__all__ = ["AlertCollector"]

_STATUSES = ("firing", "resolved", "refresh")


class AlertCollector(Collector):
    def __init__(self, alerting: Alerting) -> None:
        self._alerting = alerting

    def describe(self) -> Iterator[Metric]:
        """Every family ``collect`` yields (the evaluation time even before the first), so
        the registry's duplicate-name check covers them."""
        yield from self.collect()
        if self._alerting.last_evaluation_ms is None:
            yield GaugeMetricFamily("aftersales_alert_last_evaluation_timestamp_seconds",
                                    "Event-time clock of the last rule evaluation.")

    def collect(self) -> Iterator[Metric]:
        a = self._alerting
        active = a.active_alerts()
        firing = {(x.name, x.severity) for x in active}
        g = GaugeMetricFamily("aftersales_alert_active", "1 while the alert is firing.",
                              labels=["alert", "severity"])
        for rule in a.rules:
            g.add_metric([rule.name, rule.severity],
                         1.0 if (rule.name, rule.severity) in firing else 0.0)
        yield g
        episodes = GaugeMetricFamily("aftersales_alert_episodes",
                                     "Firing episodes (label sets) of each alert.",
                                     labels=["alert"])
        for rule in a.rules:
            episodes.add_metric([rule.name], sum(1 for x in active if x.name == rule.name))
        yield episodes
        profile = a.profile
        p = GaugeMetricFamily("aftersales_alert_profile",
                              "1 for the threshold profile in force (normal or peak).",
                              labels=["profile"])
        for name in (NORMAL, PEAK):
            p.add_metric([name], 1.0 if profile.name == name else 0.0)
        yield p
        promo = GaugeMetricFamily("aftersales_alert_promotion_active",
                                  "1 while the clock is inside the configured promotion period.",
                                  labels=["promotion"])
        for pr in a.promotions:
            promo.add_metric([pr.name], 1.0 if profile.promotion == pr.name else 0.0)
        yield promo
        if a.last_evaluation_ms is not None:
            yield GaugeMetricFamily("aftersales_alert_last_evaluation_timestamp_seconds",
                                    "Event-time clock of the last rule evaluation.",
                                    value=a.last_evaluation_ms / 1000.0)
        yield from self._notifier()

    def _notifier(self) -> Iterator[Metric]:
        a = self._alerting
        names = [s.name for s in a.notifier.sinks]
        sent, failures, dropped = a.notifier.stats.copy()
        c = CounterMetricFamily("aftersales_notifications", "Notifications delivered.",
                                labels=["sink", "status"])
        for name in names:
            for status in _STATUSES:
                c.add_metric([name, status], sent.get((name, status), 0))
        yield c
        f = CounterMetricFamily("aftersales_notification_failures",
                                "Failed delivery attempts (each retry counts).", labels=["sink"])
        for name in names:
            f.add_metric([name], failures.get(name, 0))
        yield f
        d = CounterMetricFamily("aftersales_notifications_dropped",
                                "Notifications given up (retries exhausted) or pushed out of "
                                "a full queue.", labels=["sink", "reason"])
        for name in names:
            for reason in ("gave_up", "queue_full"):
                d.add_metric([name, reason], dropped.get((name, reason), 0))
        yield d
        q = GaugeMetricFamily("aftersales_notification_queue_depth",
                              "Notifications waiting for a sink.", labels=["sink"])
        for name, depth in a.notifier.queue_depth().items():
            q.add_metric([name], depth)
        yield q
