"""A restart's start-up (issue 17: start → ready in seconds), on the real broker.

The checkpoint topic is read while the group join waits and decoded before the
assignment (consumers/load_ahead.py); what the assignment then keeps must be exactly what
loading after it gives: kept when this member gets what it decoded, dropped and loaded
again when it gets fewer partitions or a newer checkpoint was written meanwhile. The
metrics port answers during the join, and ``pulse run`` without a board never imports
the board's stack."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from consumers.checkpoints import CheckpointStore
from core.config import Config
from pulse.service import Service
from tests.conftest import ROOT, scrape, wait_for
from tests.integration.helpers import produce, simulated
from tests.reliability.test_checkpoints import (
    PARTITIONS,
    _additive,
    _loads,
    _oracle,
    _settled,
    _stored,
)

pytestmark = pytest.mark.broker


def _messages(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in list(caplog.records) if needle in r.getMessage()]


def _first_run(cfg: Config, n: int) -> None:
    """Rebuild from the log; the checkpoints are written once ready and at stop."""
    with Service(cfg) as svc:
        assert svc.wait_ready(90)
        _settled(svc.metrics_url, n)
    wait_for(lambda: all(isinstance(v, list) for v in _stored(cfg).values()), timeout=30)


def _readyz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_restart_decodes_its_checkpoints_during_the_join_and_reports_the_oracle(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consumers")
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=20, seed=31, rate=2.0, customer_messages=True, bad_every=89)
    produce(cfg, msgs)
    _first_run(cfg, len(msgs))
    caplog.clear()

    answers: list[tuple[int, str]] = []
    svc = Service(cfg)
    url = f"http://{cfg.metrics_host}:{cfg.metrics_port}/readyz"

    def probe() -> None:  # /readyz from the moment the port is up until ready
        while not answers or answers[-1][0] != 200:
            answers.append(_readyz(url))
            time.sleep(0.05)

    with svc:
        watcher = threading.Thread(target=probe, daemon=True)
        watcher.start()
        assert svc.wait_ready(90)
        watcher.join(10)
        text = _settled(svc.metrics_url, len(msgs))
        reader = svc.pipeline.reader
        assert reader.checkpoint_loads["loaded"] == PARTITIONS
    # the port answered while the group join ran: 503, and why
    assert any(code == 503 and "waiting for a partition assignment" in body
               for code, body in answers), answers[:5]
    decoded = _messages(caplog, "decoded in")
    assert decoded
    assert f"of {PARTITIONS} partitions" in decoded[0], decoded
    order = [m for r in caplog.records
             if "decoded in" in (m := r.getMessage()) or "rebuilding state" in m]
    assert "decoded in" in order[0], order  # before the assignment, not after
    assert not _messages(caplog, "decoded ahead not used")
    assert _loads(text)["loaded"] == PARTITIONS
    problems = _oracle(text, msgs)
    assert not problems, "\n".join(problems[:30])


def test_a_checkpoint_written_during_the_join_is_the_one_loaded(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    """Tansu holds a join for half the session timeout: 10 s here, time enough to write
    a newer checkpoint of one partition between the prefetch and the assignment."""
    caplog.set_level(logging.INFO, logger="consumers")
    cfg = make_config(checkpoints__interval_s=3600, kafka__session_timeout_ms=20000)
    msgs = simulated(cfg, hours=12, seed=32, rate=2.0)
    produce(cfg, msgs)
    _first_run(cfg, len(msgs))
    store = CheckpointStore(cfg.kafka, cfg.checkpoint_topic, read_timeout_s=20)
    stored = store.read([(t, p) for t in cfg.kafka.topics for p in range(3)])
    src = sorted(stored)[0]
    newest = stored[src]
    assert isinstance(newest, list)
    caplog.clear()
    with Service(cfg) as svc:
        wait_for(lambda: _messages(caplog, "decoded in"), timeout=30)
        assert svc.pipeline.reader.rebuilds == 0, "assigned before the test could write"
        store.write(src, newest[0].offset, newest[0].topic_id, newest[0].payload)
        store.close()
        assert svc.wait_ready(90)
        text = _settled(svc.metrics_url, len(msgs))
        loads = dict(svc.pipeline.reader.checkpoint_loads)
    assert _messages(caplog, "decoded ahead not used")  # a newer one: loaded again
    assert loads["loaded"] == PARTITIONS
    after = _stored(cfg)[src]
    assert isinstance(after, list)
    assert after[0].written_at > newest[0].written_at
    problems = _oracle(text, msgs)
    assert not problems, "\n".join(problems[:30])


def test_a_member_given_fewer_partitions_drops_what_it_decoded_ahead(
        make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consumers")
    cfg = make_config(checkpoints__interval_s=3600)
    msgs = simulated(cfg, hours=16, seed=33, rate=2.0, customer_messages=True)
    produce(cfg, msgs)
    with Service(cfg) as a:
        assert a.wait_ready(90)
        alone = _settled(a.metrics_url, len(msgs))
        wait_for(lambda: all(isinstance(v, list) for v in _stored(cfg).values()), timeout=30)
        caplog.clear()
        ra = a.pipeline.reader
        with Service(make_config(kafka__group_id=cfg.kafka.group_id,
                                 checkpoints__interval_s=3600,
                                 kafka__tickets_topic=cfg.kafka.tickets_topic,
                                 kafka__logistics_topic=cfg.kafka.logistics_topic)) as b:
            rb = b.pipeline.reader
            wait_for(lambda: ra.ready and rb.ready and bool(ra._assigned) and bool(rb._assigned)
                     and len(ra._assigned) + len(rb._assigned) == PARTITIONS, timeout=90)
            # b decoded all six during its join, got fewer, and loaded only its own
            assert _messages(caplog, f"checkpoints of {PARTITIONS} partitions decoded in")
            assert _messages(caplog, "decoded ahead not used")
            assert set(b.pipeline.engine.shards) == {(tp.topic, tp.partition)
                                                     for tp in rb._assigned}
            assert rb.checkpoint_loads["loaded"] == len(rb._assigned)
            assert sum(rb.checkpoint_loads.values()) == len(rb._assigned)
            time.sleep(1.0)
            both = _additive(scrape(a.metrics_url), scrape(b.metrics_url))
            assert both == _additive(alone)


_NO_BOARD = """
import json, sys, time
from core.config import load_config
from pulse.app import App
cfg = load_config(sys.argv[1], kafka__bootstrap_servers=sys.argv[2])
with App(cfg) as app:
    assert app.service.wait_ready(90)
    board = sorted({m.split(".")[0] for m in sys.modules} & {"dash", "plotly", "flask"})
    print(json.dumps(board))
"""


def test_pulse_run_without_a_board_does_not_import_the_board_stack(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    produce(cfg, simulated(cfg, hours=2, seed=34, rate=1.0))
    conf = tmp_path / "pulse.yaml"
    k = cfg.kafka
    conf.write_text(json.dumps({  # JSON is YAML
        "kafka": {"group_id": k.group_id, "tickets_topic": k.tickets_topic,
                  "logistics_topic": k.logistics_topic, "session_timeout_ms": 6000},
        "metrics_port": cfg.metrics_port, "dashboard": {"enabled": False},
        "alerting": {"enabled": False}}))
    out = subprocess.run([sys.executable, "-c", _NO_BOARD, str(conf), k.bootstrap_servers],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], out.stdout
