"""Human text for alerts: values in their units, placeholders, IM message bodies.

One place decides how a ratio or a duration reads, so the board, the log and every robot
say the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.alerting import Notification

__all__ = ["REASONS", "fill", "format_time", "format_value", "message_lines", "title"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEVERITY = {
    "zh": {"critical": "严重", "warning": "警告", "info": "提示"},
    "en": {"critical": "critical", "warning": "warning", "info": "info"},
}
_PROFILE = {"zh": {"normal": "日常", "peak": "高峰"}, "en": {"normal": "normal", "peak": "peak"}}
_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
# a resolved notification's reason (Notification.reason) -> (tag, why), per language:
# an episode that ended because the state was rebuilt is never worded as a recovery
REASONS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "log_reset": {
        "zh": ("已结束·日志重置", "结束原因：Kafka 日志被重置（主题重建、分区截断或 broker "
                             "清空），状态已按现有日志重建，不再显示此告警。这不是恢复，"
                             "请核实数据源。"),
        "en": ("ENDED: log reset, state rebuilt",
               "Why it ended: the Kafka log was reset (topic recreated, partition truncated "
               "or broker emptied) and the state was rebuilt from the log as it is now, "
               "which no longer shows this alert. This is not a recovery: check the source."),
    },
    "rebuilt": {
        "zh": ("已结束·状态重建", "结束原因：状态已从日志重建（分区重新分配或进程重启），"
                             "重建后的状态不再显示此告警；数据中未观察到恢复。"),
        "en": ("ENDED: state rebuilt, no longer visible",
               "Why it ended: the state was rebuilt from the log (partitions reassigned or "
               "the fetch process restarted) and no longer shows this alert; no recovery "
               "was seen in the data."),
    },
}


def _trim(x: float, digits: int = 1) -> str:
    text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(unit: str, value: float | None) -> str:
    """``0.913`` as a ratio → ``91.3%``; counts without decimals; factors with one."""
    if value is None:
        return "-"
    if unit == "ratio":
        return _trim(value * 100.0) + "%"
    if unit in ("count", "messages", "seconds"):
        return f"{value:.0f}"
    return _trim(value)


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders; unknown ones are left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def format_time(ms: int, tz: ZoneInfo | None) -> str:
    dt = datetime.fromtimestamp(ms / 1000.0, tz=tz or UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S %Z")


def title(n: Notification, lang: str) -> str:
    """``[告警] summary`` / ``[已恢复] resolved summary``."""
    a = n.alert
    if n.status == "resolved" and n.reason in REASONS:
        return f"[{REASONS[n.reason]['en' if lang == 'en' else 'zh'][0]}] {a.summary(lang)}"
    if n.status == "resolved":
        tag = "已恢复" if lang != "en" else "RESOLVED"
        return f"[{tag}] {a.resolved_summary(lang)}"
    tag = ("告警" if lang != "en" else "FIRING") + ("·重复" if n.repeat and lang != "en" else "")
    if n.repeat and lang == "en":
        tag += " (repeat)"
    return f"[{tag}] {a.summary(lang)}"


def message_lines(n: Notification, lang: str, tz: ZoneInfo | None) -> list[str]:
    """The body of an IM message, one markdown line per fact, in ``lang``."""
    a = n.alert
    zh = lang != "en"
    sev = _SEVERITY["zh" if zh else "en"].get(a.severity, a.severity)
    prof = _PROFILE["zh" if zh else "en"].get(a.profile, a.profile)
    labels = ", ".join(f"{k}={v}" for k, v in a.labels)
    value = format_value(a.unit, a.value)
    threshold = f"{a.comparison} {format_value(a.unit, a.threshold)}"
    lines = [f"**{a.name}** · {sev}" + (f" · {labels}" if labels else "")]
    if not math.isnan(a.value):  # unknown for alerts relayed from Alertmanager
        lines.append(f"- 当前值：{value}（阈值 {threshold}，{prof}档）" if zh
                     else f"- Value: {value} (threshold {threshold}, {prof} profile)")
    lines.append(f"- 开始时间：{format_time(a.since_ms, tz)}" if zh
                 else f"- Since: {format_time(a.since_ms, tz)}")
    if n.status == "resolved" and n.reason in REASONS:
        lines.append("- " + REASONS[n.reason]["zh" if zh else "en"][1])
    elif n.status == "resolved" and n.ends_ms is not None:
        lines.append(f"- 恢复时间：{format_time(n.ends_ms, tz)}" if zh
                     else f"- Resolved: {format_time(n.ends_ms, tz)}")
    lines.append(a.description(lang))
    return lines
