"""Broker outage (issue 7): the broker freezes (SIGSTOP keeps Tansu's in-memory data).

While it is gone /metrics keeps serving the last values, ``aftersales_broker_up`` drops
to 0 and the data visibly goes stale; when it returns the service reconnects and
nothing is lost.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import produce, simulated

pytestmark = pytest.mark.broker


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def test_broker_freeze_then_return_loses_nothing(make_config, broker) -> None:
    cfg = make_config()
    now = int(time.time() * 1000)
    # live events: the last one a few seconds ago, so the clock follows the wall
    first = simulated(cfg, hours=0.5, seed=21, rate=6.0, start_ms=now - 1800_000)
    later = simulated(cfg, hours=0.05, seed=22, rate=6.0, start_ms=now - 180_000)
    later = [(t, k, v.replace(b'"event_id":"', b'"event_id":"later-'))
             for t, k, v in later]
    with Service(cfg) as svc:
        assert svc.wait_ready(60)
        produce(cfg, first)
        url = svc.metrics_url
        wait_for(lambda: _sum(scrape(url), "aftersales_events_total") == len(first), 30)
        before = scrape(url)
        assert _value(before, "aftersales_broker_up") == 1.0
        os.kill(broker._proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            wait_for(lambda: _value(scrape(url), "aftersales_broker_up") == 0.0, timeout=30)
            detected = time.monotonic() - stopped
            during = scrape(url)  # still served, with the last values
            assert _sum(during, "aftersales_events_total") == len(first)
            age1 = _value(during, "aftersales_last_event_age_seconds")
            time.sleep(2.5)
            age2 = _value(scrape(url), "aftersales_last_event_age_seconds")
            assert age1 is not None
            assert age2 is not None
            assert age2 >= age1 + 1.5  # stale data is visible
        finally:
            os.kill(broker._proc.pid, signal.SIGCONT)
        wait_for(lambda: _value(scrape(url), "aftersales_broker_up") == 1.0, timeout=60)
        produce(cfg, later)
        total = len(first) + len(later)
        text = wait_for(lambda: (t := scrape(url)) and _sum(t, "aftersales_events_total")
                        == total and t, timeout=90)
        assert _sum(text, "aftersales_events_duplicate_total") == 0
        assert _sum(text, "aftersales_events_rejected_total") == 0
        assert _value(text, "aftersales_broker_up") == 1.0
        wait_for(lambda: _value(scrape(url), "aftersales_ready") == 1.0, timeout=60)
    print(f"\nbroker_up went to 0 {detected:.1f} s after SIGSTOP")
