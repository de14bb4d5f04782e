"""DingTalk (钉钉) custom robot: markdown message, optional 加签 signature.

Signing: ``sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}"))``,
sent URL-encoded as the ``timestamp`` and ``sign`` query parameters beside the robot's
``access_token``. The robot answers HTTP 200 with ``errcode`` 0 on success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from alerts.sinks.base import HttpSink, SinkContext, SinkOptions, markdown, secret
from core.alerting import Notification

__all__ = ["DingTalkSink", "dingtalk_sign"]


def dingtalk_sign(secret_text: str, timestamp_ms: int) -> str:
    msg = f"{timestamp_ms}\n{secret_text}".encode()
    digest = hmac.new(secret_text.encode(), msg, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkSink(HttpSink):
    kind = "dingtalk"
    FIELDS: ClassVar[Mapping[str, type]] = {
        "url": str, "secret": object, "at_mobiles": list, "at_all": bool,
    }

    def __init__(self, options: SinkOptions, context: SinkContext, url: str,
                 secret: Any = None, at_mobiles: Sequence[str] = (),
                 at_all: bool = False) -> None:
        super().__init__(options, context)
        self.url = url
        self.secret = _secret(secret, options.name)
        self.at_mobiles = [str(m) for m in at_mobiles]
        self.at_all = at_all

    def body(self, n: Notification) -> dict[str, Any]:
        head, text = markdown(n, self.options.lang, self.context.timezone)
        if self.at_mobiles and n.status == "firing":
            text += "\n\n" + " ".join(f"@{m}" for m in self.at_mobiles)
        return {
            "msgtype": "markdown",
            "markdown": {"title": head, "text": text},
            "at": {"atMobiles": self.at_mobiles, "isAtAll": self.at_all and n.status == "firing"},
        }

    def send(self, n: Notification) -> None:
        params = None
        if self.secret:
            ts = int(self.context.wall_s() * 1000)
            params = {"timestamp": str(ts), "sign": dingtalk_sign(self.secret.get(), ts)}
        self.robot_answer(self.post(self.url, self.body(n), params=params), "errcode")


def _secret(value: Any, name: str) -> Any:
    return secret(value, f"alerting.sinks.{name}.secret") if value is not None else None
