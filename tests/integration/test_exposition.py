"""``promtool check metrics`` on the /metrics of a running service with data everywhere.

The exposition is what every Prometheus-side tool reads; promtool's linter is the
reference for what a well-formed page is (types, names, the ``quantile`` label only on
summaries), so it runs on a real service's page, not on a hand-built one.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pulse.broker import free_port
from tests.conftest import scrape, wait_for
from tests.deploy.stack import binary, http_ok, pulse, running
from tests.integration.helpers import handled, produce, simulated

pytestmark = [pytest.mark.broker, pytest.mark.prometheus]


def _now_ms() -> int:
    return int(time.time() * 1000)


SPEC_NAME_LINT = 'aftersales_business_hours_open use base unit "seconds" instead of "hours"'


def test_promtool_accepts_a_live_metrics_page_with_every_family_populated(
        make_config, tmp_path: Path) -> None:
    cfg = make_config()
    now = _now_ms()
    # the last 3 h up to now (live: every window holds first responses), bad messages,
    # redeliveries, an event older than the largest window and an orphan
    messages = simulated(cfg, hours=3, seed=11, rate=4.0, start_ms=now - 3 * 3600_000,
                         bad_every=40)
    messages += messages[100:130]
    tickets = cfg.kafka.tickets_topic
    messages.append((tickets, "old", orjson.dumps({
        "event_id": "late-1", "type": "ticket.created", "ts": now - 30 * 3600_000,
        "ticket_id": "old", "channel": "chat", "category": "refund", "priority": "P3",
        "region": "east"})))
    messages.append((tickets, "ghost", orjson.dumps({
        "event_id": "orphan-1", "type": "ticket.replied", "ts": now - 60_000,
        "ticket_id": "ghost", "by": "agent"})))
    produce(cfg, messages)
    port = free_port()
    k = cfg.kafka
    conf = tmp_path / "pulse.yaml"
    conf.write_text(yaml.safe_dump({
        "kafka": {"bootstrap_servers": k.bootstrap_servers, "group_id": k.group_id,
                  "tickets_topic": k.tickets_topic, "logistics_topic": k.logistics_topic,
                  "max_poll_interval_ms": 10000, "session_timeout_ms": 6000},
        "metrics_host": "127.0.0.1", "metrics_port": port,
        "alerting": {"enabled": True, "eval_interval_s": 1, "promotions": [
            {"name": "双11", "start": "2026-11-10T20:00", "end": "2026-11-12T02:00"}]},
        "dashboard": {"enabled": False},
        # a platform score over every channel, all day: its families have series too
        "scores": [{"name": "all_3min", "within_s": 180}],
        "partition_window_series": True,  # the per-partition window counts too
    }), encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    # the real `pulse run`: every collector the command registers, as deployed
    with running(pulse("pulse-run", tmp_path, "run", "--config", str(conf))) as (proc,):
        wait_for(lambda: not proc.alive() or http_ok(url + "/readyz"), timeout=90)
        assert proc.alive(), proc.tail()
        wait_for(lambda: handled(scrape(url + "/metrics")) >= len(messages), timeout=120)
        time.sleep(1.5)  # an alert evaluation over the settled state
        text = scrape(url + "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    empty = [name for name, f in families.items() if not f.samples]
    assert not empty, empty
    assert "aftersales_alert_active" in families  # the alerting stage's families too
    summary = families["aftersales_window_first_response_seconds"]
    assert summary.type == "summary"
    counts = {(s.labels["window"], s.labels["channel"]): s.value for s in summary.samples
              if s.name.endswith("_count")}
    assert all(counts[(w, "chat")] > 0 for w in ("15m", "1h", "24h")), counts
    for name in ("aftersales_events_rejected", "aftersales_events_duplicate",
                 "aftersales_events_late", "aftersales_events_orphan"):
        assert sum(s.value for s in families[name].samples) > 0, name
    lint = subprocess.run([binary("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in (lint.stdout + lint.stderr).splitlines() if line.strip()]
    # the one name the linter reads as a unit: SPEC §7's 0/1 gauge "business hours open"
    # (a name of the contract, not a duration in hours)
    assert complaints in ([], [SPEC_NAME_LINT]), complaints
    assert lint.returncode == (0 if not complaints else 3), lint.stdout + lint.stderr
    assert 'aftersales_business_hours_open{channel="chat"} 1.0' in text
