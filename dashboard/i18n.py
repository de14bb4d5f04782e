"""Label tables (Chinese by default, English with ``?lang=en``) and value formatting.

Every word the board shows comes from here or from configuration, so switching the
language switches every label, and a test can check that no Chinese is left in ``en``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "LANGS",
    "Names",
    "fmt_count",
    "fmt_duration",
    "fmt_number",
    "fmt_pct",
    "lang_from_search",
    "t",
]

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    # (zh, en)
    "title": ("售后服务实时看板", "After-sales Live Board"),
    "tile.unanswered": ("未回复", "Unanswered"),
    "tile.first_response_overdue": ("首响超时", "Overdue"),
    "tile.backlog": ("积压工单", "Backlog"),
    "tile.first_response_p90": ("首响 P90", "Response p90"),
    "tile.sla_attainment": ("首响达标率", "SLA met"),
    "tile.escalation_rate": ("升级率", "Escalations"),
    "tile.csat": ("满意度", "CSAT"),
    "tile.nps": ("净推荐值", "NPS"),
    "tile.peak_ratio": ("峰值倍数", "Peak ratio"),
    "tile.awaiting_reply": ("等待回复", "Awaiting reply"),
    "tile.business_hours": ("营业渠道", "Channels open"),
    "hours.open": ("营业中", "open"),
    "hours.closed": ("休息中", "closed"),
    "hours.always": ("全天", "24×7"),
    "hours.no_calendar": ("未设营业时间", "no business hours"),
    "sub.target": ("目标", "target"),
    "sub.decided": ("已判定", "decided"),
    "sub.no_today": ("未启用今日窗口", "no today window"),
    "sub.oldest": ("最久", "oldest"),
    "sub.worst": ("最差", "worst"),
    "sub.p1": ("P1", "P1"),
    "sub.res_overdue": ("超时", "late"),
    "sub.sla": ("时限", "SLA"),
    "sub.answered": ("已响应", "answered"),
    "sub.created": ("新建", "created"),
    "sub.ratings": ("评价", "ratings"),
    "sub.none": ("暂无数据", "no data"),
    "profile.normal": ("平日", "normal"),
    "profile.peak": ("高峰", "peak"),
    "chart.arrivals": ("每分钟新工单 · 近6小时", "Tickets per minute · last 6 h"),
    "chart.arrivals.rolling": ("15分钟均值", "15-min mean"),
    "chart.arrivals.mean": ("24小时均值", "24-h mean"),
    "chart.arrivals.peak": ("高峰", "peak"),
    "chart.returns": ("各区域退货率 · 24时", "Return rate by region · 24h"),
    "chart.returns.all": ("全部", "all"),
    "chart.backlog": ("积压 · 按优先级与时长", "Backlog by priority and age"),
    "chart.backlog.all_ages": ("全部", "all ages"),
    "chart.first_response": ("首响时间 ÷ 时限 · 15分", "First response ÷ SLA · 15m"),
    "chart.first_response.sla": ("时限", "SLA"),
    "chart.no_data": ("暂无数据", "no data"),
    "alerts.title": ("当前告警", "Active alerts"),
    "alerts.none": ("无告警", "No active alerts"),
    "alerts.since": ("持续", "for"),
    "alerts.also": ("另", "also"),
    "alerts.unavailable": ("告警不可用", "Alerts unavailable"),
    "act.title": ("立即处理", "Act now"),
    "act.none": ("没有待处理的超时工单", "No ticket waiting past its SLA"),
    "act.unavailable": ("数据源不提供工单明细", "This data source has no ticket details"),
    "act.ticket": ("工单", "Ticket"),
    "act.channel": ("渠道", "Channel"),
    "act.priority": ("优先级", "Prio"),
    "act.region": ("区域", "Region"),
    "act.age": ("等待 / 时限", "Age / SLA"),
    "act.kind.unanswered": ("首次回复", "first reply"),
    "act.kind.awaiting": ("再次回复", "reply again"),
    "act.kind.overdue": ("解决超时", "resolution late"),
    "act.business": ("营业时间", "business time"),
    "act.no_replicas": ("Prometheus 未抓取到任何副本，无法读取工单明细",
                        "Prometheus scrapes no replica: no ticket details"),
    "act.missing": ("{n} 个副本的工单明细无法读取：{which}", "{n} replica(s) unreadable: {which}"),
    "banner.ok": ("数据实时 · 最新事件 {age} 前", "Live · last event {age} ago"),
    "banner.waiting": ("等待数据…", "Waiting for data…"),
    "banner.rebuilding": ("正在重建状态…", "Rebuilding state…"),
    "banner.replay": ("回放模式 · 时钟 {clock}", "Replay · clock at {clock}"),
    "banner.stale": ("数据过期：已 {age} 没有新事件", "Stale data: no event for {age}"),
    "banner.lag": ("消费滞后：落后 {lag} 条消息", "Consumer behind: {lag} messages"),
    "banner.broker": ("Kafka 不可达", "Kafka unreachable"),
    "banner.source": ("数据源错误：{error}", "Data source error: {error}"),
    "clock": ("时钟", "clock"),
    "age.<1h": ("<1时", "<1h"),
    "age.1-4h": ("1–4时", "1–4h"),
    "age.4-24h": ("4–24时", "4–24h"),
    "age.1-2d": ("1–2天", "1–2d"),
    "age.>2d": (">2天", ">2d"),
    "q.0.5": ("P50", "p50"),
    "q.0.9": ("P90", "p90"),
    "q.0.99": ("P99", "p99"),
}

_VOCAB: dict[str, tuple[str, str]] = {
    # channels
    "chat": ("在线", "chat"),
    "phone": ("电话", "phone"),
    "email": ("邮件", "email"),
    "app": ("移动端", "app"),
    "other": ("其他", "other"),
    # regions (SPEC §1)
    "east": ("华东", "East"),
    "south": ("华南", "South"),
    "north": ("华北", "North"),
    "central": ("华中", "Central"),
    "southwest": ("西南", "Southwest"),
    "northwest": ("西北", "Northwest"),
    "northeast": ("东北", "Northeast"),
    "all": ("全部", "all"),
    # severities
    "critical": ("严重", "critical"),
    "warning": ("警告", "warning"),
    "info": ("提示", "info"),
}


def t(key: str, lang: str, **fmt: object) -> str:
    """The label ``key`` in ``lang``; unknown keys show themselves (a visible bug, not a crash)."""
    pair = _LABELS.get(key)
    text = key if pair is None else pair[1 if lang == "en" else 0]
    return text.format(**fmt) if fmt else text


def lang_from_search(search: str | None) -> str:
    """``?lang=en`` → ``en``; anything else → ``zh`` (the default)."""
    if not search:
        return "zh"
    for part in search.lstrip("?").split("&"):
        key, _, value = part.partition("=")
        if key == "lang" and value.lower().startswith("en"):
            return "en"
    return "zh"


class Names:
    """Display names of label values: configured ``display_names`` first, then the tables.

    ``display_names`` keys are a value (``east``) or a language-qualified value
    (``en:east``); they are operator text and are only ever rendered as text.
    """

    __slots__ = ("_configured", "lang")

    def __init__(self, lang: str, configured: Mapping[str, str] | None = None) -> None:
        self.lang = lang
        self._configured = configured or {}

    def __call__(self, value: str) -> str:
        conf = self._configured
        qualified = f"{self.lang}:{value}"
        if qualified in conf:
            return conf[qualified]
        if value in conf:
            return conf[value]
        pair = _VOCAB.get(value)
        return value if pair is None else pair[1 if self.lang == "en" else 0]

    def title(self) -> str:
        return self("title") if self._has("title") else t("title", self.lang)

    def _has(self, value: str) -> bool:
        return f"{self.lang}:{value}" in self._configured or value in self._configured


def fmt_duration(seconds: float | None, lang: str) -> str:
    """Short human durations: ``45s`` / ``12m`` / ``3h05m`` / ``2d4h`` (``秒/分/时/天`` in zh)."""
    if seconds is None:
        return "–"
    s = max(0.0, float(seconds))
    u = ("s", "m", "h", "d") if lang == "en" else ("秒", "分", "时", "天")
    if s < 60:
        return f"{s:.0f}{u[0]}" if s >= 10 or s == int(s) else f"{s:.1f}{u[0]}"
    if s < 3600:
        return f"{s // 60:.0f}{u[1]}"
    if s < 86400:
        h, m = divmod(int(s) // 60, 60)
        return f"{h}{u[2]}{m:02d}{u[1]}" if m else f"{h}{u[2]}"
    d, h = divmod(int(s) // 3600, 24)
    return f"{d}{u[3]}{h}{u[2]}" if h else f"{d}{u[3]}"


def fmt_pct(ratio: float | None, digits: int = 1) -> str:
    return "–" if ratio is None else f"{ratio * 100:.{digits}f}%"


def fmt_count(n: float | None) -> str:
    return "–" if n is None else f"{round(n):,}"


def fmt_number(x: float | None) -> str:
    """At most three significant digits, no exponent: thresholds and alert values."""
    if x is None or math.isnan(x) or math.isinf(x):
        return "–"
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"
