"""The board as data: one :class:`BoardData` → one :class:`BoardView` (pure, no Dash).

Tile values, traffic-light levels, banner, alert rows, ticket rows and chart figures are
all decided here, so they are unit-tested without a browser and timed by the bench; the
Dash layer only turns this view into components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.alerting import ActiveAlert
from core.snapshot import Snapshot, WindowSnapshot
from dashboard import figures
from dashboard.i18n import Names, fmt_count, fmt_duration, fmt_number, fmt_pct, t
from dashboard.sources import BoardData

__all__ = [
    "DEFAULT_THRESHOLDS",
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

TILES = (
    "unanswered", "first_response_overdue", "backlog", "first_response_p90",
    "sla_attainment", "escalation_rate", "csat", "nps", "peak_ratio",
)

# (warn, crit) per tile; warn > crit means "lower is worse". first_response_p90 is
# p90 ÷ SLA of the worst channel; rates are ratios; nps is a score; overdue counts the
# tickets past 2× their SLA (the FirstResponseOverdue2x rule); return_rate is a region's
# excess over the overall rate. The alert rules' own tile thresholds take precedence.
DEFAULT_THRESHOLDS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "normal": {
        "unanswered": (50, 150), "overdue": (1, 1), "backlog": (1500, 3000),
        "first_response_p90": (0.8, 1.0), "sla_attainment": (0.95, 0.92),
        "escalation_rate": (0.08, 0.10), "csat": (0.85, 0.75), "nps": (30, 0),
        "peak_ratio": (2.0, 3.0), "consumer_lag": (1000, 1000), "return_rate": (0.10, 0.15),
    },
    "peak": {
        "unanswered": (150, 450), "overdue": (1, 1), "backlog": (4500, 9000),
        "first_response_p90": (0.9, 1.2), "sla_attainment": (0.92, 0.85),
        "escalation_rate": (0.10, 0.15), "csat": (0.80, 0.70), "nps": (20, 0),
        "peak_ratio": (3.0, 5.0), "consumer_lag": (5000, 5000), "return_rate": (0.10, 0.15),
    },
}
_SEP = "\u2009·\u2009"  # thin spaces: tile subs are narrow
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Settings:
    """The board's own knobs (from ``DashboardConfig``)."""

    timezone: str = "Asia/Shanghai"
    stale_after_s: float = 300.0
    lag_high_messages: int | None = None  # None: the profile's consumer_lag threshold
    display_names: Mapping[str, str] = field(default_factory=dict)
    max_alerts: int = 4  # as many as the panel shows at 1920×1080; the rest are counted
    act_now_rows: int = 10


@dataclass(frozen=True, slots=True)
class TileView:
    key: str
    label: str
    value: str
    sub: str
    level: str  # "ok" | "warn" | "crit" | "none"

    @property
    def size(self) -> str:
        """``""``, ``long`` or ``longer``: smaller type so a long value is never cut."""
        em = sum(1.0 if ord(c) > 0x2E80 else 0.3 if c in ",.:" else 0.6 for c in self.value)
        return "" if em <= 3.1 else "long" if em <= 3.9 else "longer"


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
    alerts_note: str  # "no alerts", "3 more", "unavailable" or ""
    act_title: str
    act_header: tuple[str, ...]
    act_now: tuple[TicketRow, ...]
    act_note: str


_LIGHTS = {"green": "ok", "amber": "warn", "red": "crit"}


def level(value: float | None, th: Any) -> str:
    """Traffic light of ``value`` against ``(warn, crit)`` (warn > crit: lower is worse),
    or against a rule's own ``light(value)`` when the evaluator supplies one."""
    if value is None or th is None:
        return "none"
    light = getattr(th, "light", None)
    if callable(light):
        return _LIGHTS.get(str(light(value)), "none")
    warn, crit = th
    if warn <= crit:
        return "crit" if value >= crit else "warn" if value >= warn else "ok"
    return "crit" if value <= crit else "warn" if value <= warn else "ok"


def _window(snap: Snapshot, wanted_s: int) -> WindowSnapshot | None:
    """The configured window closest to ``wanted_s`` (windows are configurable)."""
    if not snap.windows:
        return None
    return min(snap.sliding_windows.values(), key=lambda w: (abs(w.seconds - wanted_s), w.seconds))


