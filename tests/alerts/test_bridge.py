"""``pulse notify-bridge``: Alertmanager webhooks re-sent to the IM robots."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from robots import Received, RobotServer

from alerts.bridge import Bridge, notifications
from alerts.sinks import SinkContext, build_sinks
from alerts.sinks.dingtalk import dingtalk_sign
from pulse.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def am_webhook(status: str = "firing", **labels: str) -> dict[str, Any]:
    """An Alertmanager webhook body (version 4) as Alertmanager 0.25 posts it."""
    alert = {
        "status": status,
        "labels": {"alertname": "FirstResponseSlaLow", "severity": "critical", **labels},
        "annotations": {
            "summary": "首次响应 SLA 达成率过低（15 分钟）：85%",
            "summary_en": "First-response SLA attainment low (15m): 85%",
            "description": "近 15 分钟首次响应 SLA 达成率为 85%，低于 92%。",
            "description_en": "First responses within SLA: 85%, below 92%.",
            "resolved_summary": "首次响应 SLA 达成率已恢复：94%",
            "resolved_summary_en": "First-response SLA attainment recovered: 94%",
        },
        "startsAt": "2026-11-10T16:00:00.123456789Z",
        "endsAt": "2026-11-10T16:10:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "2f1a3c",
    }
    return {"version": "4", "groupKey": "{}:{alertname=\"FirstResponseSlaLow\"}",
            "truncatedAlerts": 0, "status": status, "receiver": "critical",
            "groupLabels": {"alertname": "FirstResponseSlaLow"},
            "commonLabels": alert["labels"], "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager:9093", "alerts": [alert]}


def robot_sinks(robots: RobotServer) -> list[dict[str, Any]]:
    return [
        {"type": "dingtalk", "name": "dingtalk", "secret": "SEC-ding",
         "url": robots.url + "/robot/send?access_token=tok"},
        {"type": "wecom", "name": "wecom", "url": robots.url + "/cgi-bin/webhook/send?key=k"},
        {"type": "feishu", "name": "feishu", "url": robots.url + "/open-apis/bot/v2/hook/abc"},
        {"type": "webhook", "name": "info-only", "url": robots.url + "/hook",
         "min_severity": "critical"},
    ]


@pytest.fixture
def bridge(robots: RobotServer) -> Iterator[Bridge]:
    sinks = build_sinks(robot_sinks(robots), SinkContext(timezone=ZoneInfo("Asia/Shanghai")))
    with Bridge(sinks, "127.0.0.1", 0) as b:
        yield b


def wait_for(robots: RobotServer, n: int) -> list[Received]:
    got = robots.wait(n)
    assert len(got) >= n, f"{len(got)} of {n} robot requests arrived"
    time.sleep(0.2)  # nothing more should come
    return robots.received


def test_webhook_alerts_become_notifications() -> None:
    firing, = notifications(am_webhook(region="south"))
    assert firing.status == "firing"
    a = firing.alert
    assert (a.name, a.severity, a.labels) == ("FirstResponseSlaLow", "critical",
                                              (("region", "south"),))
    assert a.summary_en.startswith("First-response SLA attainment low")
    assert a.since_ms == 1794326400123  # nanoseconds read down to the millisecond
    assert math.isnan(a.value)  # Alertmanager does not carry the value: it is in the text
    resolved, = notifications(am_webhook("resolved"))
    assert (resolved.status, resolved.at_ms, resolved.ends_ms) == (
        "resolved", 1794326400000 + 600_000, 1794326400000 + 600_000)
    assert resolved.alert.resolved_summary("en") == "First-response SLA attainment recovered: 94%"
    with pytest.raises(ValueError, match="alerts"):
        notifications({"status": "firing"})


def test_one_path_per_robot(bridge: Bridge, robots: RobotServer) -> None:
    r = requests.post(bridge.url + "/dingtalk", json=am_webhook(), timeout=5)
    assert r.status_code == 202
    assert r.json() == {"status": "queued", "notifications": 1}
    got = wait_for(robots, 1)
    assert len(got) == 1
    ding = got[0]
    assert ding.path == "/robot/send"
    assert ding.query["access_token"] == "tok"
    assert ding.query["sign"] == dingtalk_sign("SEC-ding", int(ding.query["timestamp"]))
    text = ding.body["markdown"]["text"]
    assert "首次响应 SLA 达成率过低" in text
    assert "First-response SLA attainment low" in text
    assert "nan" not in text  # no value line for a value Alertmanager does not send
    assert "2026-11-11 00:00:00" in text  # startsAt in the bridge's time zone


def test_the_plain_path_fans_out_by_severity(bridge: Bridge, robots: RobotServer) -> None:
    r = requests.post(bridge.url, json=am_webhook(), timeout=5)
    assert r.json()["notifications"] == 4
    got = wait_for(robots, 4)
    assert sorted(x.path for x in got) == ["/cgi-bin/webhook/send", "/hook",
                                           "/open-apis/bot/v2/hook/abc", "/robot/send"]
    wecom = next(x for x in got if x.path.startswith("/cgi-bin"))
    assert wecom.body["msgtype"] == "markdown"
    feishu = next(x for x in got if x.path.startswith("/open-apis"))
    assert feishu.body["card"]["header"]["template"] == "red"
    hook = next(x for x in got if x.path == "/hook")
    assert hook.body["alert"]["name"] == "FirstResponseSlaLow"
    assert hook.body["alert"]["value"] is None  # JSON has no NaN
    robots.received.clear()
    info = am_webhook(severity="info")
    assert requests.post(bridge.url, json=info, timeout=5).json()["notifications"] == 3
    assert len(wait_for(robots, 3)) == 3  # the critical-only webhook is left out


def test_resolved_messages_and_refusals(bridge: Bridge, robots: RobotServer) -> None:
    assert requests.post(bridge.url + "/wecom", json=am_webhook("resolved"),
                         timeout=5).status_code == 202
    content = wait_for(robots, 1)[0].body["markdown"]["content"]
    assert "已恢复" in content
    assert "RESOLVED" in content
    assert requests.post(bridge.url + "/nope", json=am_webhook(), timeout=5).status_code == 404
    assert requests.post(bridge.url + "/wecom", data=b"{", timeout=5).status_code == 400
    assert requests.post(bridge.url + "/wecom", json={"alerts": [1]}, timeout=5).status_code == 400
    assert requests.get(bridge.url.rsplit("/", 1)[0] + "/healthz", timeout=5).status_code == 200


def test_pulse_notify_bridge_command(robots: RobotServer, tmp_path: Path) -> None:
    import yaml

    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(yaml.safe_dump({"alerting": {"sinks": robot_sinks(robots)}}),
                   encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli", "notify-bridge", "--config", str(cfg),
         "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/alertmanager/feishu"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.post(url, json=am_webhook(), timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "the bridge did not start"
                time.sleep(0.1)
        assert r.status_code == 202
        card = wait_for(robots, 1)[0].body["card"]
        assert "首次响应" in card["header"]["title"]["content"]
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0


def test_the_bridge_needs_a_sink(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pulse.cli", "notify-bridge"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "alerting.sinks" in proc.stderr
