"""Fixtures for the wall-board: engine snapshots, a real broker + app, headless Chromium."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from board_browser import Browser
from board_events import Message, feed, traffic

from core.config import Config, load_config
from core.snapshot import Snapshot
from metrics.engine import Engine
from pulse.broker import LocalBroker, free_port

CHROMIUM = os.environ.get("PULSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PULSE_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--hide-scrollbars", "--window-size=1920,1080",
    "--lang=zh-CN",
)
NOW_MS = 1_794_355_200_000  # 2026-11-11T08:00:00+08:00, a pinned "now" for pure tests


@pytest.fixture
def make_snapshot() -> Callable[..., Snapshot]:
    """``make_snapshot(hours=6, rate=20, surge=…, wall_ms=…)``: an engine fed realistic traffic."""

    def make(*, hours: float = 6.0, rate: float = 20.0, wall_ms: int = NOW_MS,
             end_ms: int | None = None, surge: tuple[int, int] | None = None,
             config: Config | None = None, messages: list[Message] | None = None,
             seed: int = 7) -> Snapshot:
        cfg = config or load_config()
        end = end_ms if end_ms is not None else wall_ms
        msgs = messages if messages is not None else traffic(
            end - int(hours * 3600_000), end, rate=rate, surge=surge, seed=seed)
        engine = Engine(cfg, lambda: wall_ms)
        feed(engine, msgs, wall_ms)
        engine.tick()
        return engine.snapshot()

    return make


# -- real broker + app ---------------------------------------------------------------
@pytest.fixture(scope="session")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def app_config(broker: LocalBroker, **overrides: Any) -> Config:
    """A config with topics and group of its own, free ports, quick consumer timeouts."""
    tag = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "kafka__bootstrap_servers": broker.bootstrap,
        "kafka__tickets_topic": f"t-{tag}.tickets",
        "kafka__logistics_topic": f"t-{tag}.logistics",
        "kafka__group_id": f"board-{tag}",
        "kafka__max_poll_interval_ms": 10000,
        "kafka__session_timeout_ms": 6000,
        "metrics_port": free_port(),
        "dashboard__port": free_port(),
        "dashboard__refresh_s": 1.0,
        "alerting__eval_interval_s": 1,
    }
    base.update(overrides)
    return load_config(**base)


def publish(cfg: Config, messages: list[Message]) -> None:
    from consumers.admin import ensure_topics
    from consumers.publish import EventPublisher

    ensure_topics(cfg.kafka)
    pub = EventPublisher(cfg.kafka)
    try:
        for kind, key, value in messages:
            pub.send(kind, key, value)
        pub.flush()
    finally:
        pub.close()


@dataclass
class RunningApp:
    app: Any
    config: Config

    @property
    def url(self) -> str:
        return str(self.app.board.url)

    @property
    def latest(self) -> Snapshot:
        snap = self.app.service.latest
        assert snap is not None
        return snap

    def wait_events(self, n: int, timeout_s: float = 60.0) -> Snapshot:
        """Until the engine has accepted ``n`` events (and the snapshot says so)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            snap = self.app.service.latest
            if snap is not None and snap.ready and sum(snap.events_total.values()) >= n:
                return snap
            time.sleep(0.2)
        raise AssertionError(f"engine did not reach {n} events in {timeout_s} s")


# -- headless Chromium ---------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        # a missing part is a failure, not a skip (scripts/test.sh installs them)
        pytest.fail("Debian chromium + chromium-driver are not installed "
                    "(tests/dashboard/install-browser.sh)")
    b = Browser(CHROMIUM, CHROMEDRIVER, CHROME_FLAGS)
    try:
        yield b
    finally:
        b.quit()
