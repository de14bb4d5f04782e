"""``pulse dashboard --source prometheus --prometheus-url URL``: the board alone.

For several replicas: the board reads what Prometheus scraped from all of them (summed
across replicas) instead of one process's engine.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from core.config import Config
from core.errors import ConfigError
from dashboard.prometheus import PrometheusSource
from dashboard.server import BoardServer

__all__ = ["Thresholds", "dashboard_command"]

# tile thresholds by profile name (the alert rule file's, wired in by pulse/)
Thresholds = Callable[[str], Mapping[str, tuple[float, float]]]

def dashboard_command(config: Config, args: argparse.Namespace, stop: threading.Event,
                      thresholds: Thresholds | None = None) -> int:
    """Serve the board over Prometheus until ``stop`` is set; ``thresholds`` None: the
    board's defaults."""
    url = getattr(args, "prometheus_url", None) or config.dashboard.prometheus_url
    if not url:
        raise ConfigError("--prometheus-url (or dashboard.prometheus_url) is required")
    source = PrometheusSource(url, config, thresholds=thresholds)
    board = BoardServer(replace(config.dashboard, source="prometheus", prometheus_url=url),
                        source).start()
    print(f"wall-board: {board.url} (reading {url})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        board.stop()
    return 0
