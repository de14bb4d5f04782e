"""Sink outage for minutes (issue 7), through the whole App: service, alerting and board.

The only notification sink is a webhook on a port this test controls. It refuses
connections for a minute, then accepts them and never answers for another minute, then
works. Meanwhile a live stream (20 minutes of history, then real-time traffic, and one
P1 ticket three hours old that fires ``P1ResolutionOverdue``) keeps arriving. For the
whole outage the stream must keep flowing, ``/metrics`` and the board's refresh callback
must answer promptly with fresh data, and failed attempts must be counted; when the sink
returns every notification the evaluator produced is delivered exactly once (retried, not
lost, no duplicate flood), and none was dropped.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests

from alerts.sinks.webhook import rfc3339
from core.config import Config
from pulse.app import App
from pulse.broker import free_port
from pulse.simulate import LiveTraffic
from tests.conftest import scrape, wait_for
from tests.integration.helpers import handled, produce

pytestmark = pytest.mark.broker

REFUSE_S = 60.0  # connection refused…
HANG_S = 65.0  # …then accepted and never answered: an outage of over two minutes


class FlakyReceiver:
    """A webhook receiver on a fixed port: ``refuse``, ``hang`` or ``ok``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[dict[str, Any]] = []
        self.mode = "refuse"
        self._hang: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._http: ThreadingHTTPServer | None = None
        self._acceptor = threading.Thread()

    def hang(self) -> None:
        """Accept connections (the kernel completes the handshake) and never answer."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._hang = sock

        def accept() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                self._held.append(conn)  # never read, never answered

        self._acceptor = threading.Thread(target=accept, daemon=True)
        self._acceptor.start()
        self.mode = "hang"

    def heal(self) -> None:
        if self._hang is not None:
            self._hang.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._acceptor.join(5)
            self._hang.close()
            self._hang = None
            for conn in self._held:
                conn.close()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.mode = "ok"

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._hang is not None:
            self._hang.close()


def _value(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and (not want or want in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _board(url: str) -> dict[str, Any]:
    """What the board's refresh callback answers a browser (as tests/deploy/stack.py)."""
    from dashboard.callbacks import OUTPUTS

    outs = [{"id": s.component, "property": s.prop} for s in OUTPUTS]
    outs.append({"id": "sent", "property": "data"})
    body = {
        "output": ".." + "...".join(f"{o['id']}.{o['property']}" for o in outs) + "..",
        "outputs": outs,
        "inputs": [{"id": "tick", "property": "n_intervals", "value": 1},
                   {"id": "url", "property": "search", "value": "?lang=en"}],
        "changedPropIds": ["tick.n_intervals"],
        "state": [{"id": "sent", "property": "data", "value": None}],
    }
    r = requests.post(url.rstrip("/") + "/_dash-update-component", json=body, timeout=5)
    r.raise_for_status()
    response: dict[str, Any] = r.json()["response"]
    return response


def _key(alert: str, status: str, at: str, repeat: bool, labels: dict[str, str]) -> str:
    return f"{alert} {status} at {at} repeat={repeat} {sorted(labels.items())}"


