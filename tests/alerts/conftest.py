"""Fixtures of the alert tests: a robot server, a real Alertmanager, sample notifications."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from feed import T0
from robots import RobotServer

from core.alerting import ActiveAlert, Notification
from pulse.broker import free_port


@pytest.fixture
def robots() -> Iterator[RobotServer]:
    with RobotServer() as server:
        yield server


@pytest.fixture
def alert() -> ActiveAlert:
    return ActiveAlert(
        name="FirstResponseSlaLow", severity="critical", labels=(("team", "cs"),),
        summary_zh="首次响应 SLA 达成率过低：85%", summary_en="First-response SLA low: 85%",
        description_zh="低于 88%。", description_en="Below 88%.",
        since_ms=T0, value=0.85, threshold=0.88, comparison="<", profile="peak",
        resolved_summary_zh="已恢复：93%", resolved_summary_en="Recovered: 93%", unit="ratio",
    )


@pytest.fixture
def firing(alert: ActiveAlert) -> Notification:
    return Notification("firing", alert, T0)


@pytest.fixture
def resolved(alert: ActiveAlert) -> Notification:
    return Notification("resolved", alert, T0 + 600_000, ends_ms=T0 + 600_000)


AM_BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


@pytest.fixture
def alertmanager(tmp_path: Path, robots: RobotServer) -> Iterator[str]:
    """A real Alertmanager on loopback whose one receiver is the robot server's /am."""
    if not Path(AM_BINARY).exists():
        missing = "prometheus-alertmanager not installed (scripts/test.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n"
        "  group_interval: 1s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: {robots.url}/am\n        send_resolved: true\n", encoding="utf-8")
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [AM_BINARY, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.path={tmp_path / 'data'}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("alertmanager did not start: "
                            + (tmp_path / "am.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

