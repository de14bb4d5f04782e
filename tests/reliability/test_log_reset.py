"""The log going back (SPEC §2, issue 14 item 3), on the real broker.

Topics deleted and recreated while the service runs (Tansu 0.6 supports DeleteTopics: the
fetch then answers the old position with an empty batch and the new, smaller high
watermark, no error), a recreated topic already past the old offsets when the service
looks, and a broker restarted empty on the same port with an alert firing. Each time the
service must rebuild from the log as it now is — the metrics equal the oracle on the new
log alone, no ticket of the old one stays — warn, count ``aftersales_log_resets_total``,
say "not ready" while it rebuilds, and send no plain "resolved" notice.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from consumers.admin import ensure_topics
from core.config import Config
from core.snapshot import Snapshot
from pulse.app import App
from pulse.broker import LocalBroker, free_port
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import Message, handled, produce, simulated
from tests.oracle import compute, diff, from_exposition

pytestmark = pytest.mark.broker

PARTITIONS = 3


def _now_ms() -> int:
    return int(time.time() * 1000)


def _value(text: str, name: str, labels: str = "") -> float | None:
    prefix = f"{name}{{{labels}}} " if labels else name + " "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


def _resets(text: str, topic: str) -> float:
    return _value(text, "aftersales_log_resets_total", f'topic="{topic}"') or 0.0


def _settled(url: str, produced: int, timeout: float = 90) -> str:
    wait_for(lambda: handled(scrape(url)) >= produced and _value(scrape(url),
             "aftersales_ready") == 1.0, timeout=timeout)
    time.sleep(0.7)
    return scrape(url)


def _until(url: str, cond: Callable[[str], object], timeout: float) -> str:
    """The first scrape ``cond`` accepts; on a timeout the failure says what was last
    seen (resets, events handled, ready, lag), not just that a predicate stayed false."""
    seen: dict[str, object] = {}

    def accepted() -> str | None:
        t = scrape(url)
        seen.update(resets={ln.split("{", 1)[1].split("}")[0]: ln.rsplit(" ", 1)[1]
                            for ln in t.splitlines()
                            if ln.startswith("aftersales_log_resets_total{")},
                    handled=handled(t), ready=_value(t, "aftersales_ready"),
                    lag=sum(float(ln.rsplit(" ", 1)[1]) for ln in t.splitlines()
                            if ln.startswith("aftersales_consumer_lag_messages{")))
        return t if cond(t) else None

    try:
        return str(wait_for(accepted, timeout=timeout))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen}") from None


def _problems(text: str, messages: list[Message]) -> list[str]:
    got = from_exposition(text)
    want = compute(messages, wall_ms=_now_ms())
    got.late = want.late = None  # depends on how partitions interleave, not on the log
    return diff(got, want)


def _recreate(cfg: Config) -> None:
    """Delete the event topics (not their DLQs) and create them again, empty."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        admin.delete_topics(list(cfg.kafka.topics))
        wait_for(lambda: not set(cfg.kafka.topics) & set(admin.list_topics()), 10)
        admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in cfg.kafka.topics])
    finally:
        admin.close()


