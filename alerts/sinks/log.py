"""The log sink: every notification as one log line (always available, never fails)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from alerts.render import format_value, title
from alerts.sinks.base import Sink
from core.alerting import Notification

__all__ = ["LogSink"]

log = logging.getLogger("alerts.notify")


class LogSink(Sink):
    kind = "log"
    FIELDS: ClassVar[Mapping[str, type]] = {}

    def send(self, n: Notification) -> None:
        a = n.alert
        lang = "en" if self.options.lang == "en" else "zh"
        plain_end = n.status == "resolved" and not n.reason  # an end by a rebuild warns
        level = logging.INFO if plain_end or a.severity == "info" else logging.WARNING
        labels = ",".join(f"{k}={v}" for k, v in a.labels)
        log.log(level, "%s alert=%s severity=%s labels={%s} value=%s profile=%s at_ms=%d%s",
                title(n, lang), a.name, a.severity, labels, format_value(a.unit, a.value),
                a.profile, n.at_ms, f" reason={n.reason}" if n.reason else "")
