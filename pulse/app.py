"""Everything ``pulse run`` starts: the service, the alert evaluator and the wall-board."""

from __future__ import annotations

import logging
from typing import Any

from core.config import Config
from pulse.service import Service

__all__ = ["App"]

log = logging.getLogger(__name__)


class App:
    """Service + alerting + board, wired from one config."""

    def __init__(self, config: Config, **service_kwargs: Any) -> None:
        from alerts.alerting import Alerting

        self.config = config
        self.alerting = Alerting.from_config(config) if config.alerting.enabled else None
        listeners = (self.alerting.on_snapshot,) if self.alerting else ()
        collectors = (self.alerting.collector,) if self.alerting else ()
        self.service = Service(
            config,
            listeners=listeners,
            collectors=collectors,
            tick_s=config.alerting.eval_interval_s if self.alerting else None,
            **service_kwargs,
        )
        self.board: Any = None
        if config.dashboard.enabled:
            from dashboard.server import BoardServer
            from dashboard.sources import BoardSettings, EngineSource

            source = EngineSource(lambda: self.service.latest, self.alerting,
                                  BoardSettings.from_config(config))
            self.board = BoardServer(config.dashboard, source)

    @property
    def failed(self) -> bool:
        return self.service.failed is not None

    def start(self) -> App:
        if self.board is not None:
            self.board.start()  # refuses non-loopback binding without credentials
        self.service.start()
        return self

    def print_urls(self) -> None:
        print(f"metrics:    {self.service.metrics_url}", flush=True)
        print(f"health:     http://{self.service.server.host}:{self.service.server.port}/readyz",
              flush=True)
        if self.board is not None:
            print(f"wall-board: {self.board.url}", flush=True)

    def stop(self) -> None:
        self.service.stop()
        if self.board is not None:
            self.board.stop()
        if self.alerting is not None:
            self.alerting.close()

    def __enter__(self) -> App:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