class Readiness:
    """Every snapshot the reader publishes (its ``ready``, lag and rebuild count), and
    ``/readyz`` sampled in a tight loop from another thread."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.url = svc.metrics_url.replace("/metrics", "/readyz")
        self.published: list[tuple[bool, int, int]] = []  # (ready, total lag, rebuilds)
        self.codes: list[int] = []  # /readyz statuses, on change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start = (svc.reader.ready, svc.reader.rebuilds)
        publish = svc.pipeline._publish

        def record(snap: Snapshot) -> None:
            self.published.append((snap.ready, sum(snap.consumer_lag.values()), snap.rebuilds))
            publish(snap)

        svc.pipeline._publish = record

    def _status(self) -> int:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _run(self) -> None:
        while not self._stop.is_set():
            code = self._status()
            if not self.codes or self.codes[-1] != code:
                self.codes.append(code)
            time.sleep(0.002)

    def went_unready_then_ready(self) -> bool:
        """Ready when recording began; published not ready in a later rebuild; ready again."""
        later = [(ready, n) for ready, _, n in self.published if n > self.start[1]]
        flags = [ready for ready, _ in later]
        return (self.start[0] and bool(flags) and not flags[0] and flags[-1])

    def __enter__(self) -> Readiness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith("log reset on ")]


@pytest.mark.parametrize("fetch_process", [True, False], ids=["fetch-child", "in-process"])
def test_topics_recreated_while_running_rebuild_from_the_new_log(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture,
        fetch_process: bool) -> None:
    caplog.set_level(logging.WARNING, logger="consumers.reader")
    cfg = make_config(kafka__fetch_process=fetch_process)
    ensure_topics(cfg.kafka, partitions=PARTITIONS)
    old = simulated(cfg, hours=6, seed=41, rate=3.0)
    new = simulated(cfg, hours=3, seed=42, rate=3.0)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, old)
        url = svc.metrics_url
        before = _settled(url, len(old))
        assert _problems(before, old) == []
        for topic in cfg.kafka.topics:  # every topic's series, from the start, at 0
            assert _value(before, "aftersales_log_resets_total", f'topic="{topic}"') == 0.0
        old_backlog = from_exposition(before).gauges
        with Readiness(svc) as readiness:
            _recreate(cfg)
            produce(cfg, new)
            _until(url, lambda t: bool(_resets(t, cfg.kafka.tickets_topic))
                   and handled(t) == len(new) and _value(t, "aftersales_ready") == 1.0,
                   timeout=60)
            time.sleep(0.7)
            text = scrape(url)
        problems = _problems(text, new)
        assert not problems, "\n".join(problems[:40])  # the new log alone: no old ticket
        assert from_exposition(text).gauges != old_backlog
        assert readiness.went_unready_then_ready(), readiness.published
        assert readiness.codes[0] == 200
        assert readiness.codes[-1] == 200
        assert sum(from_exposition(text).events_total.values()) == sum(
            compute(new, wall_ms=_now_ms()).events_total.values())
        for topic in cfg.kafka.topics:
            assert _resets(text, topic) == 1.0, topic
        lags = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("aftersales_consumer_lag_messages{")]
        assert len(lags) == 2 * PARTITIONS
        assert not any(lags)
    warned = _warnings(caplog)
    for topic in cfg.kafka.topics:
        assert any(w.startswith(f"log reset on {topic}[") for w in warned), warned
    assert any("beyond the high watermark" in w or "topic id changed" in w for w in warned)


def test_the_new_log_growing_past_the_old_offsets_is_read_whole(
        make_config: Callable[..., Config]) -> None:
    """The bug seen: once the new log passed the old offsets only its tail was counted."""
    cfg = make_config()
    ensure_topics(cfg.kafka, partitions=PARTITIONS)
    old = simulated(cfg, hours=2, seed=51, rate=3.0)
    first = simulated(cfg, hours=0.5, seed=52, rate=3.0)
    more = simulated(cfg, hours=3, seed=53, rate=3.0)
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        url = svc.metrics_url
        produce(cfg, old)
        _settled(url, len(old))
        _recreate(cfg)
        produce(cfg, first)
        text = wait_for(lambda: (t := scrape(url)) and _resets(t, cfg.kafka.tickets_topic)
                        and handled(t) == len(first) and t, timeout=60)
        assert _problems(_settled(url, len(first)), first) == []
        produce(cfg, more)  # the new log now runs far past where the old one ended
        assert len(first) < len(old) < len(first) + len(more)
        text = _settled(url, len(first) + len(more))
        problems = _problems(text, first + more)
        assert not problems, "\n".join(problems[:40])
        for topic in cfg.kafka.topics:
            assert _resets(text, topic) == 1.0  # growing is no reset


def test_a_recreated_topic_already_past_the_old_offsets_when_first_seen(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    """The fetch child is frozen while the topics are recreated and refilled beyond the old
    offsets: no smaller high watermark is ever seen, only the new topic id tells."""
    caplog.set_level(logging.WARNING, logger="consumers.reader")
    cfg = make_config()
    ensure_topics(cfg.kafka, partitions=PARTITIONS)
    old = simulated(cfg, hours=1, seed=61, rate=3.0)
    new = simulated(cfg, hours=16, seed=62, rate=3.0)
    # snapshots every 50 ms: the lag the rebuild publishes is seen while it lasts
    with Service(cfg, consumer_overrides={"metadata_max_age_ms": 1000},
                 publish_interval_s=0.05) as svc:
        assert svc.wait_ready(60)
        url = svc.metrics_url
        produce(cfg, old)
        _settled(url, len(old))
        pid = svc.reader._consumer.pid
        with Readiness(svc) as readiness:
            os.kill(pid, signal.SIGSTOP)
            paused = time.monotonic()
            try:
                _recreate(cfg)
                produce(cfg, new[:len(new) // 4])  # 4 h: already past the old offsets
            finally:
                os.kill(pid, signal.SIGCONT)
            # within the session timeout: the same member, no rebalance to hide behind
            assert time.monotonic() - paused < cfg.kafka.session_timeout_ms / 1000
            produce(cfg, new[len(new) // 4:])  # the rest while the new log is read
            wait_for(lambda: (t := scrape(url)) and _resets(t, cfg.kafka.tickets_topic)
                     and _resets(t, cfg.kafka.logistics_topic)
                     and handled(t) == len(new) and t, timeout=60)
            text = _settled(url, len(new))
        problems = _problems(text, new)
        assert not problems, "\n".join(problems[:40])
        assert readiness.went_unready_then_ready(), readiness.published
        # the rebuild of ~48k records is long enough for a probe to see it
        codes = readiness.codes
        assert (codes[0], 503 in codes, codes[-1]) == (200, True, 200), codes
        rebuilding = [lag for ready, lag, _ in readiness.published if not ready]
        assert max(rebuilding) > 0  # lag told the truth while the new log was read
    assert any("topic id changed" in w for w in _warnings(caplog)), _warnings(caplog)


# -- a broker restarted empty, with an alert firing ----------------------------------------
_RULES = """
version: 1
rules:
  - name: P1ResolutionOverdue
    expr: resolution_overdue{priority="P1"}
    metrics: [aftersales_resolution_overdue_tickets]
    op: ">"
    threshold: 0
    for: 0s
    severity: critical
    summary: {zh: "{value} 张 P1 工单超时", en: "{value} P1 tickets overdue"}
    description: {zh: "P1 超时。", en: "P1 overdue."}
    resolved_summary: {zh: "P1 超时工单已清零", en: "No P1 ticket overdue any more"}
