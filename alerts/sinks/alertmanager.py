"""Alertmanager: ``POST /api/v2/alerts`` with a list of postable alerts.

Alertmanager resolves an alert it has not heard of for ``endsAt``, so — like Prometheus
— firing alerts carry ``endsAt`` a few resend periods ahead and are re-sent every
``resend_s`` of wall time (:meth:`refresh`). A resolved notification sends ``endsAt`` =
the event time it resolved at. Labels: ``alertname``, ``severity``, the rule's and the
episode's labels; annotations: summary/description in Chinese (the product's default)
and ``*_en`` in English, as the exported Prometheus rules write them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from alerts.render import REASONS, format_value
from alerts.sinks.base import HttpSink, SinkContext, SinkOptions, secret
from alerts.sinks.webhook import rfc3339
from core.alerting import ActiveAlert, Notification

__all__ = ["AlertmanagerSink", "postable"]


def postable(a: ActiveAlert, ends_ms: int | None, generator_url: str,
             resolved: bool = False, reason: str = "") -> dict[str, Any]:
    annotations = {
        "summary": a.summary_zh, "description": a.description_zh,
        "summary_en": a.summary_en, "description_en": a.description_en,
        "value": format_value(a.unit, a.value), "profile": a.profile,
    }
    if resolved:
        annotations["resolved_summary"] = a.resolved_summary("zh")
        annotations["resolved_summary_en"] = a.resolved_summary("en")
    if reason in REASONS:  # ended by a rebuild, not a recovery: say so where people read
        annotations["resolved_summary"] = REASONS[reason]["zh"][1]
        annotations["resolved_summary_en"] = REASONS[reason]["en"][1]
        annotations["reason"] = reason
    out: dict[str, Any] = {
        "labels": {"alertname": a.name, "severity": a.severity, **dict(a.labels)},
        "annotations": annotations,
        "startsAt": rfc3339(a.since_ms),
    }
    if ends_ms is not None:
        out["endsAt"] = rfc3339(ends_ms)
    if generator_url:
        out["generatorURL"] = generator_url
    return out


class AlertmanagerSink(HttpSink):
    kind = "alertmanager"
    FIELDS: ClassVar[Mapping[str, type]] = {
        "url": str, "generator_url": str, "resend_s": float, "bearer_token": object,
    }
    wants_refresh = True

    def __init__(self, options: SinkOptions, context: SinkContext, url: str,
                 generator_url: str = "", resend_s: float = 60.0,
                 bearer_token: Any = None) -> None:
        super().__init__(options, context)
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.generator_url = generator_url or context.generator_url
        self.resend_s = resend_s
        self.token = secret(bearer_token, f"alerting.sinks.{options.name}.bearer_token") \
            if bearer_token is not None else None

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        headers = {"Authorization": f"Bearer {self.token.get()}"} if self.token else None
        self.post(self.url, alerts, headers=headers)

    def _expiry_ms(self) -> int:
        return int((self.context.wall_s() + 4 * max(self.resend_s, 60.0)) * 1000)

    def send(self, n: Notification) -> None:
        if n.status == "resolved":
            self._post([postable(n.alert, n.ends_ms, self.generator_url, resolved=True,
                                 reason=n.reason)])
        else:
            self._post([postable(n.alert, self._expiry_ms(), self.generator_url)])

    def refresh(self, alerts: Sequence[ActiveAlert]) -> None:
        ends = self._expiry_ms()
        body = [postable(a, ends, self.generator_url) for a in alerts if self.accepts_alert(a)]
        if body:
            self._post(body)

    def accepts_alert(self, a: ActiveAlert) -> bool:
        return self.accepts(Notification("firing", a, 0))
