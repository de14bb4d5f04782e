"""WeCom (企业微信) group robot: a markdown message (``content`` at most 4096 bytes).

WeCom robots have no signature: the ``key`` in the webhook URL is the credential. The
robot answers HTTP 200 with ``errcode`` 0 on success.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from alerts.render import message_lines, title
from alerts.sinks.base import HttpSink, SinkContext, SinkOptions
from core.alerting import Notification

__all__ = ["WeComSink"]

MAX_BYTES = 4096


def _truncate(text: str, limit: int = MAX_BYTES) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "..."


class WeComSink(HttpSink):
    kind = "wecom"
    FIELDS: ClassVar[Mapping[str, type]] = {"url": str}

    def __init__(self, options: SinkOptions, context: SinkContext, url: str) -> None:
        super().__init__(options, context)
        self.url = url

    def body(self, n: Notification) -> dict[str, Any]:
        color = "info" if n.status == "resolved" else "warning"
        langs = ("zh", "en") if self.options.lang == "both" else (self.options.lang,)
        blocks = []
        for lang in langs:
            lines = message_lines(n, lang, self.context.timezone)
            head = f'### <font color="{color}">{title(n, lang)}</font>'
            blocks.append("\n".join([head, *lines]))
        return {"msgtype": "markdown", "markdown": {"content": _truncate("\n\n".join(blocks))}}

    def send(self, n: Notification) -> None:
        self.robot_answer(self.post(self.url, self.body(n)), "errcode")
