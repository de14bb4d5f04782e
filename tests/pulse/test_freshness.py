"""Issue 17, freshness: new events reach ``/metrics`` on the snapshot cadence of
``snapshots`` (core/config.py), not on the fixed idle tick, and that cadence never
starves the fold.

Behaviour only, on the real broker: the idle tick is set to a minute, so an event that
shows up within the test's wait was published by the new-events path; timings are in
``bench/freshness.py``.
"""

from __future__ import annotations

import threading
import time
import urllib.error
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
import pytest

from consumers.admin import ensure_topics
from core.config import Config
from core.errors import ConfigError
from core.snapshot import ConsumerHealth
from pulse.pipeline import Pipeline
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, produce

pytestmark = pytest.mark.broker

IDLE_TICK_S = 60.0


class TP(NamedTuple):  # what the pipeline reads of a TopicPartition
    topic: str
    partition: int  # the longest allowed: no regular snapshot during a test


def _events_total(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("aftersales_events_total{"))


def _created(cfg: Config, n: int, tag: str) -> list[Message]:
    now = int(time.time() * 1000)
    return [(cfg.kafka.tickets_topic, f"{tag}-{i}", orjson.dumps({
        "event_id": f"{tag}-{i}", "type": "ticket.created", "ts": now - 1000 + i % 500,
        "ticket_id": f"{tag}-{i}", "channel": "chat", "category": "inquiry",
        "priority": "P3", "region": "east"})) for i in range(n)]


def _publishes(svc: Service) -> list[int]:
    """Counts the snapshots the service publishes (wraps its publish callback)."""
    seen: list[int] = []
    publish = svc.pipeline._publish

    def counting(snap: Any) -> None:
        seen.append(sum(snap.events_total.values()))
        publish(snap)

    svc.pipeline._publish = counting
    return seen


