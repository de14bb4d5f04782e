"""Checkpoints in Kafka (issue 17), on the real broker: a restart loads each partition's
state from the compacted checkpoint topic and reads on from its offset, and reports
exactly what a full rebuild and the oracle report for the same log; a checkpoint of
another configuration, a corrupt one and a missing one fall back to the rebuild of that
partition, counted in ``aftersales_checkpoint_loads_total{result}``."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kafka import KafkaProducer

from consumers.checkpoints import CheckpointStore, Stored
from core.config import Config
from pulse.pipeline import Pipeline
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled, produce, simulated
from tests.oracle import compute, diff, from_exposition
from tests.reliability.pulse_process import PulseRun
from tests.reliability.test_crash import _descendants

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


def test_the_stream_goes_on_while_a_checkpoint_round_is_encoded(
        make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> None:
    """The round after the rebuild is encoded by a forked copy (2 s per partition here):
    events produced meanwhile are on /metrics within seconds, before the round ends, and
    the checkpoints it wrote cover the log as it was at the fork."""
    cfg = make_config(checkpoints__interval_s=3600)
    first = simulated(cfg, hours=6, seed=8, rate=2.0)
    produce(cfg, first)
    encode = Pipeline.checkpoint

    def slow_checkpoint(self: Pipeline, tp: object) -> bytes:
        time.sleep(2.0)  # in the forked copy: the service itself is not slowed
        return encode(self, tp)

    monkeypatch.setattr(Pipeline, "checkpoint", slow_checkpoint)
    with Service(cfg) as svc:
        assert svc.wait_ready(90)
        reader = svc.reader
        wait_for(lambda: reader._job is not None, timeout=10)
        more = simulated(cfg, hours=0.3, seed=9, rate=2.0,
                         start_ms=int(time.time() * 1000) - 20 * 60_000)
        more = [(t, k, v.replace(b'"event_id":"', b'"event_id":"more-')) for t, k, v in more]
        produce(cfg, more)
        total = len(first) + len(more)
        wait_for(lambda: handled(scrape(svc.metrics_url)) == total, timeout=8)
        assert reader._job is not None, "the round ended before the new events showed"
        wait_for(lambda: reader._job is None, timeout=60)
        stored = _stored(cfg)
        assert all(isinstance(s, list) for s in stored.values()), stored
        assert sum(s[0].offset for s in stored.values() if isinstance(s, list)) == len(first)


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


# -- a partition moving between two members ----------------------------------------------
ADDITIVE = ("aftersales_events_total", "aftersales_events_rejected_total",
            "aftersales_events_duplicate_total", "aftersales_events_orphan_total",
            "aftersales_backlog_tickets", "aftersales_unanswered_tickets",
            "aftersales_returns_open", "aftersales_window_tickets_created",
            "aftersales_window_first_responses", "aftersales_window_resolutions",
            "aftersales_window_returns_requested", "aftersales_first_response_seconds_count",
            "aftersales_resolution_seconds_bucket", "aftersales_records_read_total")


def _additive(*texts: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name in ADDITIVE:
                    key = (s.name, tuple(sorted(s.labels.items())))
                    out[key] = out.get(key, 0.0) + float(s.value)
    return out


def test_a_stop_during_a_checkpoint_round_writes_each_partition_once(
        make_config: Callable[..., Config]) -> None:
    """The round after the rebuild is stopped half way (its forked encoder is slow after
    three partitions): the stop writes the three it had not written, not all six again.
    Written twice, a partition's second copy took the other slot and the older
    checkpoint with it (this file's other-config test saw it under a loaded CI)."""
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=2, seed=8, rate=2.0)
    produce(cfg, msgs)
    svc = Service(cfg)
    encode, parent = svc.pipeline.checkpoint, os.getpid()
    encoded = [0]

    def slow_in_the_child(tp: object) -> bytes:
        payload = encode(tp)
        encoded[0] += 1
        if os.getpid() != parent and encoded[0] > 3:
            time.sleep(60)  # the forked encoder; the stop's own write is not slowed
        return payload

    svc.pipeline.checkpoint = slow_in_the_child  # type: ignore[method-assign]
    with svc:
        assert svc.wait_ready(90)
        reader = svc.reader
        wait_for(lambda: reader._job is not None and len(reader._job.written()) == 3,
                 timeout=60)
    stored = _stored(cfg)
    assert len(stored) == PARTITIONS
    slots = {src: len(got) for src, got in stored.items() if isinstance(got, list)}
    assert slots == dict.fromkeys(stored, 1), stored