def _tiles(data: BoardData, snap: Snapshot | None, lang: str, name: Names,
           sla: Mapping[str, float], th: Mapping[str, Any]) -> tuple[TileView, ...]:
    def tile(key: str, value: float | None, text: str, sub: str,
             light: str | None = None) -> TileView:
        return TileView(key, t(f"tile.{key}", lang), text, sub,
                        light or level(value, th.get(key)))

    if snap is None:
        return tuple(TileView(k, t(f"tile.{k}", lang), "–", "", "none") for k in TILES)
    none = t("sub.none", lang)
    unanswered = sum(snap.unanswered.values())
    oldest = max(snap.oldest_unanswered_age_s.values(), default=0.0)
    overdue = sum(snap.first_response_overdue.values())
    overdue_2x = sum(getattr(snap, "first_response_overdue_2x", {}).values())
    # red with the FirstResponseOverdue2x rule (2× SLA), amber for any ticket past 1× SLA
    overdue_light = level(overdue_2x, th.get("overdue"))
    if overdue_light == "ok" and overdue:
        overdue_light = "warn"
    by_channel = _SEP.join(
        f"{name(ch)} {n}" for ch, n in sorted(snap.first_response_overdue.items(),
                                               key=lambda kv: -kv[1]) if n
    )
    res_overdue = sum(snap.resolution_overdue.values())
    p1 = sum(v for (p, _c, _r), v in snap.backlog.items() if p == "P1")
    w15, w1h, w24 = _window(snap, 900), _window(snap, 3600), _window(snap, 86400)

    out = [
        tile("unanswered", unanswered, fmt_count(unanswered),
             f"{t('sub.oldest', lang)} {fmt_duration(oldest, lang)}" if unanswered else ""),
        tile("first_response_overdue", overdue, fmt_count(overdue), by_channel, overdue_light),
        tile("backlog", snap.total_backlog, fmt_count(snap.total_backlog),
             f"P1 {fmt_count(p1)}{_SEP}{t('sub.res_overdue', lang)} {fmt_count(res_overdue)}"),
    ]
    def win(w: WindowSnapshot | None) -> str:
        return fmt_duration(w.seconds, lang) if w else ""

    worst: tuple[float, str, float] | None = None
    if w15 is not None:
        for ch, qs in w15.first_response_quantiles.items():
            p90 = qs.get(0.9)
            if p90 is None:
                continue
            ratio = p90 / sla.get(ch, sla.get("email", 86400.0)) if sla else 0.0
            if worst is None or ratio > worst[0]:
                worst = (ratio, ch, p90)
    if worst is None:
        out.append(tile("first_response_p90", None, "–", f"{win(w15)}{_SEP}{none}"))
    else:
        ratio, ch, p90 = worst
        out.append(tile("first_response_p90", ratio, fmt_duration(p90, lang),
                        f"{win(w15)}{_SEP}{name(ch)} ≤{fmt_duration(sla.get(ch), lang)}"))
    att = w15.first_response_sla_attainment if w15 else None
    answered = sum(w15.first_responses.values()) if w15 else 0
    out.append(tile("sla_attainment", att, fmt_pct(att),
                    f"{win(w15)}{_SEP}{t('sub.answered', lang)} {fmt_count(answered)}"
                    if att is not None else f"{win(w15)}{_SEP}{none}"))
    esc = w1h.escalation_rate if w1h else None
    out.append(tile("escalation_rate", esc, fmt_pct(esc),
                    f"{win(w1h)}{_SEP}{w1h.escalations}/{fmt_count(sum(w1h.tickets_created.values()))}"
                    if w1h and esc is not None else f"{win(w1h)}{_SEP}{none}"))
    csat = w24.csat_share if w24 else None
    out.append(tile("csat", csat, fmt_pct(csat),
                    f"{win(w24)}{_SEP}{t('sub.ratings', lang)} {fmt_count(w24.csat_ratings)}"
                    if w24 and csat is not None else f"{win(w24)}{_SEP}{none}"))
    nps = w24.nps if w24 else None
    out.append(tile("nps", nps, "–" if nps is None else f"{nps:+.0f}",
                    f"{win(w24)}{_SEP}{t('sub.ratings', lang)} {fmt_count(w24.nps_ratings)}"
                    if w24 and nps is not None else f"{win(w24)}{_SEP}{none}"))
    prof = data.promotion or t(f"profile.{data.profile}", lang)
    # the ratio the alert profile was decided on, when an evaluator runs (one definition)
    peak = snap.peak_ratio if data.peak_ratio is None else data.peak_ratio
    out.append(tile("peak_ratio", peak, f"{peak:.1f}×", prof))
    return tuple(out)