"""


def _event(event_id: str, etype: str, ts: int, **fields: Any) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": etype, "ts": ts, **fields})


def _tickets(cfg: Config, now: int, tag: str, priority: str, age_ms: int) -> list[Message]:
    topic = cfg.kafka.tickets_topic
    created = {"channel": "email", "category": "repair", "region": "east"}
    return [
        (topic, f"{tag}-old", _event(f"{tag}-1", "ticket.created", now - age_ms,
                                     ticket_id=f"{tag}-old", priority=priority, **created)),
        (topic, f"{tag}-new", _event(f"{tag}-2", "ticket.created", now - 5_000,
                                     ticket_id=f"{tag}-new", priority="P4", **created)),
    ]


@pytest.fixture
def own_broker() -> Iterator[LocalBroker]:
    """A broker of this test's own, on a fixed port, to kill and start again empty."""
    broker = LocalBroker(port=free_port()).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize("fetch_process", [True, False], ids=["fetch-child", "in-process"])
def test_broker_restarted_empty_sends_no_false_resolved(
        make_config: Callable[..., Config], own_broker: LocalBroker, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, fetch_process: bool) -> None:
    caplog.set_level(logging.INFO, logger="alerts.notify")
    caplog.set_level(logging.WARNING, logger="consumers.reader")
    rules = tmp_path / "rules.yaml"
    rules.write_text(_RULES, encoding="utf-8")
    cfg = make_config(kafka__bootstrap_servers=own_broker.bootstrap,
                      kafka__fetch_process=fetch_process,
                      alerting__rules_file=str(rules), alerting__eval_interval_s=1)
    ensure_topics(cfg.kafka, partitions=PARTITIONS)
    app = App(cfg).start()
    replacement: LocalBroker | None = None
    try:
        svc, al = app.service, app.alerting
        assert al is not None
        assert svc.wait_ready(60)
        now = _now_ms()
        produce(cfg, _tickets(cfg, now, "a", "P1", 3 * 3600_000))  # one P1 3 h open
        wait_for(lambda: [a.name for a in al.active_alerts()] == ["P1ResolutionOverdue"], 60)
        port = own_broker.port
        own_broker.kill()
        replacement = LocalBroker(port=port).start()  # same address, memory storage: empty
        ensure_topics(cfg.kafka, partitions=PARTITIONS)
        produce(cfg, _tickets(cfg, _now_ms(), "b", "P3", 60_000))  # nothing overdue
        url = svc.metrics_url
        _until(url, lambda t: bool(_resets(t, cfg.kafka.tickets_topic))
               and _value(t, "aftersales_ready") == 1.0
               and _value(t, "aftersales_backlog_tickets",
                          'category="repair",priority="P3",region="east"') == 1.0, 90)
        wait_for(lambda: not al.active_alerts(), 30)
        ends = [n for n in al.history if n.status == "resolved"]
        assert [(n.alert.name, n.reason) for n in ends] == [
            ("P1ResolutionOverdue", "log_reset")]
        time.sleep(1.5)  # the sink's thread
        lines = [r.getMessage() for r in caplog.records if r.name == "alerts.notify"]
        assert not any("已恢复" in line or "RESOLVED" in line for line in lines), lines
        assert sum("[已结束·日志重置]" in line and "reason=log_reset" in line
                   for line in lines) == 1, lines
        text = scrape(url)
        assert _value(text, "aftersales_backlog_tickets",
                      'category="repair",priority="P1",region="east"') == 0.0
    finally:
        app.stop()
        if replacement is not None:
            replacement.stop()
    assert any("log reset on " in m for m in _warnings(caplog))
