"""``pulse dashboard --source prometheus --prometheus-url URL``: the board alone.

For several replicas: the board reads what Prometheus scraped from all of them (summed
across replicas) instead of one process's engine.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from core.config import Config
from core.errors import ConfigError
from dashboard.prometheus import PrometheusSource
from dashboard.server import BoardServer
from dashboard.sources import Threshold

__all__ = ["dashboard_command"]

log = logging.getLogger(__name__)


def dashboard_command(config: Config, args: argparse.Namespace, stop: threading.Event, *,
                      thresholds: Callable[[str], Mapping[str, Threshold]] | None = None
                      ) -> int:
    """Serve the board over Prometheus until ``stop`` is set; ``thresholds``: the tile
    bounds of the rule file, loaded by the wiring (the board does not import alerts)."""
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
