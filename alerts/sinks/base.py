"""What every sink shares: options, severity filter, JSON over HTTP with a timeout.

A sink's :meth:`Sink.send` delivers one notification or raises :class:`SinkError`; it
never retries and never sleeps — retry, backoff and the queue belong to the notifier,
which runs each sink on its own thread, off the stream's hot path.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests

from alerts.render import message_lines, title
from alerts.rules import SEVERITIES
from core.alerting import ActiveAlert, Notification
from core.config import Secret
from core.errors import ConfigError, PulseError

__all__ = [
    "HttpSink", "Sink", "SinkContext", "SinkError", "SinkOptions", "markdown", "redact", "secret",
]


class SinkError(PulseError):
    """One delivery failed (the notifier retries it)."""


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What sinks need from the rest of the configuration."""

    timezone: ZoneInfo | None = None
    generator_url: str = ""
    wall_s: Callable[[], float] = time.time  # for signatures and Alertmanager endsAt


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """Keys every sink accepts (``alerting.sinks[i]``)."""

    kind: str
    name: str
    min_severity: str = "info"
    lang: str = "both"  # zh | en | both
    timeout_s: float = 5.0
    queue_size: int = 256
    # retry policy: a failed send is retried after backoff_s, doubling up to max_backoff_s
    # (± 20 % jitter), until it has been retried for retry_for_s or max_attempts sends
    # were made (0: no count limit). Five attempts (~15 s) lost every notification of a
    # sink that was down for minutes.
    max_attempts: int = 0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    retry_for_s: float = 3600.0


_QUERY = re.compile(r"\?[^\s'\"()]*")
_URL_PATH = re.compile(r"(url: |https?://[^/\s'\"]+)/[^\s'\"()]*")


def redact(text: str) -> str:
    """Drop URL paths and query strings (robot tokens, keys, signatures) from a message."""
    return _QUERY.sub("?<redacted>", _URL_PATH.sub(r"\1/<redacted>", text))


def secret(value: Any, where: str) -> Secret:
    """A secret from a string, ``{env: NAME}`` or ``{file: PATH}``; errors name the key."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    if isinstance(value, Mapping) and len(value) == 1:
        if "env" in value:
            name = str(value["env"])
            if name not in os.environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return Secret(os.environ[name])
        if "file" in value:
            try:
                return Secret(Path(str(value["file"])).read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read secret file: {exc}") from None
    raise ConfigError(f"{where}: a secret is a string, {{env: NAME}} or {{file: PATH}}")


def markdown(n: Notification, lang: str, tz: ZoneInfo | None, heading: str = "### ",
             sep: str = "\n\n") -> tuple[str, str]:
    """(title, markdown body) in one or both languages; Chinese first."""
    langs = ("zh", "en") if lang == "both" else (lang,)
    blocks = [sep.join([heading + title(n, lg), *message_lines(n, lg, tz)]) for lg in langs]
    return title(n, langs[0]), (sep + "---" + sep).join(blocks)


class Sink:
    """Base class: ``kind`` names it in the config; ``FIELDS`` are its own keys."""

    kind: ClassVar[str] = ""
    FIELDS: ClassVar[Mapping[str, type]] = {}
    wants_refresh: ClassVar[bool] = False  # Alertmanager needs firing alerts re-sent

    def __init__(self, options: SinkOptions, context: SinkContext) -> None:
        self.options = options
        self.context = context

    @property
    def name(self) -> str:
        return self.options.name

    def accepts(self, n: Notification) -> bool:
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return rank.get(n.alert.severity, 0) >= rank[self.options.min_severity]

    def send(self, n: Notification) -> None:
        raise NotImplementedError

    def refresh(self, alerts: Sequence[ActiveAlert]) -> None:
        """Re-send what is firing (only sinks with ``wants_refresh``)."""

    def close(self) -> None:
        """Release connections."""


class HttpSink(Sink):
    """JSON over HTTP(S) with the sink's timeout; any non-2xx answer is a failure."""

    def __init__(self, options: SinkOptions, context: SinkContext) -> None:
        super().__init__(options, context)
        self.session = requests.Session()

    def post(self, url: str, body: Any, *, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        try:
            resp = self.session.post(url, json=body, params=params, headers=headers,
                                     timeout=self.options.timeout_s)
        except requests.RequestException as exc:
            # requests puts the URL in its messages: robot URLs carry tokens and signatures
            raise SinkError(f"{self.name}: {type(exc).__name__}: {redact(str(exc))}") from None
        if not 200 <= resp.status_code < 300:
            raise SinkError(f"{self.name}: HTTP {resp.status_code}: {resp.text[:200]}")
        return resp

    @staticmethod
    def robot_answer(resp: requests.Response, *keys: str) -> None:
        """IM robots answer HTTP 200 with an error code in the body; 0 is success."""
        try:
            data = resp.json()
        except ValueError:
            raise SinkError(f"answer is not JSON: {resp.text[:200]}") from None
        for key in keys:
            if isinstance(data, dict) and key in data:
                if data[key] not in (0, "0"):
                    raise SinkError(f"robot refused the message: {data}")
                return

    def close(self) -> None:
        self.session.close()
