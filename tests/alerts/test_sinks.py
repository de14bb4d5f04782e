"""Sink payloads, byte for byte, against a loopback robot server; signatures recomputed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from zoneinfo import ZoneInfo

import pytest
from robots import Answer, RobotServer

from alerts.sinks import SinkContext, SinkError, build_sinks
from alerts.sinks.base import SinkOptions
from alerts.sinks.dingtalk import DingTalkSink
from alerts.sinks.feishu import FeishuSink
from alerts.sinks.wecom import WeComSink
from core.alerting import Notification
from core.errors import ConfigError

WALL_S = 1_794_355_200.123
CTX = SinkContext(ZoneInfo("Asia/Shanghai"), "http://127.0.0.1:9108/metrics", lambda: WALL_S)
SECRET = "SEC0123456789abcdef"
FIRING_ZH = [
    "**FirstResponseSlaLow** · 严重 · team=cs",
    "- 当前值：85%（阈值 < 88%，高峰档）",
    "- 开始时间：2026-11-11 08:00:00 CST",
    "低于 88%。",
]


def sink(spec: dict, robots: RobotServer):  # type: ignore[no-untyped-def]
    return build_sinks([{"lang": "zh", **spec}], CTX)[0]


def test_dingtalk_markdown_and_signature(robots: RobotServer, firing: Notification) -> None:
    s = sink({"type": "dingtalk", "url": robots.url + "/robot/send?access_token=tok",
              "secret": SECRET, "at_mobiles": ["13800000000"]}, robots)
    s.send(firing)
    req = robots.received[0]
    assert req.path == "/robot/send"
    ts = "1794355200123"
    expected_sign = base64.b64encode(hmac.new(
        SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    assert req.query == {"access_token": "tok", "timestamp": ts, "sign": expected_sign}
    assert req.body == {
        "msgtype": "markdown",
        "markdown": {
            "title": "[告警] 首次响应 SLA 达成率过低：85%",
            "text": "\n\n".join(["### [告警] 首次响应 SLA 达成率过低：85%", *FIRING_ZH,
                                 "@13800000000"]),
        },
        "at": {"atMobiles": ["13800000000"], "isAtAll": False},
    }


def test_dingtalk_refusal_is_a_failure(robots: RobotServer, firing: Notification) -> None:
    robots.default = Answer(body={"errcode": 310000, "errmsg": "sign not match"})
    s = sink({"type": "dingtalk", "url": robots.url + "/robot/send?access_token=t"}, robots)
    with pytest.raises(SinkError, match="310000"):
        s.send(firing)
    assert "sign" not in robots.received[0].query  # no secret, no signature


def test_wecom_markdown(robots: RobotServer, resolved: Notification) -> None:
    s = sink({"type": "wecom", "url": robots.url + "/cgi-bin/webhook/send?key=k"}, robots)
    s.send(resolved)
    req = robots.received[0]
    assert req.query == {"key": "k"}
    assert req.body == {"msgtype": "markdown", "markdown": {"content": "\n".join([
        '### <font color="info">[已恢复] 已恢复：93%</font>', *FIRING_ZH[:3],
        "- 恢复时间：2026-11-11 08:10:00 CST", FIRING_ZH[3]])}}


def test_wecom_content_is_cut_to_4096_bytes(firing: Notification) -> None:
    from dataclasses import replace

    long = replace(firing, alert=replace(firing.alert, description_zh="很长" * 2000))
    body = WeComSink(SinkOptions("wecom", "w"), CTX, "http://x").body(long)
    assert len(body["markdown"]["content"].encode()) <= 4096


def test_feishu_card_and_signature(robots: RobotServer, firing: Notification) -> None:
    s = sink({"type": "feishu", "url": robots.url + "/open-apis/bot/v2/hook/abc",
              "secret": SECRET}, robots)
    s.send(firing)
    req = robots.received[0]
    assert req.path == "/open-apis/bot/v2/hook/abc"
    key = f"1794355200\n{SECRET}".encode()
    expected_sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert req.body == {
        "timestamp": "1794355200",
        "sign": expected_sign,
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text",
                                 "content": "[告警] 首次响应 SLA 达成率过低：85%"},
                       "template": "red"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md",
                                                 "content": "\n".join(FIRING_ZH)}}],
        },
    }


def test_feishu_refusal_is_a_failure(robots: RobotServer, firing: Notification) -> None:
    robots.default = Answer(body={"code": 19021, "msg": "sign match fail"})
    with pytest.raises(SinkError, match="19021"):
        FeishuSink(SinkOptions("feishu", "f"), CTX, robots.url, secret=SECRET).send(firing)


def test_generic_webhook_json_and_bearer(robots: RobotServer, resolved: Notification,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    s = sink({"type": "webhook", "url": robots.url + "/hook", "headers": {"X-Team": "cs"},
              "bearer_token": {"env": "HOOK_TOKEN"}}, robots)
    assert "s3cret" not in repr(vars(s))
    s.send(resolved)
    req = robots.received[0]
    assert req.headers["authorization"] == "Bearer s3cret"
    assert req.headers["x-team"] == "cs"
    assert req.body == {
        "version": "1", "source": "aftersales-pulse", "status": "resolved", "repeat": False,
        "at": "2026-11-11T00:10:00.000+00:00",
        "alert": {
            "name": "FirstResponseSlaLow", "severity": "critical", "labels": {"team": "cs"},
            "value": 0.85, "threshold": 0.88, "comparison": "<", "unit": "ratio",
            "profile": "peak",
            "summary": {"zh": "首次响应 SLA 达成率过低：85%", "en": "First-response SLA low: 85%"},
            "description": {"zh": "低于 88%。", "en": "Below 88%."},
            "resolved_summary": {"zh": "已恢复：93%", "en": "Recovered: 93%"},
            "startsAt": "2026-11-11T00:00:00.000+00:00",
            "endsAt": "2026-11-11T00:10:00.000+00:00",
        },
    }


def test_alertmanager_v2_postable_alerts(robots: RobotServer, firing: Notification,
                                         resolved: Notification) -> None:
    s = sink({"type": "alertmanager", "url": robots.url}, robots)
    s.send(firing)
    s.send(resolved)
    s.refresh([firing.alert])
    first, second, third = robots.received
    assert first.path == second.path == "/api/v2/alerts"
    labels = {"alertname": "FirstResponseSlaLow", "severity": "critical", "team": "cs"}
    ann = {"summary": "首次响应 SLA 达成率过低：85%", "description": "低于 88%。",
           "summary_en": "First-response SLA low: 85%", "description_en": "Below 88%.",
           "value": "85%", "profile": "peak"}
    assert first.body == [{
        "labels": labels, "annotations": ann, "startsAt": "2026-11-11T00:00:00.000+00:00",
        "endsAt": "2026-11-11T00:04:00.123+00:00",  # wall + 4 resend periods
        "generatorURL": "http://127.0.0.1:9108/metrics",
    }]
    assert second.body == [{
        "labels": labels,
        "annotations": {**ann, "resolved_summary": "已恢复：93%",
                        "resolved_summary_en": "Recovered: 93%"},
        "startsAt": "2026-11-11T00:00:00.000+00:00", "endsAt": "2026-11-11T00:10:00.000+00:00",
        "generatorURL": "http://127.0.0.1:9108/metrics",
    }]
    assert third.body == first.body


def test_http_errors_and_timeouts_are_failures(robots: RobotServer,
                                               firing: Notification) -> None:
    s = build_sinks([{"type": "webhook", "url": robots.url, "timeout_s": 0.3}], CTX)[0]
    robots.answers.extend([Answer(status=500), Answer(delay_s=1.0)])
    with pytest.raises(SinkError, match="HTTP 500"):
        s.send(firing)
    with pytest.raises(SinkError, match="Timeout"):
        s.send(firing)


def test_severity_filter(firing: Notification) -> None:
    from dataclasses import replace

    s = DingTalkSink(SinkOptions("dingtalk", "d", min_severity="warning"), CTX, "http://x")
    assert s.accepts(firing)
    assert not s.accepts(replace(firing, alert=replace(firing.alert, severity="info")))


@pytest.mark.parametrize(("spec", "message"), [
    ({"type": "slack", "url": "http://x"}, r"alerting.sinks\[0\].type: expected one of"),
    ({"type": "dingtalk"}, r"alerting.sinks\[0\].url: is required"),
    ({"type": "dingtalk", "url": "ftp://x"}, r"alerting.sinks\[0\].url: expected an http"),
    ({"type": "wecom", "url": "http://x", "secret": "s"}, r"alerting.sinks\[0\].secret: unknown"),
    ({"type": "feishu", "url": "http://x", "secret": {"env": "NOPE_NOT_SET"}},
     r"alerting.sinks\[0\].secret: environment variable NOPE_NOT_SET is not set"),
    ({"type": "log", "min_severity": "loud"}, r"alerting.sinks\[0\].min_severity"),
    ({"type": "log", "timeout_s": -1}, r"alerting.sinks\[0\].timeout_s"),
    ({"type": "log", "lang": "fr"}, r"alerting.sinks\[0\].lang"),
    ("log", r"alerting.sinks\[0\]: expected a mapping"),
])
def test_sink_config_errors_name_the_key(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_sinks([spec], CTX)


def test_sink_names_are_unique() -> None:
    with pytest.raises(ConfigError, match=r"alerting.sinks\[1\].name"):
        build_sinks([{"type": "log"}, {"type": "log"}], CTX)
