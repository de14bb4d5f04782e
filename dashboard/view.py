"""The board as data: one :class:`BoardData` → one :class:`BoardView` (pure, no Dash).

Banner, alert rows, ticket rows and chart figures are decided here, the tiles in
:mod:`dashboard.tiles`, the type sizes in :mod:`dashboard.fit`, so they are unit-tested
without a browser and timed by the bench; the Dash layer only turns this view into
components.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.alerting import ActiveAlert
from core.snapshot import ActionTicket, Snapshot
from dashboard import figures, fit
from dashboard.i18n import Names, fmt_count, fmt_duration, fmt_number, fmt_pct, t
from dashboard.sources import BoardData, Threshold
from dashboard.tiles import MAX_SCORES, TILES, TileView, build_tiles, level

__all__ = [
    "MAX_SCORES",
    "TILES",
    "AlertRow",
    "BannerView",
    "BoardView",
    "Settings",
    "TicketRow",
    "TileView",
    "build_view",
    "level",
]

_LAG_HIGH = 1000  # messages: the banner's own bound without a rule or dashboard.lag_high_messages
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Settings:
    """The board's own knobs (from ``DashboardConfig``)."""

    timezone: str = "Asia/Shanghai"
    stale_after_s: float = 300.0
    lag_high_messages: int | None = None  # None: the profile's consumer_lag threshold
    display_names: Mapping[str, str] = field(default_factory=dict)
    act_now_rows: int = 10


@dataclass(frozen=True, slots=True)
class BannerView:
    level: str  # "ok" | "warn" | "crit"
    reasons: tuple[str, ...]  # "ok", "stale", "lag", "broker", "source", "rebuilding", ...
    text: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    severity: str
    severity_text: str
    name: str
    description: str
    since: str
    value: str


@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket_id: str
    kind: str
    channel: str
    priority: str
    region: str
    age: str
    level: str
    clock: str = ""  # "营业时间" / "business time" when the age counts business time only


@dataclass(frozen=True, slots=True)
class BoardView:
    lang: str
    title: str
    clock: str
    profile: str
    banner: BannerView
    tiles: tuple[TileView, ...]
    figures: Mapping[str, dict[str, Any]]
    panel_titles: Mapping[str, str]
    alerts_title: str
    alerts: tuple[AlertRow, ...]
    alerts_note: str  # "no alerts", "unavailable" or ""
    # "" (two lines per alert, with its description), or "compact" / "dense" / "denser":
    # one run of text per alert, smaller type, so every firing alert fits (dashboard.fit)
    alerts_density: str
    act_title: str
    act_header: tuple[str, ...]
    act_now: tuple[TicketRow, ...]
    act_note: str

    @property
    def alerts_compact(self) -> bool:
        return bool(self.alerts_density)


def _banner(data: BoardData, snap: Snapshot | None, lang: str, s: Settings,
            th: Mapping[str, Threshold]) -> BannerView:
    """Red when the data is stale or the consumer is behind, saying which."""
    if data.error:
        return BannerView("crit", ("source",), t("banner.source", lang, error=data.error[:120]))
    if snap is None:
        return BannerView("warn", ("waiting",), t("banner.waiting", lang))
    problems: list[tuple[str, str]] = []
    if not snap.broker_up:
        problems.append(("broker", t("banner.broker", lang)))
    lag = sum(snap.consumer_lag.values())
    rule = th.get("consumer_lag")
    behind = (lag >= s.lag_high_messages if s.lag_high_messages
              else rule.light(lag) == "red" if rule is not None else lag >= _LAG_HIGH)
    if snap.ready and behind:
        problems.append(("lag", t("banner.lag", lang, lag=fmt_count(lag))))
    age = snap.last_event_age_s
    if snap.live and (age is None or age >= s.stale_after_s):
        problems.append(("stale", t("banner.stale", lang, age=fmt_duration(age, lang))))
    if problems:
        return BannerView("crit", tuple(p for p, _ in problems),
                          " · ".join(text for _, text in problems))
    if not snap.ready:
        return BannerView("warn", ("rebuilding",), t("banner.rebuilding", lang))
    if not snap.live:
        return BannerView("warn", ("replay",),
                          t("banner.replay", lang, clock=_fmt_time(snap.clock_ms, s.timezone)))
    return BannerView("ok", ("ok",), t("banner.ok", lang, age=fmt_duration(age, lang)))