def _banner(data: BoardData, snap: Snapshot | None, lang: str, s: Settings,
            th: Mapping[str, Any]) -> BannerView:
    """Red when the data is stale or the consumer is behind, saying which."""
    if data.error:
        return BannerView("crit", ("source",), t("banner.source", lang, error=data.error[:120]))
    if snap is None:
        return BannerView("warn", ("waiting",), t("banner.waiting", lang))
    problems: list[tuple[str, str]] = []
    if not snap.broker_up:
        problems.append(("broker", t("banner.broker", lang)))
    lag = sum(snap.consumer_lag.values())
    pair = th.get("consumer_lag")
    lag_high = s.lag_high_messages or (pair[1] if isinstance(pair, tuple) else 1000.0)
    if snap.ready and lag >= lag_high:
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


def _alert_rows(alerts: tuple[ActiveAlert, ...], clock_ms: int, lang: str,
                name: Names) -> list[AlertRow]:
    rows = []
    for a in sorted(alerts, key=lambda a: (_SEVERITY_ORDER.get(a.severity, 3), a.since_ms,
                                           a.name, a.labels)):
        label_text = " ".join(name(v) for _k, v in a.labels)
        title = a.summary(lang) or a.name
        rows.append(AlertRow(
            severity=a.severity if a.severity in _SEVERITY_ORDER else "info",
            severity_text=name(a.severity),
            name=f"{title} · {label_text}" if label_text else title,
            description=a.description(lang),
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


def _ticket_rows(snap: Snapshot, lang: str, name: Names, limit: int) -> tuple[TicketRow, ...]:
    rows = []
    for a in snap.act_now[:limit]:
        ratio = a.age_s / a.sla_s if a.sla_s else 0.0
        rows.append(TicketRow(
            ticket_id=a.ticket_id, kind=t(f"act.kind.{a.kind}", lang), channel=name(a.channel),
            priority=a.priority, region=name(a.region),
            age=f"{fmt_duration(a.age_s, lang)} / {fmt_duration(a.sla_s, lang)}",
            level="crit" if ratio >= 2 else "warn" if ratio >= 1 else "ok",
        ))
    return tuple(rows)


def build_view(data: BoardData, lang: str = "zh", settings: Settings | None = None) -> BoardView:
    """The whole board for one refresh, in ``lang``."""
    s = settings or Settings()
    name = Names(lang, s.display_names)
    snap = data.snapshot
    sla_s = data.first_response_sla_s
    th = {**DEFAULT_THRESHOLDS.get(data.profile, DEFAULT_THRESHOLDS["normal"]),
          **data.thresholds}
    clock_ms = snap.clock_ms if snap is not None else 0
    all_alerts = _alert_rows(data.alerts, clock_ms, lang, name)
    shown = tuple(all_alerts[: s.max_alerts])
    if not data.has_alerts:
        alerts_note = t("alerts.unavailable", lang)
    elif not all_alerts:
        alerts_note = t("alerts.none", lang)
    elif len(all_alerts) > len(shown):
        alerts_note = t("alerts.more", lang, n=len(all_alerts) - len(shown))
    else:
        alerts_note = ""
    tickets = _ticket_rows(snap, lang, name, s.act_now_rows) if snap is not None else ()
    if not data.has_ticket_details:
        act_note = t("act.unavailable", lang)
    else:
        act_note = "" if tickets else t("act.none", lang)
    excess = th.get("return_rate")
    excess_crit = (getattr(excess, "red", None) if not isinstance(excess, tuple)
                   else excess[1])
    figs = figures.build_figures(snap, data, lang, name, sla_s, s.timezone,
                                 float(excess_crit) if excess_crit is not None else 0.15)
    return BoardView(
        lang=lang,
        title=name.title(),
        clock=_fmt_time(clock_ms, s.timezone) if snap is not None else "",
        profile=data.promotion or t(f"profile.{data.profile}", lang),
        banner=_banner(data, snap, lang, s, th),
        tiles=_tiles(data, snap, lang, name, sla_s, th),
        figures=figs,
        panel_titles={k: t(f"chart.{k}", lang) for k in figures.FIGURES},
        alerts_title=t("alerts.title", lang),
        alerts=shown,
        alerts_note=alerts_note,
        act_title=t("act.title", lang),
        act_header=tuple(t(f"act.{k}", lang)
                         for k in ("ticket", "channel", "priority", "region", "age")),
        act_now=tickets,
        act_note=act_note,
    )
