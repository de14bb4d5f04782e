"""A loopback HTTP server standing in for the IM robots, webhooks and Alertmanager.

It records every request (path, query, headers, JSON body) and answers with whatever the
test queued: a body, a status, a delay, or silence until the test ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

__all__ = ["Answer", "Received", "RobotServer", "am_alerts"]


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok", "code": 0})
    delay_s: float = 0.0
    hang: bool = False  # never answer (until the server stops)


class RobotServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.default = Answer()
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                outer.received.append(Received(
                    parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                ))
                ans = outer.answers.popleft() if outer.answers else outer.default
                if ans.hang:
                    outer._stop.wait()
                    return
                time.sleep(ans.delay_s)
                data = json.dumps(ans.body).encode()
                try:
                    self.send_response(ans.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> RobotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, n: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= n, f"expected {n} requests, got {len(self.received)}"
        return self.received


def am_alerts(url: str) -> dict[str, dict[str, Any]]:
    """Active alerts in a real Alertmanager by alertname (resolved ones are not listed)."""
    alerts = requests.get(url + "/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a for a in alerts}
