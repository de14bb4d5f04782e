"""The fixed conformance scenario, replayed through the real broker and ``pulse run``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import conformance_dir, scrape, wait_for
from tests.integration.helpers import produce, read_topic
from tests.oracle import diff, expected_from_conformance, from_exposition, load_conformance

pytestmark = pytest.mark.broker


def test_conformance_scenario_through_pulse_run(make_config, tmp_path: Path) -> None:
    cfg = make_config()
    rename = {
        "aftersales.tickets": cfg.kafka.tickets_topic,
        "aftersales.logistics": cfg.kafka.logistics_topic,
    }
    messages = load_conformance(conformance_dir() / "messages.jsonl")
    produce(cfg, [(rename[t], k, v) for t, k, v in messages])

    conf = tmp_path / "pulse.yaml"
    conf.write_text(yaml.safe_dump({
        "kafka": {
            "tickets_topic": cfg.kafka.tickets_topic,
            "logistics_topic": cfg.kafka.logistics_topic,
            "max_poll_interval_ms": 10000,
            "session_timeout_ms": 6000,
        },
        "dashboard": {"enabled": False},
        "alerting": {"enabled": False},
    }))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli", "run", "--bootstrap-servers",
         cfg.kafka.bootstrap_servers, "--config", str(conf), "--group-id",
         cfg.kafka.group_id, "--metrics-port", str(cfg.metrics_port), "--no-dashboard"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{cfg.metrics_port}"
    try:
        def ready() -> bool:
            try:
                return "aftersales_ready 1.0" in scrape(base + "/metrics")
            except OSError:
                return False

        wait_for(ready, timeout=60)
        time.sleep(1.0)  # one more publish interval
        text = scrape(base + "/metrics")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out

    got = from_exposition(text.replace(cfg.kafka.tickets_topic, "aftersales.tickets")
                          .replace(cfg.kafka.logistics_topic, "aftersales.logistics"))
    want = expected_from_conformance(conformance_dir() / "expected.json")
    assert diff(got, want) == []

    # every rejected message is in the dead-letter topic, with its reason
    dlq = read_topic(cfg, cfg.kafka.tickets_topic + ".dlq") + read_topic(
        cfg, cfg.kafka.logistics_topic + ".dlq"
    )
    assert len(dlq) == sum(want.rejected_by_topic.values())
    reasons = {dict(r.headers)["pulse.reason"].decode() for r in dlq}
    assert {"invalid_json", "too_large", "unknown_type", "missing_field"} <= reasons
