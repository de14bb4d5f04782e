"""The metrics port over real HTTP: the registry, the two probes, extra routes, and the
thread per request that client_python's server gives (a slow reader blocks no one)."""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from metrics.http_endpoints import MetricsServer


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


class Probes:
    def __init__(self) -> None:
        self.ready = False
        self.not_ready: str | None = "no broker reachable"
        self.not_live: str | None = None


@pytest.fixture
def served() -> Iterator[tuple[str, Probes, threading.Event]]:
    registry = CollectorRegistry(auto_describe=True)
    Counter("pulse_test_things", "Things.", registry=registry).inc(3)
    probes, release = Probes(), threading.Event()

    def slow(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        release.wait(30)  # longer than a client waits: only a thread per request passes
        start("200 OK", [("Content-Type", "text/plain")])
        return [b"slow\n"]

    server = MetricsServer(registry, lambda: probes.ready, "127.0.0.1", 0,
                           not_ready=lambda: probes.not_ready,
                           not_live=lambda: probes.not_live, routes={"/slow": slow}).start()
    try:
        yield f"http://127.0.0.1:{server.port}", probes, release
    finally:
        release.set()
        server.stop()


def test_metrics_and_probes(served: tuple[str, Probes, threading.Event]) -> None:
    url, probes, _ = served
    status, body, headers = get(url + "/metrics")
    assert status == 200
    assert b"pulse_test_things_total 3.0" in body
    assert headers["Content-Type"].startswith("text/plain")
    status, body, headers = get(url + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"
    assert b"pulse_test_things_total 3.0" in gzip.decompress(body)
    assert get(url + "/readyz")[:2] == (503, b"not ready: no broker reachable\n")
    probes.not_ready = None
    assert get(url + "/readyz")[:2] == (503, b"not ready: rebuilding state from the log\n")
    probes.ready = True
    assert get(url + "/readyz")[:2] == (200, b"ready\n")
    assert get(url + "/healthz")[:2] == (200, b"ok\n")
    probes.not_live = "reader thread stopped"
    assert get(url + "/healthz")[:2] == (503, b"not live: reader thread stopped\n")
    assert get(url + "/nothing-here")[0] == 404


def test_a_slow_request_blocks_no_other(served: tuple[str, Probes, threading.Event]) -> None:
    url, _, release = served
    slow: list[tuple[int, bytes, dict[str, str]]] = []
    t = threading.Thread(target=lambda: slow.append(get(url + "/slow")))
    t.start()
    try:
        assert get(url + "/metrics")[0] == 200  # served while /slow still waits
        assert not slow
    finally:
        release.set()
        t.join(10)
    assert slow[0][:2] == (200, b"slow\n")


def test_stop_before_start_closes_the_port() -> None:
    server = MetricsServer(CollectorRegistry(), lambda: True, "127.0.0.1", 0)
    port = server.port
    server.stop()  # returns at once: no serving loop to wait for
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
