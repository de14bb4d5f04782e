"""Static group membership (KIP-345, ``kafka.consumer.group_instance_id``) on the real
broker: the settings of ``kafka.consumer`` reach the reader's group member, not the
group-less consumer that reads the checkpoint topic (kafka-python refuses a
``group_instance_id`` without a ``group_id``: a static member read no checkpoint)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from consumers.checkpoints import CheckpointStore
from core.config import Config
from pulse.service import Service
from tests.integration.helpers import produce, simulated
from tests.reliability.test_checkpoints import PARTITIONS, _loads, _settled

pytestmark = pytest.mark.broker


def _static(make_config: Callable[..., Config]) -> Config:
    """A config whose reader joins as a static member (the group is the test's own)."""
    return make_config(checkpoints__interval_s=3600,
                       kafka__consumer={"group_instance_id": "replica-0"})


def test_the_checkpoint_store_reads_with_a_static_members_settings(
        make_config: Callable[..., Config]) -> None:
    cfg = _static(make_config)
    store = CheckpointStore(cfg.kafka, cfg.checkpoint_topic, read_timeout_s=20)
    store.ensure_topic()
    src = (cfg.kafka.tickets_topic, 0)
    try:
        store.write(src, 42, None, b"state")
        stored = store.read([src])[src]
    finally:
        store.close()
    assert isinstance(stored, list), stored
    assert (stored[0].offset, stored[0].payload) == (42, b"state")


def test_a_static_member_restarts_from_its_checkpoints(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consumers")
    cfg = _static(make_config)
    msgs = simulated(cfg, hours=4, seed=41, rate=2.0)
    produce(cfg, msgs)
    with Service(cfg) as svc:  # first start: nothing to load, rebuilt from the log
        assert svc.wait_ready(60)
        _settled(svc.metrics_url, len(msgs))
    caplog.clear()
    with Service(cfg) as svc:  # the same instance id again: from the checkpoints
        assert svc.wait_ready(60)
        text = _settled(svc.metrics_url, len(msgs))
        loads = dict(svc.pipeline.reader.checkpoint_loads)
    unreadable = [r.getMessage() for r in caplog.records
                  if "checkpoints unreadable" in r.getMessage()]
    assert not unreadable, unreadable
    assert loads["loaded"] == PARTITIONS, loads
    assert _loads(text)["loaded"] == PARTITIONS