def test_a_rebalance_during_a_checkpoint_round_writes_each_partition_once(
        make_config: Callable[..., Config]) -> None:
    """As the stop above, for a rebalance: a second member joins while the first one's
    round after its rebuild is half way (its forked encoder is slow after three
    partitions). The round is cancelled; what it wrote is noted for the partitions the
    first member keeps, so neither its next round nor its stop writes those again (into
    the other slot, taking the older checkpoint with it)."""
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=2, seed=9, rate=2.0)
    produce(cfg, msgs)
    a = Service(cfg)
    encode, parent = a.pipeline.checkpoint, os.getpid()
    encoded = [0]

    def slow_in_the_child(tp: object) -> bytes:
        payload = encode(tp)
        encoded[0] += 1
        if os.getpid() != parent and encoded[0] > 3:
            time.sleep(60)
        return payload

    a.pipeline.checkpoint = slow_in_the_child  # type: ignore[method-assign]
    same_group = make_config(kafka__group_id=cfg.kafka.group_id, checkpoints__interval_s=3600,
                             kafka__tickets_topic=cfg.kafka.tickets_topic,
                             kafka__logistics_topic=cfg.kafka.logistics_topic)
    with a:
        assert a.wait_ready(90)
        ra = a.reader
        wait_for(lambda: ra._job is not None and len(ra._job.written()) == 3, timeout=60)
        job = ra._job
        assert job is not None
        by_round = {tp: offset for tp, offset, _n in job.written()}
        with Service(same_group) as b:
            rb = b.reader
            wait_for(lambda: ra.ready and rb.ready and bool(ra._assigned) and bool(rb._assigned)
                     and len(ra._assigned) + len(rb._assigned) == PARTITIONS, timeout=120)
            for tp in ra._assigned & by_round.keys():  # kept: noted as written
                assert ra._checkpointed.get(tp) == by_round[tp], tp
    stored = _stored(cfg)
    assert len(stored) == PARTITIONS
    slots = {src: len(got) for src, got in stored.items() if isinstance(got, list)}
    assert slots == dict.fromkeys(stored, 1), stored


def test_a_partition_moving_between_two_members(make_config: Callable[..., Config]) -> None:
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=20, seed=6, rate=2.0, customer_messages=True)
    produce(cfg, msgs)

    def same_group() -> Config:
        return make_config(kafka__group_id=cfg.kafka.group_id, checkpoints__interval_s=3600,
                           kafka__tickets_topic=cfg.kafka.tickets_topic,
                           kafka__logistics_topic=cfg.kafka.logistics_topic)

    with Service(cfg) as a:
        assert a.wait_ready(90)
        alone = _settled(a.metrics_url, len(msgs))
        ra = a.pipeline.reader
        assert ra.checkpoint_loads["missing"] == PARTITIONS  # nothing written yet
        wait_for(lambda: _stored(cfg) and all(isinstance(v, list)
                                              for v in _stored(cfg).values()), timeout=30)
        before = dict(a.pipeline.engine.shards)
        with Service(same_group()) as b:
            rb = b.pipeline.reader

            def split() -> bool:
                return (ra.ready and rb.ready and len(ra._assigned) + len(rb._assigned)
                        == PARTITIONS and bool(rb._assigned) and bool(ra._assigned))

            wait_for(split, timeout=90)
            kept = {(tp.topic, tp.partition) for tp in ra._assigned}
            # a kept its remaining partitions' shards as they were, dropped the others,
            # loaded nothing; b loaded every partition it got from a's checkpoints
            assert set(a.pipeline.engine.shards) == kept
            assert all(a.pipeline.engine.shards[k] is before[k] for k in kept)
            assert sum(ra.checkpoint_loads.values()) == PARTITIONS
            assert rb.checkpoint_loads["loaded"] == len(rb._assigned)
            time.sleep(1.0)
            both = _additive(scrape(a.metrics_url), scrape(b.metrics_url))
            assert both == _additive(alone)
        # b left: its partitions come back to a, from their checkpoints
        wait_for(lambda: ra.ready and len(ra._assigned) == PARTITIONS, timeout=90)
        assert ra.checkpoint_loads["loaded"] == PARTITIONS - len(kept)
        time.sleep(1.0)
        back = scrape(a.metrics_url)
    problems = _same(back, alone)
    assert not problems, "\n".join(problems[:30])


