"""The Alertmanager sink against a real Alertmanager on loopback."""

from __future__ import annotations

import time

import pytest
from robots import RobotServer, am_alerts

from alerts.sinks import SinkContext, build_sinks
from core.alerting import Notification

pytestmark = pytest.mark.prometheus


def wait_for(pred, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.1)


def test_firing_then_resolved_reaches_alertmanager_and_its_receivers(
        alertmanager: str, robots: RobotServer, firing: Notification,
        resolved: Notification) -> None:
    sink = build_sinks([{"type": "alertmanager", "url": alertmanager}],
                       SinkContext(generator_url="http://127.0.0.1:9108/metrics"))[0]
    sink.send(firing)
    got = wait_for(lambda: am_alerts(alertmanager).get("FirstResponseSlaLow"))
    assert got["labels"] == {"alertname": "FirstResponseSlaLow", "severity": "critical",
                             "team": "cs"}
    assert got["annotations"]["summary_en"] == "First-response SLA low: 85%"
    assert got["startsAt"].startswith("2026-11-11T00:00:00")
    assert got["status"]["state"] == "active"
    hook = wait_for(lambda: [r for r in robots.received if r.path == "/am"])
    assert hook[0].body["status"] == "firing"
    sink.send(resolved)
    wait_for(lambda: "FirstResponseSlaLow" not in am_alerts(alertmanager))
    done = wait_for(lambda: [r for r in robots.received
                             if r.path == "/am" and r.body["status"] == "resolved"])
    assert done[0].body["alerts"][0]["labels"]["alertname"] == "FirstResponseSlaLow"
