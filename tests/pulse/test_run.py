"""``pulse run`` as a process against the real broker: its logs, its own series, and the
Kafka client settings a production cluster needs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import datetime as dt
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumers.kafka_settings import client_settings
from core.config import Config, load_config
from core.errors import ConfigError
from pulse import __version__
from tests.conftest import scrape, wait_for
from tests.integration.helpers import handled, produce, simulated

pytestmark = pytest.mark.broker


def _conf(cfg: Config, tmp_path: Path, **kafka: Any) -> Path:
    path = tmp_path / "pulse.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap_servers": cfg.kafka.bootstrap_servers,
                  "group_id": cfg.kafka.group_id,
                  "tickets_topic": cfg.kafka.tickets_topic,
                  "logistics_topic": cfg.kafka.logistics_topic,
                  "max_poll_interval_ms": 10000, "session_timeout_ms": 6000, **kafka},
        "metrics_port": cfg.metrics_port,
        "alerting": {"enabled": False},
        "dashboard": {"enabled": False},
    }))
    return path


def _start(conf: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pulse", "run", "--config", str(conf), *args],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )


def _ready(cfg: Config) -> bool:
    try:
        return scrape(f"http://127.0.0.1:{cfg.metrics_port}/readyz").startswith("ready")
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_json_logs_from_both_processes_and_the_service_series(make_config,
                                                              tmp_path: Path) -> None:
    cfg = make_config()
    n = produce(cfg, simulated(cfg, hours=2, seed=5, bad_every=97))
    log = tmp_path / "stderr.log"
    proc = _start(_conf(cfg, tmp_path), log, "--log-format", "json", "--log-level", "debug")
    try:
        wait_for(lambda: _ready(cfg), timeout=90)
        text = scrape(f"http://127.0.0.1:{cfg.metrics_port}/metrics")
        assert handled(text) == n
    finally:
        _stop(proc)
    for series in ("process_resident_memory_bytes ", "process_cpu_seconds_total ",
                   "process_open_fds ", "python_info{", "python_gc_objects_collected_total{"):
        assert series in text, series
    assert f'aftersales_build_info{{version="{__version__}"}} 1.0' in text

    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert len(records) > 10
    for rec in records:  # every line is one object with the fields a log pipeline indexes
        assert {"timestamp", "level", "logger", "message", "process"} <= rec.keys(), rec
        ts = dt.fromisoformat(rec["timestamp"])
        assert ts.utcoffset() == timedelta(0), rec["timestamp"]
        assert rec["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assigned = [r for r in records if r["logger"] == "consumers.reader" and "partition" in r]
    assert {(r["topic"], r["partition"]) for r in assigned} == {
        (t, p) for t in cfg.kafka.topics for p in range(3)}
    assert all("offset" in r for r in assigned)
    # the fetch child (the consumer's own kafka-python lines) writes JSON too
    child = {r["process"] for r in records if r["logger"].startswith("kafka.consumer")}
    assert child
    assert proc.pid not in child
    assert proc.pid in {r["process"] for r in records}


def test_consumer_only_setting_under_kafka_consumer_becomes_ready(make_config,
                                                                   tmp_path: Path) -> None:
    cfg = make_config()
    n = produce(cfg, simulated(cfg, hours=1, seed=6, bad_every=50))  # the DLQ producer works
    log = tmp_path / "stderr.log"
    proc = _start(_conf(cfg, tmp_path, consumer={"isolation_level": "read_committed"}), log)
    try:
        wait_for(lambda: _ready(cfg), timeout=90)
        assert handled(scrape(f"http://127.0.0.1:{cfg.metrics_port}/metrics")) == n
    finally:
        _stop(proc)
    assert "Unrecognized configs" not in log.read_text()


def test_a_misplaced_client_setting_is_one_line_naming_its_section(make_config,
                                                                   tmp_path: Path) -> None:
    cfg = make_config()
    conf = _conf(cfg, tmp_path, client={"isolation_level": "read_committed"})
    proc = subprocess.run([sys.executable, "-m", "pulse", "run", "--config", str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "pulse: error: kafka.client: isolation_level not known to kafka-python's producer "
        "client (settings for one client only go under kafka.consumer, kafka.producer or "
        "kafka.admin)"]


def test_client_id_names_the_host_unless_set() -> None:
    cfg = load_config(kafka__bootstrap_servers="a:1,b:2")
    for role in ("consumer", "producer", "admin"):
        s = client_settings(cfg.kafka, role)
        assert s["client_id"] == f"aftersales-pulse-{socket.gethostname()}"
        assert s["bootstrap_servers"] == ["a:1", "b:2"]
    cfg = load_config(kafka__client={"client_id": "mine"},
                      kafka__consumer={"isolation_level": "read_committed",
                                       "client_id": "mine-consumer"})
    assert client_settings(cfg.kafka, "producer")["client_id"] == "mine"
    consumer = client_settings(cfg.kafka, "consumer")
    assert consumer["client_id"] == "mine-consumer"
    assert consumer["isolation_level"] == "read_committed"
    assert "isolation_level" not in client_settings(cfg.kafka, "admin")
    with pytest.raises(ConfigError, match=r"kafka\.producer: isolation_level"):
        client_settings(load_config(kafka__producer={"isolation_level": "x"}).kafka, "producer")


def test_tls_against_a_plaintext_broker_is_logged_within_seconds(make_config,
                                                                 tmp_path: Path) -> None:
    """kafka-python itself hangs in the TLS handshake against Tansu without a line."""
    cfg = make_config()
    log = tmp_path / "stderr.log"
    proc = _start(_conf(cfg, tmp_path, client={"security_protocol": "SSL"}), log)
    t0 = time.monotonic()
    try:
        # our line, not any WARNING: under load kafka-python's own selector warns that a
        # task blocked its event loop (seen in CI), which says nothing of the TLS
        line = wait_for(lambda: next((ln for ln in log.read_text().splitlines()
                                      if " WARNING " in ln and "security_protocol" in ln),
                                     None), timeout=30)
    finally:
        proc.kill()
        proc.wait(10)
    assert time.monotonic() - t0 < 20
    assert "security_protocol SSL" in line
    assert cfg.kafka.bootstrap_servers in line
