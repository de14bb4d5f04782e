"""Shared fixtures: one real Tansu broker per test session, unique topics per test."""

from __future__ import annotations

import itertools
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, load_config
from pulse.broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def conformance_dir() -> Path:
    env = os.environ.get("PULSE_CONFORMANCE_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


@pytest.fixture
def make_config(broker: LocalBroker, request: pytest.FixtureRequest) -> Callable[..., Config]:
    """A config on the session broker with topics and group unique to this test."""
    n = next(_counter)
    base = f"t{n}-{request.node.name[:40]}".replace("[", "-").replace("]", "")

    def make(**overrides: Any) -> Config:
        opts: dict[str, Any] = {
            "kafka__bootstrap_servers": broker.bootstrap,
            "kafka__group_id": f"{base}-group",
            "kafka__tickets_topic": f"{base}.tickets",
            "kafka__logistics_topic": f"{base}.logistics",
            "kafka__max_poll_interval_ms": 10000,
            "kafka__session_timeout_ms": 6000,
            "metrics_port": free_port(),
            "dashboard__enabled": False,
            "dashboard__port": free_port(),
        }
        opts.update(overrides)
        return load_config(**opts)

    return make


def scrape(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def wait_for(pred: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll ``pred`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