def _fmt_time(ms: int, tz: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    try:
        zone: Any = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(ms / 1000.0, tz=zone).strftime(fmt)


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _localise(text: str, labels: tuple[tuple[str, str], ...], name: Names) -> str:
    """Label values inside a rule's text in the board language: ``app 渠道`` → ``移动端渠道``."""
    values = {v for _k, v in labels}
    if not values:
        return text

    def sub(m: re.Match[str]) -> str:
        return name(m.group(0)) if m.group(0) in values else m.group(0)

    out = _WORD.sub(sub, text)
    return re.sub(r"(?<=[^\x00-\x7f]) (?=[\u4e00-\u9fff])", "", out) if name.lang == "zh" else out


def _alert_rows(alerts: tuple[ActiveAlert, ...], clock_ms: int, lang: str,
                name: Names) -> list[AlertRow]:
    """Every firing alert, most severe first; episodes of one rule share a row (their
    labels joined), so a surge of per-channel episodes cannot push another rule off."""
    groups: dict[tuple[str, str], list[ActiveAlert]] = {}
    for a in sorted(alerts, key=lambda a: (_SEVERITY_ORDER.get(a.severity, 3), a.since_ms,
                                           a.name, a.labels)):
        groups.setdefault((a.name, a.severity), []).append(a)
    rows = []
    join = "、" if lang == "zh" else ", "
    for episodes in groups.values():
        a = episodes[0]
        title = _localise(a.summary(lang) or a.name, a.labels, name)
        own = " ".join(name(v) for _k, v in a.labels)
        if own and not all(name(v) in title for _k, v in a.labels):
            title = f"{title} · {own}"
        others = join.join(" ".join(name(v) for _k, v in e.labels) or e.name
                           for e in episodes[1:])
        if others:
            title = f"{title} · {t('alerts.also', lang)} {others}"
        rows.append(AlertRow(
            severity=a.severity if a.severity in _SEVERITY_ORDER else "info",
            severity_text=name(a.severity),
            name=title,
            description=_localise(a.description(lang), a.labels, name),
            since=f"{t('alerts.since', lang)} {fmt_duration((clock_ms - a.since_ms) / 1000, lang)}",
            value=(_fmt_unit(a.value, a, lang) if math.isnan(a.threshold) else
                   f"{_fmt_unit(a.value, a, lang)} {a.comparison} "
                   f"{_fmt_unit(a.threshold, a, lang)}"),
        ))
    return rows


def _fmt_unit(x: float, a: ActiveAlert, lang: str) -> str:
    """A value in the unit of its rule: 91.2%, 12m, 3.1×, 1,204."""
    unit = getattr(a, "unit", "")
    if math.isnan(x) or math.isinf(x):
        return "–"
    if unit == "ratio":
        return fmt_pct(x)
    if unit == "seconds":
        return fmt_duration(x, lang)
    if unit == "factor":
        return f"{x:.2f}×"
    if unit in ("count", "messages"):
        return fmt_count(x)
    if unit == "per_min":
        return f"{fmt_number(round(x, 1))}/{'min' if lang == 'en' else '分'}"
    return fmt_number(x)


def _ticket_rows(tickets: tuple[ActionTicket, ...], lang: str, name: Names,
                 limit: int) -> tuple[TicketRow, ...]:
    """The act-now list as sent (most urgent first), at most ``limit``; the age is judged
    in business time where the channel has a calendar (what the SLA counts)."""
    rows = []
    for a in tickets[:limit]:
        age = a.age_s if a.business_age_s is None else a.business_age_s
        ratio = age / a.sla_s if a.sla_s else 0.0
        rows.append(TicketRow(
            ticket_id=a.ticket_id, kind=t(f"act.kind.{a.kind}", lang), channel=name(a.channel),
            priority=a.priority, region=name(a.region),
            age=f"{fmt_duration(age, lang)} / {fmt_duration(a.sla_s, lang)}",
            level="crit" if ratio >= 2 else "warn" if ratio >= 1 else "ok",
            clock="" if a.business_age_s is None else t("act.business", lang),
        ))
    return tuple(rows)


def _red_from(th: Threshold | None) -> float | None:
    """Where a rising threshold turns red, found through ``light`` alone (bisection on
    0..10): the return-rate chart draws the rule's line without knowing its fields."""
    if th is None or th.light(10.0) != "red" or th.light(0.0) == "red":
        return None
    lo, hi = 0.0, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if th.light(mid) == "red" else (mid, hi)
    return round(hi, 6)


def build_view(data: BoardData, lang: str = "zh", settings: Settings | None = None) -> BoardView:
    """The whole board for one refresh, in ``lang``."""
    s = settings or Settings()
    # a score's configured title names it in alert texts too (``{score}`` of a rule)
    titles = {f"{lang}:{sc.name}": sc.title[lang]
              for sc in data.settings.scores if sc.title.get(lang)}
    name = Names(lang, {**titles, **s.display_names} if titles else s.display_names)
    snap = data.snapshot
    sla_s = data.first_response_sla_s
    th = data.thresholds
    clock_ms = snap.clock_ms if snap is not None else 0
    shown = tuple(_alert_rows(data.alerts, clock_ms, lang, name))
    if not data.has_alerts:
        alerts_note = t("alerts.unavailable", lang)
    elif not shown:
        alerts_note = t("alerts.none", lang)
    else:
        alerts_note = ""
    tickets = _ticket_rows(snap.act_now, lang, name, s.act_now_rows) if snap is not None else ()
    if not data.has_ticket_details:
        act_note = t("act.unavailable", lang)
    elif data.act_now_replicas == 0 and not data.act_now_missing:
        act_note = t("act.no_replicas", lang)
    elif data.act_now_missing:
        act_note = t("act.missing", lang, n=len(data.act_now_missing),
                     which=", ".join(data.act_now_missing[:3]))
    else:
        act_note = "" if tickets else t("act.none", lang)
    figs = figures.build_figures(snap, data, lang, name, sla_s, s.timezone,
                                 _red_from(th.get("return_rate")))
    return BoardView(
        lang=lang,
        title=name.title(),
        clock=_fmt_time(clock_ms, s.timezone) if snap is not None else "",
        profile=data.promotion or t(f"profile.{data.profile}", lang),
        banner=_banner(data, snap, lang, s, th),
        tiles=build_tiles(data, snap, lang, name, sla_s, th),
        figures=figs,
        panel_titles={k: t(f"chart.{k}", lang) for k in figures.FIGURES},
        alerts_title=t("alerts.title", lang),
        alerts=shown,
        alerts_note=alerts_note,
        alerts_density=fit.alert_density(
            [(f"{r.severity_text} {r.name} {r.value} {r.since}", r.description) for r in shown]),
        act_title=t("act.title", lang),
        act_header=tuple(t(f"act.{k}", lang)
                         for k in ("ticket", "channel", "priority", "region", "age")),
        act_now=tickets,
        act_note=act_note,
    )
