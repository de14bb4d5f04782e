"""``pulse simulate`` against a broker that stops answering for longer than a flush waits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from kafka import KafkaConsumer

from pulse.broker import LocalBroker

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PAUSE_S = 34.0  # longer than kafka-python's 30 s flush timeout, which used to crash it


def _distinct(bootstrap: str, topics: list[str]) -> int:
    """Distinct events: a retry after a request timed out may append one twice (at least
    once; the service drops the repeat by event_id)."""
    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000)
    try:
        return len({rec.value for rec in consumer})
    finally:
        consumer.close()


def test_simulate_rides_out_a_paused_broker_and_delivers_everything() -> None:
    with LocalBroker() as broker:
        assert broker._proc is not None
        proc = subprocess.Popen(
            [sys.executable, "-m", "pulse", "simulate", "--bootstrap-servers", broker.bootstrap,
             "--create-topics", "--rate", "300", "--duration", str(PAUSE_S + 10)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            time.sleep(5)
            os.kill(broker._proc.pid, signal.SIGSTOP)
            time.sleep(PAUSE_S)
        finally:
            os.kill(broker._proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        m = re.search(r"sent (\d+) events", out)
        assert m, out + err
        sent = int(m.group(1))
        assert sent > 300  # it kept producing through the pause, not only before it
        assert "Traceback" not in err
        assert "the broker does not confirm" in err
        topics = ["aftersales.tickets", "aftersales.logistics"]
        assert _distinct(broker.bootstrap, topics) == sent  # none lost
