"""The server: binding refusal, basic/token auth, security headers; the refresh callback."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from conftest import NOW_MS

from core.config import DashboardConfig, Secret, load_config
from core.errors import ConfigError
from core.snapshot import Snapshot
from dashboard.callbacks import OUTPUTS, Refresher
from dashboard.server import BoardServer, is_loopback
from dashboard.sources import BoardData, EngineSource
from dashboard.view import Settings


def board(**kw: Any) -> BoardServer:
    return BoardServer(dataclasses.replace(DashboardConfig(), port=0, **kw),
                       EngineSource(lambda: None))


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("board.example", False),
])
def test_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_refuses_to_expose_the_board_without_credentials(host: str) -> None:
    with pytest.raises(ConfigError, match="not loopback"):
        board(host=host).start()
    board(host=host, token=Secret("t0ken")).check_binding()
    board(host=host, username="sup", password=Secret("pw")).check_binding()


def test_refuses_half_configured_basic_auth() -> None:
    with pytest.raises(ConfigError, match="together"):
        board(username="sup").start()
    with pytest.raises(ConfigError, match="together"):
        board(host="0.0.0.0", password=Secret("pw"), token=Secret("t")).check_binding()


def test_configured_through_load_config() -> None:
    cfg = load_config(dashboard__host="0.0.0.0", dashboard__port=0)
    with pytest.raises(ConfigError):
        BoardServer(cfg.dashboard, EngineSource(lambda: None)).start()


def test_starts_on_loopback_and_serves_the_page() -> None:
    import requests

    with board() as b:
        assert b.url.startswith("http://127.0.0.1:")
        r = requests.get(b.url, timeout=5)
        assert r.status_code == 200
        assert "Content-Security-Policy" in r.headers
        assert "'unsafe-eval'" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def _basic(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def test_basic_auth() -> None:
    client = board(username="sup", password=Secret("s3cret")).app.server.test_client()
    r = client.get("/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/", headers=_basic("sup", "wrong")).status_code == 401
    assert client.get("/", headers=_basic("other", "s3cret")).status_code == 401
    assert client.get("/", headers=_basic("sup", "s3cret")).status_code == 200
    assert client.get("/_dash-layout", headers=_basic("sup", "s3cret")).status_code == 200
    assert client.get("/_dash-layout").status_code == 401


def test_token_auth_by_header_query_and_cookie() -> None:
    client = board(token=Secret("tv-token")).app.server.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/?token=nope").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer tv-token"}).status_code == 200
    r = client.get("/?token=tv-token&lang=en")
    assert r.status_code == 200
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "tv-token" not in cookie
    # the page's own requests carry the cookie, not the token
    assert client.get("/_dash-layout").status_code == 200
    fresh = board(token=Secret("tv-token")).app.server.test_client()
    assert fresh.get("/_dash-layout").status_code == 401


STRICT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' {hashes}; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'; object-src 'none'"
)


def _served(b: BoardServer, path: str = "/", **kw: Any) -> Any:
    import requests

    return requests.get(f"http://127.0.0.1:{b.port}{path}", timeout=5, **kw)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_waitress_serves_the_board_with_auth_and_the_strict_csp(host: str) -> None:
    """Over real HTTP, on and off loopback: waitress answers, the hooks still hold."""
    import requests

    with board(host=host, token=Secret("tv-token")) as b:
        assert type(b._server).__module__ == "waitress.server"
        denied = _served(b)
        assert denied.status_code == 401
        assert denied.headers["Server"] == "waitress"  # not Werkzeug's development server
        assert "Werkzeug" not in denied.headers.get("Server", "")
        assert _served(b, "/_dash-layout").status_code == 401
        assert _served(b, "/?token=nope").status_code == 401
        health = _served(b, "/healthz")  # for liveness probes: no credentials, no data
        assert (health.status_code, health.text) == (200, "ok\n")
        assert health.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert _served(b, "/healthz/../").status_code == 401
        ok = _served(b, headers={"Authorization": "Bearer tv-token"})
        assert ok.status_code == 200
        assert ok.headers["Server"] == "waitress"
        hashes = " ".join(b.app.csp_hashes())
        assert hashes.startswith("'sha256-")
        assert ok.headers["Content-Security-Policy"] == STRICT_CSP.format(hashes=hashes)
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        assert ok.headers["Referrer-Policy"] == "no-referrer"
        assert ok.headers["Cache-Control"] == "no-store"
        # a TV browser: the token once in the URL, then the HttpOnly cookie
        tv = requests.Session()
        first = tv.get(f"http://127.0.0.1:{b.port}/?token=tv-token", timeout=5)
        assert first.status_code == 200
        assert "HttpOnly" in first.headers["Set-Cookie"]
        assert tv.get(f"http://127.0.0.1:{b.port}/_dash-layout", timeout=5).status_code == 200
        port = b.port
    with pytest.raises(requests.ConnectionError):  # stopped: nothing listens any more
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_basic_auth_over_waitress_and_hostile_bodies_are_refused() -> None:
    import requests

    with board(host="0.0.0.0", username="sup", password=Secret("s3cret")) as b:
        r = _served(b)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert _served(b, auth=("sup", "wrong")).status_code == 401
        assert _served(b, auth=("sup", "s3cret")).status_code == 200
        # an oversized callback body is refused by the server before the app reads it
        big = requests.post(f"http://127.0.0.1:{b.port}/_dash-update-component",
                            data=b"x" * (5 << 20), auth=("sup", "s3cret"),
                            headers={"Content-Type": "application/json"}, timeout=10)
        assert big.status_code == 413
        assert _served(b, auth=("sup", "s3cret")).status_code == 200  # and it still serves


def test_a_stopped_board_frees_its_port_for_a_restart() -> None:
    from pulse.broker import free_port

    port = free_port()
    cfg = dataclasses.replace(DashboardConfig(), port=port)
    for _ in range(2):
        with BoardServer(cfg, EngineSource(lambda: None)) as b:
            assert b.port == port
            assert _served(b).status_code == 200
    with BoardServer(cfg, EngineSource(lambda: None)) as b, pytest.raises(ConfigError,
                                                                          match="cannot listen"):
        BoardServer(cfg, EngineSource(lambda: None)).start()


def test_secrets_stay_out_of_reprs() -> None:
    b = board(username="sup", password=Secret("s3cret"), token=Secret("tv-token"))
    assert "s3cret" not in repr(b.config)
    assert "tv-token" not in repr(b.config)


# -- the refresh callback --------------------------------------------------------------
@pytest.fixture(scope="module")
def snap() -> Snapshot:
    from board_events import feed, traffic

    from metrics.engine import Engine

    engine = Engine(load_config(), lambda: NOW_MS)
    feed(engine, traffic(NOW_MS - 2 * 3600_000, NOW_MS, rate=10), NOW_MS)
    engine.tick()
    return engine.snapshot()


class Holder:
    def __init__(self, data: BoardData) -> None:
        self.data = data

    def read(self) -> BoardData:
        return self.data


def test_refresh_sends_only_what_changed(snap: Snapshot) -> None:
    from dash import no_update

    src = Holder(BoardData(snap))
    refresh = Refresher(src, Settings())
    first = refresh(0, "", {})
    assert len(first) == len(OUTPUTS) + 1
    assert no_update not in first[:-1]
    sent = first[-1]
    assert len(sent) == sum(1 for s in OUTPUTS if not s.always)

    second = refresh(1, "", sent)
    for spec, value in zip(OUTPUTS, second, strict=False):
        assert (value is no_update) is (not spec.always), spec.component
    assert second[-1] is no_update  # nothing new to remember

    # a longer number: its value and its size class (smaller type, never cut) change
    src.data = BoardData(dataclasses.replace(snap, unanswered={"chat": 99_999_999}))
    third = refresh(2, "", sent)
    changed = {f"{s.component}.{s.prop}" for s, v in zip(OUTPUTS, third, strict=False)
               if v is not no_update and not s.always}
    assert changed == {"tile-unanswered-value.children", "tile-unanswered.className"}
    assert third[OUTPUTS.index(next(s for s in OUTPUTS
                                    if s.component == "tile-unanswered-value"))] == "99,999,999"

    en = refresh(3, "?lang=en", third[-1])
    labels = {s.component: v for s, v in zip(OUTPUTS, en, strict=False)
              if s.component.endswith("-label")}
    assert labels["tile-unanswered-label"] == "Unanswered"


def test_layout_ids_match_the_callback_outputs() -> None:
    b = board()
    ids = set()

    def walk(c: Any) -> None:
        if getattr(c, "id", None):
            ids.add(c.id)
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            walk(k)

    walk(b.app.layout)
    assert {s.component for s in OUTPUTS} <= ids
