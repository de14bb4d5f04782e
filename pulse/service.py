"""Assembles one running service: pipeline thread (reader → engine → snapshot) → HTTP,
alerts, board."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector

from core.config import Config
from core.snapshot import Snapshot
from dashboard.act_now import ACT_NOW_PATH, act_now_app
from metrics.http_endpoints import MetricsServer
from metrics.snapshot_collector import BuildInfoCollector, SnapshotCollector
from pulse import __version__
from pulse.pipeline import Pipeline

__all__ = ["Service"]

log = logging.getLogger(__name__)


def _check_holiday_coverage(config: Config, wall_ms: int) -> None:
    """With a ``holidays: cn`` calendar, say at start which library gives China's calendar and
    warn now (core.cn_holidays) when this year or the next has no State Council notice in it."""
    bh = config.business_hours
    if not any(c.holidays == "cn" for c in bh.calendars.values()):
        return
    from core import cn_holidays  # python-holidays: ~0.15 s, paid by ``cn`` calendars only

    year = dt.datetime.fromtimestamp(wall_ms / 1000, bh.zone).year
    missing = cn_holidays.warn_uncovered((year, year + 1))
    log.info("China's holidays and makeup workdays: python-holidays %s, notices %d-%d%s",
             cn_holidays.LIBRARY_VERSION, min(cn_holidays.covered_years()),
             max(cn_holidays.covered_years()),
             f"; statutory days only for {sorted(missing)}" if missing else "")


class Service:
    """``pulse run`` without the flags: start(), then stop() (or use as a context manager)."""

    def __init__(
        self,
        config: Config,
        *,
        wall: Callable[[], int] | None = None,
        listeners: tuple[Callable[[Snapshot], None], ...] = (),
        collectors: tuple[Collector, ...] = (),
        tick_s: float | None = None,
        consumer_overrides: dict[str, Any] | None = None,
        publish_interval_s: float | None = None,  # None: config.snapshots.interval_s
        stall_after_s: float = 60.0,
    ) -> None:
        self.config = config
        self.latest: Snapshot | None = None
        self.complete: Snapshot | None = None  # the last one taken with the state rebuilt
        self.stall_after_s = stall_after_s
        # auto_describe: a second collector of a name already served is refused at start-up
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(SnapshotCollector(lambda: self.latest, lambda: self.complete))
        for c in collectors:
            self.registry.register(c)
        # the service's own process_* / python_* series (SPEC §3), on this private registry
        self.registry.register(BuildInfoCollector(__version__))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.pipeline = Pipeline(
            config,
            wall=wall,
            publish=self._publish,
            listeners=listeners,
            tick_s=tick_s,
            consumer_overrides=consumer_overrides,
            publish_interval_s=publish_interval_s,
        )
        self.reader = self.pipeline.reader
        _check_holiday_coverage(config, self.pipeline.wall())
        self.server = MetricsServer(
            self.registry, lambda: self.ready, config.metrics_host, config.metrics_port,
            not_ready=self.reader.not_ready_reason, not_live=self.not_live_reason,
            # the act-now list as JSON, for a Prometheus-mode board over several replicas
            routes={ACT_NOW_PATH: act_now_app(lambda: self.latest)},
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_reader, name="reader", daemon=True)
        self.failed: BaseException | None = None

    def _publish(self, snap: Snapshot) -> None:
        if snap.ready:
            self.complete = snap
        self.latest = snap

    @property
    def ready(self) -> bool:
        """Ready as ``/metrics`` shows it: the published snapshot was taken with the state
        rebuilt. (The reader turns ready a snapshot earlier; a probe or a caller that then
        scraped at once would see the rebuild half done.)"""
        snap = self.latest
        return snap is not None and snap.ready

    def not_live_reason(self) -> str | None:
        """Why the pipeline cannot make progress (``/healthz`` 503), or None.

        Liveness, not readiness: a broker that is down or unreachable is not a reason
        (restarting the process would not bring it back, and a liveness probe must not
        restart every pod during an outage); a reader thread that is gone or stuck, a
        fetch process that stopped answering, or a backlog that does not move while the
        broker answers, are.
        """
        if self._stop.is_set() or self._thread.ident is None:
            return None  # stopping, or not started yet
        reader, limit = self.reader, self.stall_after_s
        if not self._thread.is_alive():
            return f"reader thread stopped: {self.failed!r}"
        now = time.monotonic()
        # the most specific cause first: a frozen fetch process also stalls the loop
        fetcher = reader.fetcher()
        if fetcher is not None:
            if (lost := fetcher.lost()) is not None:
                if lost[1] > limit:
                    return f"{lost[0]} and was not started again for {lost[1]:.0f} s"
            elif (silent := fetcher.silent_s()) > limit:
                return f"fetch process {fetcher.pid} has not answered for {silent:.0f} s"
        if (quiet := now - reader.beat_at) > limit:
            return f"reader loop has not iterated for {quiet:.0f} s"
        lag = sum((self.latest.consumer_lag if self.latest else {}).values())
        stuck = now - reader.progress_at
        if lag > 0 and stuck > limit and reader.connected:
            return (f"stalled: {lag} messages behind and no progress for {stuck:.0f} s "
                    "while the broker answers")
        return None

    def _run_reader(self) -> None:
        try:
            self.pipeline.run(self._stop)
        except BaseException as exc:  # surfaced by wait_ready / the CLI
            self.failed = exc
            log.exception("reader stopped")

    @property
    def metrics_url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}/metrics"

    def start(self) -> Service:
        self.server.start()
        self._thread.start()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.failed is not None:
                raise RuntimeError(f"reader failed: {self.failed!r}") from self.failed
            if self.ready:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.server.stop()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
