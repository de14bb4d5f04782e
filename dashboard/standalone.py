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
from typing import Any

from core.config import Config
from core.errors import ConfigError
from dashboard.prometheus import PrometheusSource
from dashboard.server import BoardServer

__all__ = ["dashboard_command", "rule_thresholds"]

log = logging.getLogger(__name__)


def rule_thresholds(config: Config) -> Callable[[str], Mapping[str, tuple[float, float]]] | None:
    """Tile thresholds from the alert rule file, when the alerts package can give them."""
    try:
        from alerts.alerting import Alerting
    except ImportError:
        return None
    try:
        alerting: Any = Alerting.from_config(replace(config, alerting=replace(
            config.alerting, sinks=())))
    except Exception as exc:  # the rules are optional here: the board has defaults
        log.warning("alert rules not loaded, default tile thresholds: %s", exc)
        return None
    fn = getattr(alerting, "thresholds", None)
    close = getattr(alerting, "close", None)
    if callable(close):
        close()
    return fn if callable(fn) else None


def dashboard_command(config: Config, args: argparse.Namespace, stop: threading.Event) -> int:
    """Serve the board over Prometheus until ``stop`` is set."""
    url = getattr(args, "prometheus_url", None) or config.dashboard.prometheus_url
    if not url:
        raise ConfigError("--prometheus-url (or dashboard.prometheus_url) is required")
    source = PrometheusSource(url, config, thresholds=rule_thresholds(config))
    board = BoardServer(replace(config.dashboard, source="prometheus", prometheus_url=url),
                        source).start()
    print(f"wall-board: {board.url} (reading {url})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        board.stop()
    return 0
