"""Feishu (飞书) custom bot: an interactive card, optional 签名校验 signature.

Signing: ``sign = base64(HMAC-SHA256(key=f"{timestamp_s}\\n{secret}", msg=b""))``, sent in
the JSON body as ``timestamp`` (seconds, a string) and ``sign``. The bot answers HTTP
200 with ``code`` 0 (older deployments: ``StatusCode`` 0) on success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

from alerts.sinks.base import HttpSink, SinkContext, SinkOptions, markdown, secret
from core.alerting import Notification

__all__ = ["FeishuSink", "feishu_sign"]

_TEMPLATE = {"critical": "red", "warning": "orange", "info": "blue"}


def feishu_sign(secret_text: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret_text}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuSink(HttpSink):
    kind = "feishu"
    FIELDS: ClassVar[Mapping[str, type]] = {"url": str, "secret": object}

    def __init__(self, options: SinkOptions, context: SinkContext, url: str,
                 secret: Any = None) -> None:
        super().__init__(options, context)
        self.url = url
        self.secret = _secret(secret, options.name)

    def body(self, n: Notification) -> dict[str, Any]:
        head, text = markdown(n, self.options.lang, self.context.timezone, heading="",
                              sep="\n")
        body_text = text.split("\n", 1)[1] if "\n" in text else text
        template = "green" if n.status == "resolved" else _TEMPLATE.get(n.alert.severity, "blue")
        body: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": head},
                           "template": template},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": body_text}}],
            },
        }
        if self.secret:
            ts = int(self.context.wall_s())
            body = {"timestamp": str(ts), "sign": feishu_sign(self.secret.get(), ts), **body}
        return body

    def send(self, n: Notification) -> None:
        self.robot_answer(self.post(self.url, self.body(n)), "code", "StatusCode")


def _secret(value: Any, name: str) -> Any:
    return secret(value, f"alerting.sinks.{name}.secret") if value is not None else None
