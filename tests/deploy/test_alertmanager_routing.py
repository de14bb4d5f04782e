"""deploy/alertmanager/alertmanager.yml in a real Alertmanager, through a real notify-bridge.

The committed routes, grouping and inhibition, with only the bridge's address and the
wait timings replaced; the bridge runs as ``pulse notify-bridge`` with the sinks of
deploy/pulse/bridge.yaml pointed at a local server standing in for the robots.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from alerts.sinks.dingtalk import dingtalk_sign
from pulse.broker import free_port
from tests.alerts.robots import Received, RobotServer
from tests.deploy.stack import DEPLOY, Proc, binary, http_ok, pulse, running, wait_until

pytestmark = pytest.mark.prometheus

ROBOT_PATHS = {"webhook": "/hook", "dingtalk": "/robot/send?access_token=tok",
               "wecom": "/cgi-bin/webhook/send?key=k", "feishu": "/open-apis/bot/v2/hook/abc"}


def alert(name: str, severity: str, summary: str, ends: timedelta) -> dict[str, Any]:
    now = datetime.now(tz=UTC)
    return {
        "labels": {"alertname": name, "severity": severity},
        "annotations": {"summary": summary, "summary_en": name,
                        "description": f"{summary}（说明）", "description_en": f"{name} (text)"},
        "startsAt": (now - timedelta(minutes=3)).isoformat(),
        "endsAt": (now + ends).isoformat(),
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, RobotServer]]:
    """Alertmanager (committed config) → notify-bridge (committed sinks) → robot server."""
    with RobotServer() as robots:
        sinks = yaml.safe_load((DEPLOY / "pulse" / "bridge.yaml").read_text("utf-8"))
        for s in sinks["alerting"]["sinks"]:
            s["url"] = robots.url + ROBOT_PATHS[s["name"]]
            if "secret" in s:  # {env: ...} in the committed file
                s["secret"] = f"SEC-{s['name']}"
        bridge_cfg = tmp_path / "bridge.yaml"
        bridge_cfg.write_text(yaml.safe_dump(sinks, allow_unicode=True), encoding="utf-8")
        bridge_port, am_port = free_port(), free_port()
        am = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text("utf-8"))
        text = yaml.safe_dump(am).replace("http://notify-bridge:9095",
                                          f"http://127.0.0.1:{bridge_port}")
        am = yaml.safe_load(text)
        for route in [am["route"], *am["route"]["routes"]]:
            route["group_wait"], route["group_interval"] = "1s", "1s"
        am_cfg = tmp_path / "alertmanager.yml"
        am_cfg.write_text(yaml.safe_dump(am), encoding="utf-8")
        bridge = pulse("bridge", tmp_path, "notify-bridge", "--config", str(bridge_cfg),
                       "--port", str(bridge_port))
        manager = Proc("alertmanager", [
            binary("prometheus-alertmanager"), f"--config.file={am_cfg}",
            f"--web.listen-address=127.0.0.1:{am_port}", f"--storage.path={tmp_path / 'am'}",
            "--cluster.listen-address="], tmp_path / "alertmanager.log")
        with running(bridge, manager):
            url = f"http://127.0.0.1:{am_port}"
            wait_until(lambda: http_ok(url + "/-/ready"), 30, "alertmanager ready")
            wait_until(lambda: http_ok(f"http://127.0.0.1:{bridge_port}/healthz"), 30,
                       "notify-bridge up")
            yield url, robots


def by_path(received: list[Received]) -> dict[str, list[Received]]:
    out: dict[str, list[Received]] = {}
    for r in received:
        out.setdefault(r.path, []).append(r)
    return out


def texts(r: Received) -> str:
    return str(r.body)


def test_severity_routes_inhibition_and_resolution(stack: tuple[str, RobotServer]) -> None:
    url, robots = stack
    critical = alert("FirstResponseSlaLow", "critical", "首次响应 SLA 达成率过低：85%",
                     timedelta(minutes=5))
    warning = alert("BacklogGrowing", "warning", "积压工单持续增长：每分钟 +3",
                    timedelta(minutes=5))
    info = alert("PeakTraffic", "info", "进线高峰开始：3.2 倍于日常", timedelta(minutes=5))
    # Alertmanager inhibits only after it has taken in the source alert: the critical one
    # comes first, as it would from Prometheus while it is firing
    r = requests.post(url + "/api/v2/alerts", json=[critical], timeout=5)
    assert r.status_code == 200, r.text
    wait_until(lambda: requests.get(url + "/api/v2/alerts", timeout=5).json(), 10, "taken in")
    time.sleep(0.5)
    r = requests.post(url + "/api/v2/alerts", json=[warning, info], timeout=5)
    assert r.status_code == 200, r.text
    # critical: webhook + the three robots; warning: webhook + WeCom + Feishu; info: held
    wait_until(lambda: len(robots.received) >= 7, 30, "7 notifications")
    time.sleep(3)
    got = by_path(robots.received)
    assert {p: len(v) for p, v in got.items()} == {
        "/hook": 2, "/robot/send": 1, "/cgi-bin/webhook/send": 2, "/open-apis/bot/v2/hook/abc": 2}
    assert all("PeakTraffic" not in texts(x) for x in robots.received)
    ding = got["/robot/send"][0]
    assert "首次响应 SLA 达成率过低" in ding.body["markdown"]["text"]
    assert ding.query["access_token"] == "tok"
    assert ding.query["sign"] == dingtalk_sign("SEC-dingtalk", int(ding.query["timestamp"]))
    assert {h.body["alert"]["name"] for h in got["/hook"]} == {"FirstResponseSlaLow",
                                                               "BacklogGrowing"}
    state = {a["labels"]["alertname"]: a["status"]
             for a in requests.get(url + "/api/v2/alerts", timeout=5).json()}
    assert state["PeakTraffic"]["state"] == "suppressed"
    assert state["PeakTraffic"]["inhibitedBy"]

    # the critical one resolves: its receivers hear it, and the info one is let through
    robots.received.clear()
    critical["endsAt"] = datetime.now(tz=UTC).isoformat()
    assert requests.post(url + "/api/v2/alerts", json=[critical], timeout=5).status_code == 200
    wait_until(lambda: len(robots.received) >= 6, 30, "resolved + staffing notifications")
    time.sleep(2)
    got = by_path(robots.received)
    resolved = [x for x in robots.received if "FirstResponseSlaLow" in texts(x)]
    assert len(resolved) == 4  # webhook, DingTalk, WeCom, Feishu
    assert all("已恢复" in texts(x) or x.body.get("status") == "resolved" for x in resolved)
    peak = [x for x in robots.received if "PeakTraffic" in texts(x)]
    assert sorted(x.path for x in peak) == ["/hook", "/robot/send"]  # info: staffing robot
