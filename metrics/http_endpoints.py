"""``/metrics``, ``/healthz`` and ``/readyz`` on one port.

client_python's own WSGI pieces (its thread-per-request server, silent handler and
metrics app, as ``start_wsgi_server`` assembles them) with the two probes routed in
front: the library has no hook for extra paths, so only the routing is ours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

__all__ = ["MetricsServer"]


class MetricsServer:
    """Serves the registry and the two probes.

    ``/healthz`` (liveness): 200 unless ``not_live()`` gives a reason the pipeline cannot
    make progress; then 503 with it. ``/readyz`` (readiness): 200 once ``ready()``; else
    503 with ``not_ready()``'s reason (no broker reachable, rebuilding, ...).
    """

    def __init__(
        self, registry: CollectorRegistry, ready: Callable[[], bool], host: str, port: int,
        *,
        not_ready: Callable[[], str | None] | None = None,
        not_live: Callable[[], str | None] | None = None,
        routes: Mapping[str, Callable[..., Iterable[bytes]]] | None = None,
    ) -> None:
        self._metrics = make_wsgi_app(registry)
        self._routes = dict(routes or {})  # further WSGI apps by path (e.g. /act-now)
        self._ready = ready
        self._not_ready = not_ready
        self._not_live = not_live
        self._server = make_server(host, port, self._app, ThreadingWSGIServer, _SilentHandler)
        self.port = self._server.server_port
        self.host = host
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            why = self._not_live() if self._not_live is not None else None
            if why is None:
                start("200 OK", [("Content-Type", "text/plain")])
                return [b"ok\n"]
            start("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"not live: {why}\n".encode()]
        if path == "/readyz":
            if self._ready():
                start("200 OK", [("Content-Type", "text/plain")])
                return [b"ready\n"]
            why = self._not_ready() if self._not_ready is not None else None
            start("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"not ready: {why or 'rebuilding state from the log'}\n".encode()]
        if path in ("/metrics", "/"):
            return self._metrics(environ, start)  # type: ignore[no-any-return]
        if path in self._routes:
            return self._routes[path](environ, start)
        start("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Closes the port; safe before start() (``shutdown`` would wait for a loop that
        never ran)."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
