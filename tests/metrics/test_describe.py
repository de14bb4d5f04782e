"""Every custom collector describes its families, so the registry checks names at start-up."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from alerts.alerting import Alerting
from core.config import load_config
from metrics.snapshot_collector import BuildInfoCollector, SnapshotCollector
from pulse.broker import free_port
from pulse.pipeline import Pipeline
from pulse.service import Service
from tests.integration.helpers import simulated

WALL = 1_764_000_000_000


def _busy_pipeline() -> Pipeline:
    """A pipeline after a few simulated hours: every family has series."""
    cfg = load_config()
    pipeline = Pipeline(cfg, wall=lambda: WALL)
    for topic, _key, value in simulated(cfg, hours=4, seed=5, start_ms=WALL - 5 * 3600_000):
        pipeline.fold(topic, (value,), WALL)
    return pipeline


def test_describe_names_every_family_collect_yields() -> None:
    snap = _busy_pipeline().snapshot()
    collector = SnapshotCollector(lambda: snap)
    described = {(m.name, m.type) for m in collector.describe()}
    collected = {(m.name, m.type) for m in collector.collect()}
    assert collected
    assert collected <= described
    alerting = Alerting.from_config(load_config())
    try:
        alerting.on_snapshot(snap)
        ac = alerting.collector
        assert {(m.name, m.type) for m in ac.collect()} <= {
            (m.name, m.type) for m in ac.describe()}
    finally:
        alerting.close()


def test_the_registry_refuses_a_second_collector_of_the_same_names() -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SnapshotCollector(lambda: None))
    registry.register(BuildInfoCollector("1"))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(SnapshotCollector(lambda: None))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(BuildInfoCollector("2"))


def test_the_service_registry_checks_what_it_is_given() -> None:
    cfg = replace(load_config(), metrics_port=free_port())
    with pytest.raises(ValueError, match="aftersales_events"):
        Service(cfg, collectors=(SnapshotCollector(lambda: None),))
    alerting, twin = Alerting.from_config(cfg), Alerting.from_config(cfg)
    try:
        svc = Service(cfg, collectors=(alerting.collector,))
        svc.server.stop()
        with pytest.raises(ValueError, match="aftersales_alert"):
            svc.registry.register(twin.collector)
    finally:
        alerting.close()
        twin.close()
