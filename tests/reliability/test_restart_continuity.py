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

from core.config import Config
from pulse.broker import free_port
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
# not a function of the log, starting at 0 in a new process; and late events, which
# depend on the order partitions are read in (a rebuild reads them one after another),
# not on the log alone (README "Guarantees"; tests/reliability/test_crash.py ignores
# them too).
# Checkpoint loads are counted by the process at its assignments (issue 17), like the
# notifications.
PROCESS_LOCAL = ("aftersales_notification", "aftersales_events_late",
                 "aftersales_checkpoint_loads")


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


@dataclass(frozen=True, slots=True)
class Scrape:
    at: float  # monotonic
    ready: float | None
    series: dict[str, float]


def drops(scrapes: list[Scrape], keep: Callable[[str], bool] = lambda key: True) -> list[str]:
    """Every sample below the largest earlier value of the same series (time order)."""
    top: dict[str, float] = {}
    out = []
    for sc in sorted(scrapes, key=lambda sc: sc.at):
        for key, value in sc.series.items():
            if not keep(key):
                continue
            best = top.get(key)
            if best is not None and value < best - 1e-6 * max(1.0, abs(best)):
                out.append(f"+{sc.at:.1f}: {key} {value} < {best} (ready {sc.ready})")
            if best is None or value > best:
                top[key] = value
    return out


@dataclass
class Scraper:
    """Scrapes ``url`` every ``interval_s`` (what Prometheus does, faster) and keeps every
    cumulative series of every scrape."""

    url: str
    interval_s: float = 0.2
    scrapes: list[Scrape] = field(default_factory=list)
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
            self.scrapes.append(Scrape(time.monotonic(), ready, series))

    def between(self, since: float, until: float = float("inf")) -> list[Scrape]:
        return [sc for sc in self.scrapes if since < sc.at <= until]

    def rebuild_scrapes(self, since: float) -> list[Scrape]:
        """Scrapes after ``since`` that saw a process not (yet) ready."""
        return [sc for sc in self.between(since) if sc.ready == 0.0]


def _sum(series: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in series.items() if k.startswith(prefix + "{"))


def test_restarts_and_rebuilds_never_show_a_counter_going_back(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    conf = run_config(cfg, tmp_path / "pulse.yaml")
    log = tmp_path / "pulse-run.log"
    messages = simulated(cfg, hours=12, seed=31, rate=6.0, bad_every=101)
    produce(cfg, messages)
    scraper = Scraper(f"http://127.0.0.1:{cfg.metrics_port}/metrics").start()
    cfg_b = make_config(metrics_port=free_port())  # same topics and group, another port
    scraper_b = Scraper(f"http://127.0.0.1:{cfg_b.metrics_port}/metrics").start()

    def settled(run: PulseRun, n: int) -> Callable[[], bool]:
        def check() -> bool:
            text = run.metrics() or ""
            return handled(text) == n and "aftersales_ready 1.0" in text
        return check

    run = PulseRun(cfg, conf, log)
    run_b: PulseRun | None = None
    try:
        wait_for(settled(run, len(messages)), timeout=90)
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
        assert all(not sc.series for sc in seen1), "a partial counter before the rebuild"

        # 2. a rebalance inside the running process: its fetch child is lost
        # the fetch child (a forked checkpoint writer may be running beside it)
        kids = [k for k in _children(run.proc.pid)
                if b"child_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
        assert len(kids) == 1, kids
        os.kill(kids[0], signal.SIGKILL)
        t2 = time.monotonic()
        wait_for(lambda: len(scraper.rebuild_scrapes(t2)) >= 3, timeout=60)
        wait_for(settled(run, total), timeout=90)
        during = scraper.rebuild_scrapes(t2)
        # the last complete values stay exposed while the new engine is rebuilt
        assert all(sc.series for sc in during), "counters vanished during the rebuild"

        # 3. graceful stop (SIGTERM to the group) and start again
        assert run.signal_group(signal.SIGTERM) == 0, run.tail()
        t3 = time.monotonic()
        run = PulseRun(cfg, conf, log)
        wait_for(settled(run, total), timeout=90)
        assert scraper.rebuild_scrapes(t3), "no scrape saw the restart before it was ready"
        time.sleep(1.0)

        # 4. scale-out: a second replica joins and takes some partitions
        t4 = time.monotonic()
        run_b = PulseRun(cfg_b, conf, tmp_path / "pulse-run-b.log")
        both = [run, run_b]

        def split() -> bool:
            texts = [r.metrics() or "" for r in both]
            return (all("aftersales_ready 1.0" in t and handled(t) > 0 for t in texts)
                    and sum(handled(t) for t in texts) == total)

        wait_for(split, timeout=90)
        time.sleep(1.0)

        # 5. scale-in: it leaves (SIGTERM), its partitions go back to the first
        rebuilt_before = run.tail(10**9).count("state rebuilt; ready")
        assert run_b.signal_group(signal.SIGTERM) == 0, run_b.tail()
        t5 = time.monotonic()
        # the partitions it gets back load run_b's checkpoints: that rebuild can end
        # between two scrapes (seen in CI), so its log line is the proof it happened
        wait_for(lambda: run.tail(10**9).count("state rebuilt; ready") > rebuilt_before,
                 timeout=60)
        wait_for(settled(run, total), timeout=90)
        time.sleep(1.0)
        last = run.metrics() or ""
    finally:
        scraper.stop()
        scraper_b.stop()
        run.close()
        if run_b is not None:
            run_b.close()
    print(f"\n{len(scraper.scrapes)} + {len(scraper_b.scrapes)} scrapes; rebuild scrapes: "
          f"restart {len(seen1)}, rebalance {len(during)}")
    # one replica holding every partition: restarts and rebuilds never go back
    same_assignment = scraper.between(0, t4)
    assert same_assignment[-1].series, "the scraper saw no counter at all"
    assert not (d := drops(same_assignment)), f"t1..t4 {t1:.1f} {t2:.1f} {t3:.1f} {t4:.1f}\n" + (
        "\n".join(d[:30]))
    # partitions moving between replicas: the per-partition offsets continue, whichever
    # replica exposes them (the same series for Prometheus once summed by partition)
    moving = scraper.between(t4) + scraper_b.scrapes
    read = "aftersales_records_read_total"
    assert not (d := drops(moving, lambda k: k.startswith(read))), "\n".join(d[:30])
    assert _sum(scraper.scrapes[-1].series, read) == total  # offsets count every record
    # ... while the spec'd counters of the replica that lost partitions go back once it
    # is rebuilt (README "Guarantees": Prometheus reads a counter reset there)
    assert drops(scraper.between(t4, t5), lambda k: k.startswith("aftersales_events_total"))
    assert not drops(scraper_b.scrapes, lambda k: not k.startswith(read))
    assert handled(last) == total
