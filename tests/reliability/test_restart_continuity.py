"""Prometheus sees a continuous history (issue 14 item 4, SPEC §2).

``pulse run`` rebuilds its state from the log on every start and on every rebalance.
Before, it served /metrics during the rebuild, so a scrape saw every counter fall to 0
and climb back: Prometheus reads that as a reset and ``rate()`` counts the whole
replayed log again. Here a topic is pre-filled, ``pulse run`` is scraped every 200 ms
by a thread across

1. a SIGKILL of the whole process group and a restart (same assignment),
2. a rebalance inside the running process (its fetch child SIGKILLed: the new child is
   a new group member, the reader rebuilds a new engine from the beginning),
3. a SIGTERM (graceful stop, as a rolling restart does) and a restart,

and no scrape may show a counter or histogram series (bucket, count, sum) below the
largest value any earlier scrape showed for it. The test also checks that it saw each
rebuild happen (scrapes with ``aftersales_ready 0`` after each event), so it cannot pass
by scraping only when nothing was being rebuilt.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pulse.config import Config
from tests.conftest import wait_for
from tests.integration.helpers import handled, produce, simulated
from tests.reliability.runs import PulseRun, get, run_config

pytestmark = pytest.mark.broker


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


# What this process itself did (notifications it sent), like process_cpu_seconds_total:
# not a function of the log, starting at 0 in a new process (README "Guarantees").
PROCESS_LOCAL = ("aftersales_notification",)


def cumulative_series(text: str) -> tuple[float | None, dict[str, float]]:
    """(aftersales_ready, every aftersales_ counter and histogram sample by series)."""
    ready = None
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "aftersales_ready":
            ready = fam.samples[0].value
        if not fam.name.startswith("aftersales_") or fam.type not in ("counter", "histogram"):
            continue
        if fam.name.startswith(PROCESS_LOCAL):
            continue
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
            out[key] = s.value
    return ready, out


@dataclass
class Scraper:
    """Scrapes ``url`` every ``interval_s`` and checks every cumulative series against the
    largest value seen before (across processes: the same address is the same target)."""

    url: str
    interval_s: float = 0.2
    scrapes: list[tuple[float, float | None, int]] = field(default_factory=list)
    top: dict[str, float] = field(default_factory=dict)
    drops: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Scraper:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            got = get(self.url, timeout=2)
            if got is None or got[0] != 200:
                continue
            ready, series = cumulative_series(got[1])
            now = time.monotonic()
            self.scrapes.append((now, ready, len(series)))
            for key, value in series.items():
                best = self.top.get(key)
                if best is not None and value < best - 1e-6 * max(1.0, abs(best)):
                    self.drops.append(f"+{now:.1f}: {key} {value} < {best} (ready {ready})")
                if best is None or value > best:
                    self.top[key] = value

    def rebuild_scrapes(self, since: float) -> list[tuple[float, float | None, int]]:
        """Scrapes after ``since`` that saw a process not (yet) ready."""
        return [s for s in self.scrapes if s[0] > since and s[1] == 0.0]


def test_restarts_and_rebuilds_never_show_a_counter_going_back(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    conf = run_config(cfg, tmp_path / "pulse.yaml")
    log = tmp_path / "pulse-run.log"
    messages = simulated(cfg, hours=12, seed=31, rate=6.0, bad_every=101)
    produce(cfg, messages)
    scraper = Scraper(f"http://127.0.0.1:{cfg.metrics_port}/metrics").start()

    def settled(run: PulseRun, n: int) -> Callable[[], bool]:
        def check() -> bool:
            text = run.metrics() or ""
            return handled(text) == n and "aftersales_ready 1.0" in text
        return check

    run = PulseRun(cfg, conf, log)
    try:
        wait_for(settled(run, len(messages)), timeout=90)
        assert scraper.top, "the scraper saw no counter at all"
        more = simulated(cfg, hours=0.2, seed=32, rate=6.0, start_ms=int(time.time() * 1000)
                         - 15 * 60_000)
        more = [(t, k, v.replace(b'"event_id":"', b'"event_id":"more-')) for t, k, v in more]
        produce(cfg, more)
        total = len(messages) + len(more)
        wait_for(settled(run, total), timeout=60)

        # 1. SIGKILL the whole group, start again: same partitions, rebuilt from the log
        run.kill()
        t1 = time.monotonic()
        run = PulseRun(cfg, conf, log)
        wait_for(settled(run, total), timeout=90)
        seen1 = scraper.rebuild_scrapes(t1)
        assert seen1, "no scrape saw the restarted process before it was ready"

        # 2. a rebalance inside the running process: its fetch child is lost
        kids = _children(run.proc.pid)
        assert len(kids) == 1, kids
        os.kill(kids[0], signal.SIGKILL)
        t2 = time.monotonic()
        wait_for(lambda: len(scraper.rebuild_scrapes(t2)) >= 3, timeout=60)
        wait_for(settled(run, total), timeout=90)
        during = scraper.rebuild_scrapes(t2)
        # the last complete values stay exposed while the new engine is rebuilt
        assert all(n > 0 for _, _, n in during), during

        # 3. graceful stop (SIGTERM to the group) and start again
        assert run.signal_group(signal.SIGTERM) == 0, run.tail()
        t3 = time.monotonic()
        run = PulseRun(cfg, conf, log)
        wait_for(settled(run, total), timeout=90)
        assert scraper.rebuild_scrapes(t3), "no scrape saw the restart before it was ready"
        time.sleep(1.0)
    finally:
        scraper.stop()
        run.close()
    print(f"\n{len(scraper.scrapes)} scrapes, {len(scraper.top)} cumulative series; rebuild "
          f"scrapes: restart {len(seen1)}, rebalance {len(during)}")
    assert not scraper.drops, "\n".join(scraper.drops[:30])
