"""``pulse notify-bridge``: Alertmanager's webhook → the DingTalk, WeCom and Feishu robots.

Alertmanager posts one JSON format (webhook version 4) to every ``webhook_configs`` URL;
the IM robots each want their own body and signature. The bridge turns each alert of a
webhook into the :class:`~core.alerting.Notification` the in-process evaluator would have
produced (labels, the Chinese and English annotations of ``pulse rules export``) and
hands it to the sinks of ``alerting.sinks`` through a :class:`~alerts.notifier.Notifier`:
bounded queues, retry with backoff, the same message formats and signatures as
``pulse run``.

Routes:

- ``POST /alertmanager/<sink name>`` — to that sink only (one Alertmanager receiver per
  robot, so routing stays in Alertmanager);
- ``POST /alertmanager`` — to every sink (each sink's ``min_severity`` applies);
- ``GET /healthz``.

A webhook is answered once its notifications are queued (202); delivery and its retries
happen off the request thread, so a slow robot never makes Alertmanager time out.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from alerts.notifier import Notifier
from alerts.sinks import Sink, SinkContext, build_sinks
from core.alerting import ActiveAlert, Notification
from core.config import Config
from core.errors import ConfigError

__all__ = ["Bridge", "bridge_command", "notifications"]

log = logging.getLogger(__name__)

PATH = "/alertmanager"
MAX_BODY = 1 << 20  # Alertmanager groups are small; refuse anything absurd
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads micro


def _ms(text: Any) -> int | None:
    """An Alertmanager RFC 3339 time → epoch ms; None for Go's zero time or garbage."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    try:
        dt = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        return None
    return int(dt.timestamp() * 1000) if dt.tzinfo is not None else None


def _alert(raw: Mapping[str, Any]) -> ActiveAlert:
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    ann = {str(k): str(v) for k, v in (raw.get("annotations") or {}).items()}
    name = labels.pop("alertname", "alert")
    severity = labels.pop("severity", "warning")
    profile = labels.pop("profile", "normal")
    summary_zh = ann.get("summary") or ann.get("summary_en") or name
    description_zh = ann.get("description") or ann.get("description_en", "")
    return ActiveAlert(
        name=name, severity=severity, labels=tuple(sorted(labels.items())),
        summary_zh=summary_zh, summary_en=ann.get("summary_en") or summary_zh,
        description_zh=description_zh,
        description_en=ann.get("description_en") or description_zh,
        since_ms=_ms(raw.get("startsAt")) or 0,
        value=math.nan, threshold=math.nan, comparison="",  # in the summary's text
        profile=profile,
        resolved_summary_zh=ann.get("resolved_summary", ""),
        resolved_summary_en=ann.get("resolved_summary_en", ""),
    )


def notifications(payload: Any) -> list[Notification]:
    """Alertmanager webhook JSON → one notification per alert; ValueError if malformed."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("alerts"), list):
        raise ValueError("expected an Alertmanager webhook body with an 'alerts' list")
    out = []
    for raw in payload["alerts"]:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("labels"), Mapping):
            raise ValueError("every alert needs a 'labels' object")
        alert = _alert(raw)
        if raw.get("status", payload.get("status")) == "resolved":
            ends = _ms(raw.get("endsAt")) or alert.since_ms
            out.append(Notification("resolved", alert, ends, ends_ms=ends))
        else:
            out.append(Notification("firing", alert, alert.since_ms))
    return out


class Bridge:
    """The HTTP server and its notifier: ``Bridge(sinks, host, port).start()`` … ``stop()``."""

    def __init__(self, sinks: Sequence[Sink], host: str = "127.0.0.1", port: int = 9095) -> None:
        # one notifier per sink: a path names one sink, and each keeps its own queue
        self.notifiers = {s.name: Notifier([s]) for s in sinks}
        self.sinks = {s.name: s for s in sinks}
        self.received = 0
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path in ("/healthz", "/-/healthy"):
                    self._answer(200, {"status": "ok"})
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path != PATH and not path.startswith(PATH + "/"):
                    self._answer(404, {"error": f"POST {PATH} or {PATH}/<sink name>"})
                    return
                name = path[len(PATH) + 1:] or None
                if name is not None and name not in bridge.sinks:
                    self._answer(404, {"error": f"no sink named {name!r}",
                                       "sinks": sorted(bridge.sinks)})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, {"error": "body too large"})
                    return
                try:
                    notes = notifications(json.loads(self.rfile.read(length) or b"null"))
                except ValueError as exc:  # JSONDecodeError is a ValueError
                    self._answer(400, {"error": str(exc)})
                    return
                queued = bridge.submit(notes, name)
                self._answer(202, {"status": "queued", "notifications": queued})

            def _answer(self, status: int, body: Mapping[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"notify-bridge: cannot listen on {host}:{port}: {exc}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,),
                                        name="notify-bridge", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{PATH}"

    def submit(self, notes: Sequence[Notification], sink: str | None = None) -> int:
        """Queue ``notes`` for one sink (or all); returns how many deliveries were queued."""
        self.received += len(notes)
        queued = 0
        for name in [sink] if sink else list(self.sinks):
            accepted = [n for n in notes if self.sinks[name].accepts(n)]
            self.notifiers[name].submit(accepted)
            queued += len(accepted)
        return queued

    def start(self) -> Bridge:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        for notifier in self.notifiers.values():
            notifier.close()

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bridge_command(cfg: Config, args: argparse.Namespace, stop: threading.Event) -> int:
    """``pulse notify-bridge [--config FILE] [--host H] [--port P]`` until ``stop``."""
    if not cfg.alerting.sinks:
        raise ConfigError("alerting.sinks: the notify-bridge needs at least one sink "
                          "(dingtalk, wecom, feishu, webhook, ...) in --config")
    sinks = build_sinks(cfg.alerting.sinks, SinkContext(timezone=ZoneInfo(cfg.alerting.timezone)))
    bridge = Bridge(sinks, getattr(args, "host", "127.0.0.1"), int(getattr(args, "port", 9095)))
    with bridge:
        print(f"notify-bridge: {bridge.url}/<sink> → {', '.join(bridge.sinks)}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0
