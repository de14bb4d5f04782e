"""Assembles one running service: reader thread → engine → snapshot → HTTP, alerts, board."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector

from consumers.reader import StreamReader
from metrics.collector import BuildInfoCollector, SnapshotCollector
from metrics.server import MetricsServer
from metrics.snapshot import Snapshot
from pulse import __version__
from pulse.config import Config

__all__ = ["Service"]

log = logging.getLogger(__name__)


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
        publish_interval_s: float = 0.5,
    ) -> None:
        self.config = config
        self.latest: Snapshot | None = None
        self._snapshot_listeners: list[Callable[[Snapshot], None]] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(lambda: self.latest))
        for c in collectors:
            self.registry.register(c)
        # the service's own process_* / python_* series (SPEC §3), on this private registry
        self.registry.register(BuildInfoCollector(__version__))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.reader = StreamReader(
            config,
            wall=wall,
            publish=self._publish,
            listeners=listeners,
            tick_s=tick_s,
            consumer_overrides=consumer_overrides,
            publish_interval_s=publish_interval_s,
        )
        self.server = MetricsServer(
            self.registry, lambda: self.reader.ready, config.metrics_host, config.metrics_port
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_reader, name="reader", daemon=True)
        self.failed: BaseException | None = None

    def _publish(self, snap: Snapshot) -> None:
        self.latest = snap

    def _run_reader(self) -> None:
        try:
            self.reader.run(self._stop)
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
            if self.reader.ready:
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
