"""Delivery off the hot path: a dead sink never blocks the stream nor the other sinks."""

from __future__ import annotations

import time
from dataclasses import replace

from feed import T0
from prometheus_client import CollectorRegistry
from robots import Answer, RobotServer
from test_evaluator import Script, at, rule

from alerts.alerting import Alerting
from alerts.notifier import Notifier
from alerts.sinks import SinkContext, build_sinks
from core.alerting import Notification

CTX = SinkContext()


def wait_until(pred, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_a_hanging_sink_does_not_delay_evaluation_or_metrics(firing: Notification) -> None:
    with RobotServer() as dead, RobotServer() as good:
        dead.default = Answer(hang=True)
        sinks = build_sinks([
            {"type": "webhook", "name": "dead", "url": dead.url, "timeout_s": 1,
             "queue_size": 3},
            {"type": "webhook", "name": "good", "url": good.url},
        ], CTX)
        s = Script()
        al = Alerting((rule(s, for_s=0),), notifier=Notifier(sinks), eval_interval_s=15)
        reg = CollectorRegistry()
        reg.register(al.collector)
        worst = 0.0
        for i in range(40):  # 20 episodes: 40 notifications for each sink
            s.set(0.5 if i % 2 == 0 else 0.99)
            t = time.perf_counter()
            al.on_snapshot(at(T0 + i * 15_000))
            worst = max(worst, time.perf_counter() - t)
            expected = 1.0 if i % 2 == 0 else 0.0
            assert reg.get_sample_value("aftersales_alert_active",
                                        {"alert": "SlaLow", "severity": "critical"}) == expected
        assert worst < 0.05
        wait_until(lambda: len(good.received) == 40)  # the good sink got everything
        # the worker holds one item (hanging) or has not taken one yet
        assert reg.get_sample_value("aftersales_notification_queue_depth",
                                    {"sink": "dead"}) in (2, 3)
        dropped = reg.get_sample_value("aftersales_notifications_dropped_total",
                                       {"sink": "dead", "reason": "queue_full"})
        assert dropped is not None
        assert dropped >= 36
        assert reg.get_sample_value("aftersales_notifications_total",
                                    {"sink": "good", "status": "firing"}) == 20
        t = time.perf_counter()
        al.close(timeout_s=1.0)  # bounded, even with a request hanging
        assert time.perf_counter() - t < 1.5


def test_retries_with_backoff_then_succeeds(firing: Notification) -> None:
    with RobotServer() as server:
        server.answers.extend([Answer(status=500), Answer(status=503)])
        sinks = build_sinks([{"type": "webhook", "url": server.url, "backoff_s": 0.05,
                              "max_attempts": 5}], CTX)
        n = Notifier(sinks, rand=lambda: 0.5)
        n.submit([firing])
        wait_until(lambda: n.stats.copy()[0].get(("webhook", "firing")) == 1)
        _sent, failures, dropped = n.stats.copy()
        assert failures == {"webhook": 2}
        assert dropped == {}
        assert len(server.received) == 3
        n.close()


def test_gives_up_after_max_attempts_and_counts_it(firing: Notification) -> None:
    with RobotServer() as server:
        server.default = Answer(status=500)
        sinks = build_sinks([{"type": "webhook", "url": server.url, "backoff_s": 0.01,
                              "max_attempts": 3}], CTX)
        n = Notifier(sinks)
        n.submit([firing])
        wait_until(lambda: n.stats.copy()[2].get(("webhook", "gave_up")) == 1)
        assert n.stats.copy()[1] == {"webhook": 3}
        n.close()


def test_severity_filter_and_close_delivers_what_is_queued(firing: Notification) -> None:
    with RobotServer() as server:
        server.default = Answer(delay_s=0.05)
        sinks = build_sinks([{"type": "webhook", "url": server.url,
                              "min_severity": "critical"}], CTX)
        n = Notifier(sinks)
        info = replace(firing, alert=replace(firing.alert, severity="info"))
        n.submit([firing, info, firing, firing])
        n.close()
        assert len(server.received) == 3


def test_refresh_is_rate_limited_and_coalesced(firing: Notification) -> None:
    clock = [0.0]
    with RobotServer() as server:
        sinks = build_sinks([{"type": "alertmanager", "url": server.url, "resend_s": 60}], CTX)
        n = Notifier(sinks, monotonic=lambda: clock[0])
        for t in (0.0, 10.0, 59.0):
            clock[0] = t
            n.refresh([firing.alert])
        wait_until(lambda: len(server.received) == 1)
        for t in (61.0, 62.0):
            clock[0] = t
            n.refresh([firing.alert])
        wait_until(lambda: len(server.received) == 2)
        n.refresh([])
        time.sleep(0.1)
        assert len(server.received) == 2
        n.close()


def test_refreshes_waiting_in_a_queue_are_coalesced(firing: Notification) -> None:
    with RobotServer() as server:
        server.default = Answer(delay_s=0.3)
        sinks = build_sinks([{"type": "alertmanager", "url": server.url, "resend_s": 60}], CTX)
        clock = [0.0]
        n = Notifier(sinks, monotonic=lambda: clock[0])
        n.submit([firing])  # busy for 0.3 s
        for t in (100.0, 200.0, 300.0):
            clock[0] = t
            n.refresh([firing.alert])
        assert n.queue_depth()["alertmanager"] <= 2
        n.close()


def test_default_policy_outlasts_an_outage_of_many_attempts(firing: Notification) -> None:
    """No attempt limit by default: a sink down for minutes still gets the notification."""
    with RobotServer() as server:
        server.answers.extend([Answer(status=503)] * 12)
        sinks = build_sinks([{"type": "webhook", "url": server.url, "backoff_s": 0.005,
                              "max_backoff_s": 0.02}], CTX)
        n = Notifier(sinks)
        n.submit([firing])
        wait_until(lambda: n.stats.copy()[0].get(("webhook", "firing")) == 1)
        _sent, failures, dropped = n.stats.copy()
        assert failures == {"webhook": 12}
        assert dropped == {}
        n.close()


def test_gives_up_after_retry_for_s(firing: Notification) -> None:
    with RobotServer() as server:
        server.default = Answer(status=500)
        sinks = build_sinks([{"type": "webhook", "url": server.url, "backoff_s": 0.02,
                              "max_backoff_s": 0.02, "retry_for_s": 0.3}], CTX)
        n = Notifier(sinks, rand=lambda: 0.5)
        t = time.monotonic()
        n.submit([firing])
        wait_until(lambda: n.stats.copy()[2].get(("webhook", "gave_up")) == 1)
        assert 0.25 < time.monotonic() - t < 2.0
        assert n.stats.copy()[1]["webhook"] >= 5
        n.close()