def test_sink_down_then_hanging_for_minutes(make_config: Callable[..., Config]) -> None:
    receiver = FlakyReceiver()
    cfg = make_config(
        dashboard__enabled=True,
        alerting__sinks=[{"type": "webhook", "name": "hook", "url": receiver.url,
                          "timeout_s": 2, "backoff_s": 1, "max_backoff_s": 5}],
    )
    now = int(time.time() * 1000)
    p1 = orjson.dumps({"event_id": "p1-old", "type": "ticket.created", "ts": now - 3 * 3600_000,
                       "ticket_id": "P1-OLD", "channel": "phone", "category": "complaint",
                       "priority": "P1", "region": "east"})
    produce(cfg, [(cfg.kafka.tickets_topic, "P1-OLD", p1)])
    # flat (no diurnal curve): run at night, the curve leaves gaps of seconds in the stream
    traffic = LiveTraffic(cfg, scenario_name="normal", rate=30.0, seed=31, backfill_s=1200,
                          diurnal=False)
    stop = threading.Event()
    live = threading.Thread(target=traffic.run, args=(stop,), daemon=True)
    app = App(cfg)
    samples: list[str] = []
    try:
        app.start()
        assert app.service.wait_ready(60)
        assert app.alerting is not None
        metrics, board = app.service.metrics_url, app.board.url
        traffic.backfill()  # replayed while live: the P1 ticket's alert fires on the way
        live.start()

        def failing() -> bool:
            return _value(scrape(metrics), "aftersales_notification_failures_total") > 0

        wait_for(failing, timeout=60)
        outage_start = time.monotonic()
        fired = [n for n in app.alerting.history if n.alert.name == "P1ResolutionOverdue"]
        assert fired, [n.alert.name for n in app.alerting.history]

        # the outage: refused, then hanging; the stream, /metrics and the board stay live
        last_handled = 0.0
        last_clock = ""
        sent_before = 0  # handed to the producer by the previous sample, P1 included
        while (elapsed := time.monotonic() - outage_start) < REFUSE_S + HANG_S:
            if elapsed >= REFUSE_S and receiver.mode == "refuse":
                receiver.hang()
            sent_now = traffic.sent + 1
            t = time.monotonic()
            text = scrape(metrics, timeout=2)
            scrape_s = time.monotonic() - t
            t = time.monotonic()
            view = _board(board)
            board_s = time.monotonic() - t
            now_handled = handled(text)
            age = _value(text, "aftersales_last_event_age_seconds")
            banner = view["banner"]["className"]
            samples.append(f"{elapsed:5.0f} s {receiver.mode:6} handled {now_handled:.0f} "
                           f"of {sent_before} sent 5 s before "
                           f"age {age:.1f} s scrape {scrape_s:.2f} s board {board_s:.2f} s "
                           f"{banner!r} failures "
                           f"{_value(text, 'aftersales_notification_failures_total'):.0f}")
            assert scrape_s < 1.0, samples
            assert board_s < 2.0, samples
            assert _value(text, "aftersales_ready") == 1.0, samples
            assert _value(text, "aftersales_notifications_total") == 0, samples
            assert _value(text, "aftersales_notifications_dropped_total") == 0, samples
            if elapsed > 20:  # the backfill is consumed: live and fresh from here on
                assert now_handled > last_handled, samples  # the stream keeps flowing:
                assert now_handled >= sent_before, samples  # all sent 5 s ago is counted
                assert age < 10, samples
                assert "banner-ok" in banner, samples
                assert view["clock"]["children"] != last_clock, samples
                assert _value(text, "aftersales_alert_active",
                              alert="P1ResolutionOverdue") == 1.0, samples
                assert "P1 tickets past" in json.dumps(view["alerts-list"]), samples
            last_handled, last_clock = now_handled, view["clock"]["children"]
            sent_before = sent_now
            time.sleep(5)
        failures = _value(scrape(metrics), "aftersales_notification_failures_total")
        receiver.heal()
        healed = time.monotonic()
        outage_s = healed - outage_start

        # back: everything produced so far is delivered, once
        def delivered() -> bool:
            assert app.alerting is not None
            return len(receiver.received) >= len(app.alerting.history)

        wait_for(delivered, timeout=30)
        delivery_s = time.monotonic() - healed
        time.sleep(3)  # a duplicate flood would arrive now
        text = scrape(metrics)
        history = list(app.alerting.history)
    finally:
        stop.set()
        app.stop()
        receiver.close()
    got = Counter(_key(r["alert"]["name"], r["status"], r["at"], r["repeat"],
                       r["alert"]["labels"]) for r in receiver.received)
    want = Counter(_key(n.alert.name, n.status, rfc3339(n.at_ms), n.repeat,
                        dict(n.alert.labels)) for n in history)
    print(f"\noutage {outage_s:.0f} s, {failures:.0f} failed attempts, "
          f"{len(history)} notifications delivered {delivery_s:.1f} s after the sink returned")
    print("\n".join(samples))
    assert outage_s >= 120
    assert got == want  # every notification exactly once: none lost, no duplicates
    assert any(k.startswith("P1ResolutionOverdue firing") for k in got)
    assert failures >= 10
    assert _value(text, "aftersales_notifications_dropped_total") == 0
    assert _value(text, "aftersales_notifications_total", sink="hook") == len(history)
