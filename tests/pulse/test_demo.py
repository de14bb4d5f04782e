"""``pulse demo`` as a user runs it (its own Tansu broker, the simulator, the service):
its /metrics page carries what SPEC §7 adds — customers writing again, the email office
calendar, the three platform scores — with live, non-zero values."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pulse.broker import free_port
from pulse.demo import DEMO_CONFIG
from tests.oracle.bizhours import BusinessHours
from tests.pulse.ready import lines_until_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text)
            for s in f.samples]


def _total(samples: list[tuple[str, dict[str, str], float]], name: str,
           **labels: str) -> float:
    return sum(v for n, lab, v in samples
               if n == name and all(lab.get(k) == want for k, want in labels.items()))


def test_the_demo_shows_turns_awaiting_customers_office_hours_and_scores() -> None:
    mport = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse", "demo", "--duration", "15", "--rate", "3",
         "--metrics-port", str(mport), "--no-dashboard"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = lines_until_ready(proc)
        config_line = next(ln for ln in seen if ln.startswith("config:"))
        assert "business hours email: office" in config_line
        assert "scores taobao_3min, douyin_3min, jd_30s" in config_line
        before = int(time.time() * 1000)
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
            text = r.read().decode()
        after = int(time.time() * 1000)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err[-3000:]
    assert out.rstrip().endswith("stopped")
    s = _samples(text)

    # customers write again: later turns beside the first ones, some waiting now
    assert _total(s, "aftersales_events_total", type="ticket.message") > 0
    turns = _total(s, "aftersales_window_turns", window="24h")
    first = _total(s, "aftersales_window_first_responses", window="24h")
    assert turns > first > 0, (turns, first)
    assert _total(s, "aftersales_window_responses", window="24h") > first
    assert _total(s, "aftersales_awaiting_reply_tickets") > 0
    assert _total(s, "aftersales_response_seconds_count") > 0

    # email on the office calendar (China's holidays), the other channels 24x7: the gauge
    # is what the demo's calendar says now, read by the oracle's own calendar code
    raw: dict[str, Any] = yaml.safe_load(
        (importlib.resources.files("pulse") / DEMO_CONFIG).read_text(encoding="utf-8"))
    hours = BusinessHours.from_config(raw["business_hours"])
    expected = {float(hours.is_open("email", t)) for t in (before, after)}
    email = [v for n, lab, v in s
             if n == "aftersales_business_hours_open" and lab == {"channel": "email"}]
    assert len(email) == 1
    assert email[0] in expected, (email, expected)
    for channel in ("chat", "phone", "app"):
        assert _total(s, "aftersales_business_hours_open", channel=channel) == 1

    # the three scores of the shipped config: targets, and turns decided from the history
    for score in ("taobao_3min", "douyin_3min", "jd_30s"):
        decided = _total(s, "aftersales_score_turns_total", score=score)
        within = _total(s, "aftersales_score_turns_within_total", score=score)
        assert decided > within > 0, (score, decided, within)
        assert _total(s, "aftersales_score_target", score=score) == 0.9
        assert _total(s, "aftersales_window_score_turns", window="24h", score=score) > 0
