"""The wall-board server: a Dash app on waitress (a production WSGI server), with auth.

Binding to anything but loopback without credentials is refused (SPEC §6): the board
shows ticket ids and operational numbers that must not be open to a whole network.
Credentials are HTTP basic auth (``username`` + ``password``) and/or a ``token`` given as
``Authorization: Bearer`` or ``?token=`` (a TV browser can open a URL but not type a
password; the token is then kept in an HttpOnly cookie for the page's own requests).

The board is served by waitress wherever it binds, never by Werkzeug's development
server: bounded worker threads and request sizes, idle connections closed, no debugger.
Auth and the security headers are Flask hooks, so they hold whatever serves the app.
``/healthz`` answers without credentials (for liveness probes) and reveals nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import threading
from pathlib import Path
from typing import Any

from dash import Dash
from flask import Response, request
from waitress import wasyncore
from waitress.server import create_server
from waitress.trigger import trigger

from core.config import DashboardConfig
from core.errors import ConfigError
from dashboard.callbacks import Refresher, register
from dashboard.layout import build_layout
from dashboard.sources import BoardSource, EngineSource
from dashboard.view import Settings

__all__ = ["BoardServer", "EngineSource", "build_app", "is_loopback"]

log = logging.getLogger(__name__)

_ASSETS = Path(__file__).with_name("assets")
_COOKIE = "pulse_board"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' {hashes}; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'; object-src 'none'"
)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1``; every other name or address is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def settings_of(config: DashboardConfig) -> Settings:
    return Settings(
        timezone=config.timezone,
        stale_after_s=float(config.stale_after_s),
        lag_high_messages=config.lag_high_messages or None,
        display_names=dict(config.display_names),
    )


def build_app(config: DashboardConfig, source: BoardSource) -> Dash:
    """The Dash app alone (no server, no auth): for tests and the bench."""
    app = Dash(
        "dashboard", assets_folder=str(_ASSETS), title="Aftersales Pulse",
        update_title=None,  # type: ignore[arg-type]  # None: no "Updating…" title flicker
        serve_locally=True, compress=False,
    )
    app.layout = build_layout(config.refresh_s)
    register(app, Refresher(source, settings_of(config)))
    return app


class _Auth:
    """Checks each request against the configured credentials (constant-time compares)."""

    def __init__(self, config: DashboardConfig) -> None:
        self.user = config.username
        self.password = config.password.get()
        self.token = config.token.get()
        self.cookie = (hashlib.sha256(b"pulse-board:" + self.token.encode()).hexdigest()
                       if self.token else "")

    @property
    def enabled(self) -> bool:
        return bool((self.user and self.password) or self.token)

    @staticmethod
    def _eq(a: str, b: str) -> bool:
        return hmac.compare_digest(a.encode(), b.encode())

    def check(self, headers: Any, args: Any, cookies: Any) -> tuple[bool, bool]:
        """(allowed, set the token cookie)."""
        auth = headers.get("Authorization", "")
        if self.token:
            if auth.startswith("Bearer ") and self._eq(auth[7:].strip(), self.token):
                return True, False
            if _COOKIE in cookies and self._eq(cookies[_COOKIE], self.cookie):
                return True, False
            if "token" in args and self._eq(args["token"], self.token):
                return True, True
        if self.user and self.password and auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False, False
            if self._eq(user, self.user) & self._eq(pw, self.password):
                return True, False
        return False, False


def _secure(app: Dash, config: DashboardConfig) -> None:
    auth = _Auth(config)
    server = app.server
    try:
        csp = _CSP.format(hashes=" ".join(app.csp_hashes()))
    except Exception:  # pragma: no cover - csp_hashes needs the layout; fall back safely
        csp = _CSP.format(hashes="'unsafe-inline'")

    @server.before_request  # type: ignore[untyped-decorator]
    def _check() -> Response | None:
        if request.path == "/healthz":  # liveness for probes: says nothing but "up"
            return Response("ok\n", 200, mimetype="text/plain")
        if not auth.enabled:
            return None
        ok, set_cookie = auth.check(request.headers, request.args, request.cookies)
        if ok:
            request.environ["pulse.set_cookie"] = set_cookie
            return None
        headers = {"WWW-Authenticate": 'Basic realm="Aftersales Pulse"'} if auth.user else {}
        return Response("authentication required\n", 401, headers, mimetype="text/plain")

    @server.after_request  # type: ignore[untyped-decorator]
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Cache-Control", "no-store")
        if request.environ.get("pulse.set_cookie"):
            resp.set_cookie(_COOKIE, auth.cookie, httponly=True, samesite="Strict")
        return resp


# waitress: enough workers for a wall of screens polling every few seconds; a callback
# request is a few KiB, so anything near the cap is hostile
_THREADS = 8
_MAX_BODY = 4 << 20


class BoardServer:
    """``BoardServer(config.dashboard, source).start()`` … ``.stop()``; ``.url`` once started."""

    def __init__(self, config: DashboardConfig, source: BoardSource) -> None:
        self.config = config
        self.source = source
        self.app = build_app(config, source)
        _secure(self.app, config)
        self._server: Any = None  # a waitress server (one or several listening sockets)
        self._thread: threading.Thread | None = None

    def check_binding(self) -> None:
        """Refuse a non-loopback bind without credentials, and half-configured basic auth."""
        c = self.config
        if bool(c.username) != bool(c.password):
            raise ConfigError("dashboard.username and dashboard.password must be set together")
        if not is_loopback(c.host) and not ((c.username and c.password) or c.token):
            raise ConfigError(
                f"dashboard.host {c.host} is not loopback: set dashboard.username and "
                "dashboard.password, or dashboard.token, before exposing the wall-board"
            )

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        if self._server is None:
            return self.config.port
        listen = getattr(self._server, "effective_listen", None)  # several sockets
        return int(listen[0][1] if listen else self._server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> BoardServer:
        self.check_binding()
        try:
            self._server = create_server(
                self.app.server, host=self.config.host, port=self.config.port,
                threads=_THREADS, max_request_body_size=_MAX_BODY, ident="waitress",
            )
        except OSError as exc:
            raise ConfigError(
                f"dashboard: cannot listen on {self.config.host}:{self.config.port}: {exc}"
            ) from None
        self._thread = threading.Thread(target=self._server.run, name="wall-board",
                                        daemon=True)
        self._thread.start()
        log.info("wall-board on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            sockets = server.map if hasattr(server, "map") else server._map
            # close every socket from the server's own loop thread (its trigger runs the
            # thunk there); the loop ends once none is left
            wake = next((d for d in list(sockets.values()) if isinstance(d, trigger)), None)
            if wake is not None and self._thread is not None and self._thread.is_alive():
                wake.pull_trigger(lambda: wasyncore.close_all(sockets))
            else:
                wasyncore.close_all(sockets)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if server is not None:
            server.task_dispatcher.shutdown(timeout=5)

    def __enter__(self) -> BoardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
