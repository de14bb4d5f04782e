"""The whole pipeline against the real broker, checked against the independent oracle."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import confluent_kafka
import orjson
import pytest
import yaml
from kafka import TopicPartition

from core.config import Config
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled, produce, read_topic, simulated
from tests.oracle import Expected, compute, diff, from_exposition

pytestmark = pytest.mark.broker


def _now_ms() -> int:
    return int(time.time() * 1000)


def _settled(url: str, produced: int) -> str:
    """Scrape until every produced message is accounted for, then once more."""
    wait_for(lambda: handled(scrape(url)) >= produced, timeout=120)
    time.sleep(0.7)
    return scrape(url)


def _compare(text: str, messages: list[Message], wall_ms: int) -> list[str]:
    got = from_exposition(text)
    want: Expected = compute(messages, wall_ms=wall_ms)
    got.late = want.late = None  # depends on how partitions interleave, not on the log
    return diff(got, want)


def test_backlog_partitions_are_read_in_event_time_step(make_config) -> None:
    """A 40 h backlog over 3 partitions: no partition runs a window ahead of the others."""
    cfg = make_config()
    messages = simulated(cfg, hours=40, seed=9, rate=6.0)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, messages)  # a backlog replayed while live: alerts judge it on the way
        text = _settled(svc.metrics_url, len(messages))
    late = from_exposition(text).late or {}
    assert sum(late.values()) == 0, late
    assert _compare(text, messages, _now_ms()) == []


def _created_every_minute(cfg, partition: int, start_ms: int, minutes: range,
                          tag: str) -> list[tuple[int, Message]]:
    return [(partition, (cfg.kafka.tickets_topic, None, orjson.dumps({
        "event_id": f"{tag}-{m}", "type": "ticket.created", "ts": start_ms + m * 60_000,
        "ticket_id": f"{tag}-{m}", "channel": "chat", "category": "return",
        "priority": "P2", "region": "east"}))) for m in minutes]


def _write_partitions(cfg, rows: list[tuple[int, Message]]) -> None:
    """Each message to its own partition (librdkafka), every one acknowledged."""
    producer = confluent_kafka.Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers,
                                         "linger.ms": 20})
    for partition, (topic, _key, value) in rows:
        producer.produce(topic, value, partition=partition)
    assert producer.flush(30) == 0


def test_a_partition_whose_fetch_is_stuck_still_holds_the_backlog_back(make_config) -> None:
    """A backlog being written: partition 0 has 1 h of event time so far, partition 1 has
    30 h. Partition 0 has been read to its end, then the fetch process stops (SIGSTOP: a
    fetch that does not come back) while partition 0's writer goes on. Quiet here for
    longer than the 3 s hold is not quiet at the broker: no fetch has asked since. Let go,
    partition 1's 30 h would be folded first and partition 0's next hours would come
    more than the largest window behind the clock (late); held, nothing is late."""
    cfg = make_config()  # fetch_process on (the default)
    start = _now_ms() - 40 * 3600 * 1000
    first_a = _created_every_minute(cfg, 0, start, range(60), "a")
    first_b = _created_every_minute(cfg, 1, start, range(30 * 60), "b")
    then = _created_every_minute(cfg, 0, start, range(60, 30 * 60), "a")
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        fetcher = svc.reader.fetcher()
        assert fetcher is not None
        assert fetcher.pid is not None
        # partition 0's hour is in Kafka before partition 1's 30 h: a partition not fed
        # yet and at its end (nothing written to it so far) cannot hold the others back
        _write_partitions(cfg, first_a)
        _write_partitions(cfg, first_b)
        # partition 0 folded to its end, partition 1 held at its hour + the 60 s slack:
        # seen in the pipeline itself, at once (not a published snapshot later)
        pipeline, tp0 = svc.pipeline, TopicPartition(cfg.kafka.tickets_topic, 0)
        wait_for(lambda: pipeline._positions.get(tp0) == 60
                 and pipeline._aligner.waiting() > 0, timeout=30, interval=0.01)
        os.kill(fetcher.pid, signal.SIGSTOP)
        try:
            _write_partitions(cfg, then)
            time.sleep(6.0)  # twice the hold, the fetch process still stopped
        finally:
            os.kill(fetcher.pid, signal.SIGCONT)
        messages = [m for _p, m in first_a + first_b + then]
        text = _settled(svc.metrics_url, len(messages))
    late = from_exposition(text).late or {}
    assert sum(late.values()) == 0, late
    assert _compare(text, messages, _now_ms()) == []


def test_generated_scenario_matches_the_oracle(make_config) -> None:
    cfg = make_config()
    # customers write again: turns, responses and awaiting reply are compared too (§7)
    messages = simulated(cfg, hours=30, seed=7, rate=3.0, bad_every=97, customer_messages=True)
    assert sum(b'"ticket.message"' in v for _t, _k, v in messages) > 100
    rnd = random.Random(7)
    # redelivered stragglers, from well inside the largest window: whether a repeat of an
    # id accepted ~24 h of event time earlier is a duplicate depends on how partitions
    # interleave, which the log does not fix
    recent = messages[len(messages) // 2:]
    messages += [rnd.choice(recent) for _ in range(200)]
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, messages)
        text = _settled(svc.metrics_url, len(messages))
    problems = _compare(text, messages, _now_ms())
    assert not problems, "\n".join(problems[:40])
    assert "aftersales_ready 1.0" in text
    got = from_exposition(text)
    assert got.gauges7  # the §7 series were on the page, so diff() compared them
    assert sum(v for (name, _lab), v in got.gauges7.items()
               if name == "aftersales_window_turns") > 0


def test_the_same_stream_twice_gives_identical_metrics(make_config) -> None:
    cfg = make_config()
    # within the largest window: SPEC §1 remembers ids for that long, so a repeat of an
    # event accepted more than 24 h of event time earlier counts again (docs/semantics.md)
    messages = simulated(cfg, hours=20, seed=3, rate=3.0)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, messages)
        once = from_exposition(_settled(svc.metrics_url, len(messages)))
        produce(cfg, messages)  # at-least-once redelivery of everything
        twice = from_exposition(_settled(svc.metrics_url, 2 * len(messages)))
    accepted = sum(once.events_total.values())
    assert sum(twice.duplicates.values()) == accepted
    twice.duplicates = once.duplicates
    twice.produced = once.produced = None
    assert diff(twice, once) == []


def test_bad_messages_are_rejected_counted_and_dead_lettered(make_config) -> None:
    cfg = make_config()
    good = simulated(cfg, hours=2, seed=5, rate=2.0)
    t, lg = cfg.kafka.tickets_topic, cfg.kafka.logistics_topic
    now = _now_ms()
    huge = orjson.dumps({"event_id": "big", "type": "ticket.created", "ts": now,
                         "ticket_id": "X", "pad": "x" * 70000})
    bad: list[Message] = [
        (t, "a", b"{not json"),
        (t, "b", b"\xff\xfe\x00"),
        (t, "c", huge),
        (t, "d", b'{"event_id":"e1","type":"ticket.exploded","ts":1762869600000,"ticket_id":"Q"}'),
        (t, "e", b'{"event_id":"e2","type":"ticket.rated","ts":1762869600000,'
                 b'"ticket_id":"Q","csat":"five"}'),
        (lg, "f", b'{"event_id":"e3","type":"return.requested","ts":"yesterday","return_id":"R"}'),
        (lg, "g", orjson.dumps({"event_id": "e4", "type": "shipment.delivered",
                                "ts": now + 3600_000, "order_id": "O", "region": "east"})),
        (lg, "h", b'{"type":"shipment.delivered","ts":1762869600000,"order_id":"O"}'),
    ]
    messages = good[: len(good) // 2] + bad + good[len(good) // 2:]
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, messages)
        text = _settled(svc.metrics_url, len(messages))
    got = from_exposition(text)
    assert got.rejected == {
        (t, "invalid_json"): 2, (t, "too_large"): 1, (t, "unknown_type"): 1,
        (t, "invalid_field"): 1, (lg, "invalid_timestamp"): 1, (lg, "future_timestamp"): 1,
        (lg, "missing_field"): 1,
    } | {k: 0 for k in (got.rejected or {}) if got.rejected and got.rejected[k] == 0}
    assert sum(got.events_total.values()) == len(good)
    problems = _compare(text, messages, _now_ms())
    assert not problems, "\n".join(problems[:40])
    dlq = read_topic(cfg, t + ".dlq") + read_topic(cfg, lg + ".dlq")
    assert sorted(r.value for r in dlq) == sorted(v for _, _, v in bad)
    for rec in dlq:
        headers = dict(rec.headers)
        assert headers["pulse.reason"]
        assert headers["pulse.error"]
        assert headers["pulse.source.topic"].decode() in (t, lg)


def _run_cmd(cfg: Config, conf: Path) -> list[str]:
    return [sys.executable, "-m", "pulse.cli", "run", "--bootstrap-servers",
            cfg.kafka.bootstrap_servers, "--config", str(conf), "--group-id", cfg.kafka.group_id,
            "--metrics-port", str(cfg.metrics_port), "--no-dashboard"]


def test_killed_mid_stream_and_restarted_converges(make_config, tmp_path: Path) -> None:
    cfg = make_config()
    conf = tmp_path / "pulse.yaml"
    conf.write_text(yaml.safe_dump({
        "kafka": {"tickets_topic": cfg.kafka.tickets_topic,
                  "logistics_topic": cfg.kafka.logistics_topic,
                  "max_poll_interval_ms": 10000, "session_timeout_ms": 6000},
        "alerting": {"enabled": False},
    }))
    messages = simulated(cfg, hours=30, seed=11, rate=3.0, bad_every=151)
    half = len(messages) // 2
    url = f"http://127.0.0.1:{cfg.metrics_port}/metrics"
    produce(cfg, messages[:half])
    proc = subprocess.Popen(_run_cmd(cfg, conf), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def some_progress() -> bool:
            try:
                return handled(scrape(url)) > 0
            except OSError:
                return False

        wait_for(some_progress, timeout=60, interval=0.05)
        produce(cfg, messages[half: half + 500])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    produce(cfg, messages[half + 500:])
    proc = subprocess.Popen(_run_cmd(cfg, conf), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def all_handled() -> bool:
            try:
                return handled(scrape(url)) >= len(messages)
            except OSError:
                return False

        wait_for(all_handled, timeout=120)
        time.sleep(0.7)
        text = scrape(url)
    finally:
        proc.terminate()
        proc.wait(30)
    problems = _compare(text, messages, _now_ms())
    assert not problems, "\n".join(problems[:40])
    # the DLQ holds each rejected message at least once (no loss across the crash)
    dlq = read_topic(cfg, cfg.kafka.tickets_topic + ".dlq") + read_topic(
        cfg, cfg.kafka.logistics_topic + ".dlq")
    rejected = sum(compute(messages, wall_ms=_now_ms()).rejected_by_topic.values())
    assert len({(r.topic, r.value) for r in dlq}) <= rejected <= len(dlq)


def test_live_clock_slides_windows_and_fires_sla_timers_without_events(make_config) -> None:
    cfg = make_config()
    wall = [_now_ms()]
    w0 = wall[0]
    created = [
        (cfg.kafka.tickets_topic, "L1", orjson.dumps({
            "event_id": "l1", "type": "ticket.created", "ts": w0 - 10_000, "ticket_id": "L1",
            "channel": "chat", "category": "return", "priority": "P1", "region": "east"})),
        (cfg.kafka.tickets_topic, "L2", orjson.dumps({
            "event_id": "l2", "type": "ticket.created", "ts": w0 - 10_000, "ticket_id": "L2",
            "channel": "phone", "category": "refund", "priority": "P2", "region": "south"})),
    ]
    with Service(cfg, wall=lambda: wall[0]) as svc:
        assert svc.wait_ready(60)
        produce(cfg, created)

        def gauge(name: str, **labels: str) -> float:
            return from_exposition(scrape(svc.metrics_url)).gauge(name, **labels)

        wait_for(lambda: gauge("aftersales_unanswered_tickets", channel="chat") == 1)
        assert gauge("aftersales_first_response_overdue_tickets", channel="chat") == 0
        assert gauge("aftersales_window_tickets_created", window="15m", channel="chat") == 1

        wall[0] = w0 + 60_000  # a minute passes, nothing arrives
        wait_for(lambda: gauge("aftersales_first_response_overdue_tickets", channel="chat") == 1)
        assert gauge("aftersales_first_response_overdue_tickets", channel="phone") == 0
        assert gauge("aftersales_oldest_unanswered_age_seconds", channel="chat") == pytest.approx(
            70.0, abs=1.0)

        wall[0] = w0 + 9_000_000  # P1's 2 h resolution SLA passes; 15m and 1h slide by
        wait_for(lambda: gauge("aftersales_resolution_overdue_tickets", priority="P1") == 1)
        text = scrape(svc.metrics_url)
        got = from_exposition(text)
        assert got.gauge("aftersales_window_tickets_created", window="15m", channel="chat") == 0
        assert got.gauge("aftersales_window_tickets_created", window="1h", channel="chat") == 0
        assert got.gauge("aftersales_window_tickets_created", window="24h", channel="chat") == 1
        assert got.gauge("aftersales_first_response_overdue_tickets", channel="phone") == 1
        assert got.gauge("aftersales_resolution_overdue_tickets", priority="P2") == 0
        assert "aftersales_live 1.0" in text