def test_a_new_event_is_visible_without_waiting_for_the_idle_tick(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config(snapshots={"interval_s": IDLE_TICK_S})
    ensure_topics(cfg.kafka)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        url = svc.metrics_url
        assert _events_total(scrape(url)) == 0
        published = _publishes(svc)
        for round_, n in enumerate((1, 7, 40), start=1):
            before = len(published)
            total = sum((1, 7, 40)[:round_])
            produce(cfg, _created(cfg, n, f"r{round_}"))
            # well within the idle tick: only the new-events path can have published it
            wait_for(lambda t=total: _events_total(scrape(url)) == t, timeout=20,
                     interval=0.05)
            assert len(published) > before
        assert svc.reader.ready


def test_without_new_events_only_the_idle_cadence_publishes(
        make_config: Callable[..., Config]) -> None:
    """Nothing folded, nothing due: an idle service does not snapshot on every poll."""
    cfg = make_config(snapshots={"interval_s": IDLE_TICK_S, "min_interval_s": 0.0})
    ensure_topics(cfg.kafka)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        assert svc.pipeline.publish_due() is None
        published = _publishes(svc)
        produce(cfg, _created(cfg, 3, "once"))
        wait_for(lambda: _events_total(scrape(svc.metrics_url)) == 3, timeout=20,
                 interval=0.05)
        after = len(published)
        assert svc.pipeline.publish_due() is None  # published, nothing new since
        # the reader keeps polling (about five times a second when idle); none publishes
        beats = svc.reader.beat_at
        wait_for(lambda: svc.reader.beat_at > beats + 1.0, timeout=20, interval=0.1)
        assert len(published) == after


def test_the_snapshot_cadence_does_not_starve_the_fold(
        make_config: Callable[..., Config]) -> None:
    """The most eager cadence (a snapshot after every folded batch, no CPU budget) under a
    constant scrape load: every event is still counted, and each scrape sees one whole
    snapshot (the count never goes back)."""
    cfg = make_config(snapshots={"interval_s": IDLE_TICK_S, "min_interval_s": 0.0,
                                 "max_cpu_share": 1.0})
    ensure_topics(cfg.kafka)
    rounds, per_round = 6, 3000
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        url = svc.metrics_url
        published = _publishes(svc)
        stop = threading.Event()
        seen: list[list[float]] = [[], []]
        errors: list[BaseException] = []

        def hammer(out: list[float]) -> None:
            while not stop.is_set():
                try:
                    out.append(_events_total(scrape(url)))
                except (OSError, urllib.error.URLError) as exc:  # pragma: no cover
                    errors.append(exc)
                    return

        scrapers = [threading.Thread(target=hammer, args=(s,), daemon=True) for s in seen]
        for t in scrapers:
            t.start()
        try:
            for r in range(rounds):
                produce(cfg, _created(cfg, per_round, f"s{r}"))
            total = rounds * per_round
            wait_for(lambda: _events_total(scrape(url)) == total, timeout=90)
        finally:
            stop.set()
            for t in scrapers:
                t.join(10)
        assert not errors, errors
        for s in seen:
            assert len(s) > 10  # the scrapers really ran all along
            assert s == sorted(s)  # one consistent, monotone snapshot per scrape
        # many snapshots on the way, not one at the end: published as events came in
        assert len(set(published)) > 2, published[:20]
        assert published[-1] == total


def test_a_costly_snapshot_spaces_the_next_ones(make_config: Callable[..., Config]) -> None:
    """The CPU budget: after snapshots that took ``c`` seconds, events folded since are
    due no sooner than ``c / max_cpu_share`` later, not after min_interval_s; one slow
    snapshot among fast ones does not hold the next ones back."""
    cfg = make_config(snapshots={"interval_s": 10.0, "min_interval_s": 0.0,
                                 "max_cpu_share": 0.01})
    slow_s = 0.05
    pipe = Pipeline(cfg, listeners=(lambda snap: time.sleep(slow_s),))
    pipe.reader.ready = True
    health = ConsumerHealth(ready=True, broker_up=True)
    pipe.publish(health)
    assert pipe.publish_due() is None  # nothing folded yet

    class Reader:  # the calls Pipeline.records makes on a ready reader
        ready = True

        @staticmethod
        def unfetched() -> list[Any]:
            return []

        @staticmethod
        def ended_ms() -> None:  # the consumer cannot tell: the hold is the quiet alone
            return None

        def publish(self) -> None:  # pragma: no cover - no listener tick configured
            pipe.publish(health)

    class Rec:
        offset, timestamp = 0, -1
        value = _created(cfg, 1, "c")[0][2]

    pipe.records({TP(cfg.kafka.tickets_topic, 0): [Rec()]}, Reader())  # type: ignore[arg-type]
    due = pipe.publish_due()
    assert due is not None
    # the cost (median of the last few) is at least the sleep: 0.05 s / 0.01 = 5 s
    assert due - pipe._published_at >= slow_s / 0.01
    assert pipe.engine.snapshot().events_total  # the event itself was folded at once
    pipe._listeners = ()  # fast snapshots again: after three, the slow one no longer counts
    for _ in range(3):
        pipe.publish(health)
    pipe.records({TP(cfg.kafka.tickets_topic, 0): [Rec()]}, Reader())  # type: ignore[arg-type]
    due = pipe.publish_due()
    assert due is not None
    assert due - pipe._published_at < slow_s / 0.01


@pytest.mark.parametrize(("snapshots", "key"), [
    ({"interval_s": 0}, "snapshots.interval_s"),
    ({"interval_s": 1.0, "min_interval_s": 2.0}, "snapshots.min_interval_s"),
    ({"min_interval_s": -1}, "snapshots.min_interval_s"),
    ({"max_cpu_share": 0}, "snapshots.max_cpu_share"),
    ({"max_cpu_share": 1.5}, "snapshots.max_cpu_share"),
    ({"every_s": 1}, "snapshots.every_s"),
])
def test_snapshot_settings_are_checked(make_config: Callable[..., Config],
                                       snapshots: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make_config(snapshots=snapshots)


@pytest.mark.parametrize("fetch_process", [True, False])
def test_the_reader_asks_the_broker_not_to_hold_fetches_long(
        make_config: Callable[..., Config], fetch_process: bool) -> None:
    """fetch_max_wait_ms is 100 ms unless kafka.consumer sets it: a broker that holds a
    fetch until then (Tansu) would otherwise add up to kafka-python's 500 ms."""
    for consumer, want in (({}, 100), ({"fetch_max_wait_ms": 250}, 250)):
        cfg = make_config(kafka__fetch_process=fetch_process, kafka__consumer=consumer)
        ensure_topics(cfg.kafka)
        with Service(cfg) as svc:
            assert svc.wait_ready(60)
            c = svc.reader._consumer
            settings = c._settings if fetch_process else c.config
            assert settings["fetch_max_wait_ms"] == want


def test_offsets_are_committed_without_the_loop_waiting(
        make_config: Callable[..., Config]) -> None:
    """With the fetch child, a running commit is sent and not waited for (the fold and
    the snapshots go on meanwhile): the group's offsets still reach what was folded."""
    from kafka import KafkaConsumer, TopicPartition

    cfg = make_config()
    ensure_topics(cfg.kafka)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        svc.reader._commit_interval = 0.2
        produce(cfg, _created(cfg, 500, "c"))
        wait_for(lambda: _events_total(scrape(svc.metrics_url)) == 500, timeout=30)
        probe = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap_servers,
                              group_id=cfg.kafka.group_id, enable_auto_commit=False)
        try:
            tps = [TopicPartition(cfg.kafka.tickets_topic, p)
                   for p in sorted(probe.partitions_for_topic(cfg.kafka.tickets_topic) or ())]
            wait_for(lambda: sum(probe.committed(tp) or 0 for tp in tps) == 500, timeout=30)
        finally:
            probe.close()
        assert svc.reader.fetcher() is not None
