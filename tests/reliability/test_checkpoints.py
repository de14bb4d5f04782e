"""Checkpoints in Kafka (issue 17), on the real broker: a restart loads each partition's
state from the compacted checkpoint topic and reads on from its offset, and reports
exactly what a full rebuild and the oracle report for the same log; a checkpoint of
another configuration, a corrupt one and a missing one fall back to the rebuild of that
partition, counted in ``aftersales_checkpoint_loads_total{result}``."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from consumers.checkpoints import CheckpointStore, Stored
from core.config import Config
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled, produce, simulated
from tests.oracle import compute, diff, from_exposition

pytestmark = pytest.mark.broker

PARTITIONS = 6  # ensure_topics: 3 per topic


def _settled(url: str, produced: int) -> str:
    wait_for(lambda: handled(scrape(url)) >= produced, timeout=120)
    time.sleep(0.7)
    return scrape(url)


def _loads(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("aftersales_checkpoint_loads_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = float(line.rsplit(" ", 1)[1])
    return out


def _same(a: str, b: str) -> list[str]:
    """Every series of two expositions compared (late: a function of the interleaving)."""
    x, y = from_exposition(a), from_exposition(b)
    x.late = y.late = None
    return diff(x, y)


def _oracle(text: str, messages: list[Message]) -> list[str]:
    got, want = from_exposition(text), compute(messages, wall_ms=int(time.time() * 1000))
    got.late = want.late = None
    return diff(got, want)


def _stored(cfg: Config) -> dict[tuple[str, int], list[Stored] | str]:
    store = CheckpointStore(cfg.kafka, cfg.checkpoint_topic, read_timeout_s=20)
    return store.read([(t, p) for t in cfg.kafka.topics for p in range(3)])


def _run(cfg: Config, produced: int) -> str:
    with Service(cfg) as svc:
        assert svc.wait_ready(90)
        return _settled(svc.metrics_url, produced)


def test_a_restart_reads_on_from_the_checkpoints_and_matches_a_rebuild(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config(checkpoints__interval_s=3600)  # written after the rebuild and at stop
    msgs = simulated(cfg, hours=30, seed=21, rate=2.0, bad_every=97, customer_messages=True)
    cut = len(msgs) * 2 // 3
    first, rest = msgs[:cut], msgs[cut:]
    produce(cfg, first)
    _run(cfg, len(first))
    stored = _stored(cfg)
    assert all(isinstance(s, list) for s in stored.values()), stored
    # the checkpoints cover the whole first part of the log, every partition
    assert sum(s[0].offset for s in stored.values() if isinstance(s, list)) == len(first)

    produce(cfg, rest)
    restarted = _run(cfg, len(msgs))
    assert _loads(restarted)["loaded"] == PARTITIONS
    # the same log, read whole by a service that has no checkpoints
    full = _run(make_config(kafka__group_id=f"{cfg.kafka.group_id}-full",
                            kafka__tickets_topic=cfg.kafka.tickets_topic,
                            kafka__logistics_topic=cfg.kafka.logistics_topic,
                            checkpoints__enabled=False), len(msgs))
    assert _loads(full)["loaded"] == 0
    problems = _same(restarted, full)
    assert not problems, "\n".join(problems[:30])
    problems = _oracle(restarted, msgs)
    assert not problems, "\n".join(problems[:30])


def test_other_config_corrupt_and_missing_checkpoints_fall_back_to_the_rebuild(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=20, seed=4, rate=2.0)
    produce(cfg, msgs)
    _run(cfg, len(msgs))
    stored = _stored(cfg)
    assert all(isinstance(v, list) for v in stored.values()), stored
    victim, gone = sorted(stored)[:2]
    # another configuration of windows: every checkpoint is refused
    other = make_config(kafka__group_id=cfg.kafka.group_id,
                        kafka__tickets_topic=cfg.kafka.tickets_topic,
                        kafka__logistics_topic=cfg.kafka.logistics_topic,
                        windows={"15m": 900, "1h": 3600, "24h": 86400, "2h": 7200})
    text = _run(other, len(msgs))
    assert _loads(text) == {**dict.fromkeys(_loads(text), 0.0), "other_config": PARTITIONS}
    # that run wrote checkpoints of ITS config, in the other slot: refused, the older
    # one of this config is loaded instead
    text = _run(cfg, len(msgs))
    assert _loads(text)["loaded"] == PARTITIONS
    # one partition's checkpoint damaged (both slots), another's gone (a tombstone)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers)
    for slot in (0, 1):
        key = f"{victim[0]}/{victim[1]}/{slot}/0".encode()
        producer.send(cfg.checkpoint_topic, key=key, value=b'{"store": 1}\nxx', partition=0)
    for slot in (0, 1):
        producer.send(cfg.checkpoint_topic, key=f"{gone[0]}/{gone[1]}/{slot}/0".encode(),
                      value=None, partition=0)
    producer.flush()
    producer.close()
    text = _run(cfg, len(msgs))
    loads = _loads(text)
    assert (loads["loaded"], loads["corrupt"], loads["missing"]) == (PARTITIONS - 2, 1, 1)
    problems = _oracle(text, msgs)
    assert not problems, "\n".join(problems[:30])