# -- SIGKILL at random points, during checkpoint writes too ------------------------------
def test_sigkill_at_random_points_even_mid_checkpoint(make_config: Callable[..., Config],
                                                      tmp_path: Path) -> None:
    """``pulse run`` writes a checkpoint every second it moved on, in parts of 2 KiB
    (hundreds of messages a shard: with traffic flowing a write is under way most of the
    time), and is SIGKILLed at random moments three times (during a write, or during the
    start and rebuild) while a producer writes; the last run reports what the oracle
    computes for the whole log."""
    seed = int(os.environ.get("PULSE_CHECKPOINT_SEED", random.randrange(1 << 30)))
    print(f"PULSE_CHECKPOINT_SEED={seed}")
    rnd = random.Random(seed)
    cfg = make_config()
    msgs = simulated(cfg, hours=12, seed=8, rate=2.0, customer_messages=True, bad_every=101)
    slices = [msgs[: len(msgs) // 2], msgs[len(msgs) // 2: len(msgs) * 3 // 4],
              msgs[len(msgs) * 3 // 4:]]
    run = PulseRun(cfg, tmp_path)
    conf = yaml.safe_load(run.conf.read_text())
    conf["checkpoints"] = {"interval_s": 1, "max_part_bytes": 2048}
    run.conf.write_text(yaml.safe_dump(conf))
    produced = 0
    for i, part in enumerate(slices):
        seen = len(run.output())
        run.start()
        assert run.proc is not None
        if i == 0 or rnd.random() < 0.7:
            # traffic while it runs: a checkpoint is written every second it moved on
            wait_for(lambda n=seen: "ready" in run.output()[n:] or not run.alive, timeout=90)
            feeder = threading.Thread(target=produce, args=(cfg, part))
            feeder.start()
            wait_for(lambda n=seen: "partitions written" in run.output()[n:]
                     or not run.alive, timeout=90)
            time.sleep(rnd.uniform(0.5, 4.0))  # in the next writes, most likely
        else:  # or during the start, the load and the rebuild
            feeder = threading.Thread(target=produce, args=(cfg, part))
            feeder.start()
            time.sleep(rnd.uniform(1.0, 6.0))
        assert run.alive, run.output()[seen:]
        pid = run.proc.pid
        children = _descendants(pid)
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)
        run.proc = None
        for child in children:  # the fetch process follows its parent
            wait_for(lambda c=child: not Path(f"/proc/{c}").exists(), timeout=30)
        feeder.join(60)
        produced += len(part)
    writes = run.output().count("partitions written")
    run.start()
    try:
        run.wait_ready(120)
        text = _settled(run.base + "/metrics", produced)
    finally:
        run.stop()
    loads = _loads(text)
    assert loads["loaded"] >= 1, (loads, writes)  # a half-written one leaves the other slot
    problems = _oracle(text, msgs)
    assert not problems, "\n".join(problems[:30])
