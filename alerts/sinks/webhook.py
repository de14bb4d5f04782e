"""The generic webhook sink: one JSON document per notification, for any receiver."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from alerts.render import REASONS
from alerts.sinks.base import HttpSink, SinkContext, SinkOptions, secret
from core.alerting import Notification

__all__ = ["WebhookSink", "payload", "rfc3339"]


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).isoformat(timespec="milliseconds")


def _number(x: float) -> float | None:
    """JSON has no NaN: an unknown value (an alert relayed from Alertmanager) is null."""
    return None if math.isnan(x) or math.isinf(x) else x


def payload(n: Notification) -> dict[str, Any]:
    """The document: both languages, the numbers, event-time timestamps in RFC 3339."""
    a = n.alert
    out: dict[str, Any] = {
        "version": "1",
        "source": "aftersales-pulse",
        "status": n.status,
        "repeat": n.repeat,
        "at": rfc3339(n.at_ms),
        "alert": {
            "name": a.name,
            "severity": a.severity,
            "labels": dict(a.labels),
            "value": _number(a.value),
            "threshold": _number(a.threshold),
            "comparison": a.comparison,
            "unit": a.unit,
            "profile": a.profile,
            "summary": {"zh": a.summary_zh, "en": a.summary_en},
            "description": {"zh": a.description_zh, "en": a.description_en},
            "resolved_summary": {"zh": a.resolved_summary("zh"), "en": a.resolved_summary("en")},
            "startsAt": rfc3339(a.since_ms),
            "endsAt": rfc3339(n.ends_ms) if n.ends_ms is not None else None,
        },
    }
    if n.reason in REASONS:  # ended by a rebuild ("log_reset" | "rebuilt"), not a recovery
        out["reason"] = n.reason
        out["alert"]["resolved_summary"] = {lg: REASONS[n.reason][lg][1] for lg in ("zh", "en")}
    return out


class WebhookSink(HttpSink):
    kind = "webhook"
    FIELDS: ClassVar[Mapping[str, type]] = {"url": str, "headers": dict, "bearer_token": object}

    def __init__(self, options: SinkOptions, context: SinkContext, url: str,
                 headers: Mapping[str, str] | None = None, bearer_token: Any = None) -> None:
        super().__init__(options, context)
        self.url = url
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self.token = secret(bearer_token, f"alerting.sinks.{options.name}.bearer_token") \
            if bearer_token is not None else None

    def send(self, n: Notification) -> None:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.get()}"
        self.post(self.url, payload(n), headers=headers)
