"""The board's big tiles as data: value, sub-line and traffic light of each (pure).

Lights come from the rule that watches a tile (its bounds, from the rule file); a
channel outside its business hours says so instead of turning red; sub-lines name every
channel with a count, none left out; the type size of each part is chosen so nothing is
cut (:mod:`dashboard.fit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.snapshot import Snapshot, WindowSnapshot
from dashboard import fit
from dashboard.i18n import Names, fmt_count, fmt_duration, fmt_pct, t
from dashboard.sources import BoardData, BoardSettings, Threshold

__all__ = ["MAX_SCORES", "TILES", "TileView", "build_tiles", "level"]

TILES = (
    "unanswered", "first_response_overdue", "awaiting_reply", "backlog",
    "first_response_p90", "sla_attainment", "escalation_rate",
    "csat", "nps", "peak_ratio", "business_hours", *(f"score_{i}" for i in range(3)),
)
MAX_SCORES = 3  # score tiles on the screen; the shipped config has three platform rules

_SEP = "\u2009·\u2009"  # thin spaces: tile subs are narrow


@dataclass(frozen=True, slots=True)
class TileView:
    key: str
    label: str
    value: str
    sub: str
    level: str  # "ok" | "warn" | "crit" | "none" | "closed" (outside business hours) | "hidden"

    @property
    def size(self) -> str:
        """Size classes (value, label, sub-line): smaller type so nothing is ever cut."""
        return " ".join(c for c in (fit.value_size(self.value), fit.label_size(self.label),
                                    fit.sub_size(self.sub)) if c)


_LIGHTS = {"green": "ok", "amber": "warn", "red": "crit"}


def level(value: float | None, th: Threshold | None) -> str:
    """Traffic light of ``value`` against the rule's own bounds; ``none`` without one."""
    if value is None or th is None:
        return "none"
    return _LIGHTS.get(th.light(value), "none")


def _window(snap: Snapshot, wanted_s: int) -> WindowSnapshot | None:
    """The configured window closest to ``wanted_s`` (windows are configurable)."""
    sliding = snap.sliding_windows
    if not sliding:
        return None
    return min(sliding.values(), key=lambda w: (abs(w.seconds - wanted_s), w.seconds))


def _closed(snap: Snapshot) -> set[str]:
    """Channels whose business-hours calendar is closed at the clock."""
    return {ch for ch, is_open in snap.business_hours_open.items() if not is_open}


def _per_channel(counts: Mapping[str, int], closed: set[str], lang: str,
                 name: Names) -> str:
    """``电话 3 · 邮件 2 休息中``: every channel with a count, none left out."""
    return _SEP.join(
        f"{name(ch)} {fmt_count(n)}" + (f" {t('hours.closed', lang)}" if ch in closed else "")
        for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n
    )


def _overdue_light(counts: Mapping[str, int], counts_2x: Mapping[str, int],
                   closed: set[str], th: Threshold | None) -> str:
    """Red past 2x the SLA (the rule's bounds), amber past 1x — open channels only: a
    closed channel's clock is stopped, its tile says so instead of turning red."""
    total: int = sum(counts.values())
    open_n: int = sum(n for ch, n in counts.items() if ch not in closed)
    open_2x: int = sum(n for ch, n in counts_2x.items() if ch not in closed)
    if total and not open_n:
        return "closed"
    light = level(open_2x, th)
    return "warn" if open_n and light in ("ok", "none") else light


def _score_tiles(snap: Snapshot, lang: str, settings: BoardSettings,
                 th: Mapping[str, Threshold]) -> list[TileView]:
    """Each platform score for ``today`` against its target (titles from config.scores)."""
    today = snap.windows.get("today")
    titles = {sc.name: sc for sc in settings.scores}
    names = [sc.name for sc in settings.scores] or sorted(snap.score_targets)
    out: list[TileView] = []
    for i in range(MAX_SCORES):
        key = f"score_{i}"
        if i >= len(names):
            out.append(TileView(key, "", "", "", "hidden"))
            continue
        score = names[i]
        conf = titles.get(score)
        label = (conf.title.get(lang) if conf else None) or score
        target = snap.score_targets.get(score, conf.target if conf else None)
        turns = today.score_turns.get(score, 0) if today else 0
        within = today.score_turns_within.get(score, 0) if today else 0
        value = within / turns if turns else None
        if value is None or target is None:
            light = "none"
        elif "score" in th:  # the rule watches the score minus its target
            light = level(value - target, th["score"])
        else:  # the configured target is the platform's bar, not a copied threshold
            light = "crit" if value < target else "ok"
        sub = _SEP.join(x for x in (
            f"{t('sub.target', lang)} {fmt_pct(target, 0)}" if target is not None else "",
            f"{t('sub.decided', lang)} {fmt_count(turns)}" if today else t("sub.no_today", lang),
        ) if x)
        out.append(TileView(key, label, fmt_pct(value), sub, light))
    return out


def _hours_tile(snap: Snapshot, lang: str, name: Names,
                settings: BoardSettings) -> TileView:
    """How many channels are open now, naming the closed ones."""
    label = t("tile.business_hours", lang)
    # the channels with a calendar (a closed one has one, whatever the settings say)
    with_calendar = sorted(
        {ch for ch in {*snap.business_hours_open, *settings.business_hours.channels}
         if settings.has_calendar(ch)} | _closed(snap))
    if not with_calendar:
        return TileView("business_hours", label, t("hours.always", lang),
                        t("hours.no_calendar", lang), "none")
    is_open = {ch: snap.business_hours_open.get(ch, True) for ch in with_calendar}
    closed = [ch for ch in with_calendar if not is_open[ch]]
    n_open = len(with_calendar) - len(closed)
    sub = (_SEP.join(f"{name(ch)} {t('hours.closed', lang)}" for ch in closed) if closed
           else _SEP.join(f"{name(ch)} {t('hours.open', lang)}" for ch in with_calendar))
    return TileView("business_hours", label, f"{n_open}/{len(with_calendar)}", sub,
                    "closed" if closed else "ok")


def build_tiles(data: BoardData, snap: Snapshot | None, lang: str, name: Names,
                sla: Mapping[str, float], th: Mapping[str, Threshold]) -> tuple[TileView, ...]:
    """Every tile of :data:`TILES`, in order, for one refresh."""
    def tile(key: str, value: float | None, text: str, sub: str,
             light: str | None = None) -> TileView:
        return TileView(key, t(f"tile.{key}", lang), text, sub,
                        light or level(value, th.get(key)))

    if snap is None:
        return tuple(TileView(k, t(f"tile.{k}", lang) if not k.startswith("score_") else "",
                              "–", "", "none") for k in TILES)
    none = t("sub.none", lang)
    closed = _closed(snap)
    unanswered = sum(snap.unanswered.values())
    oldest = max(snap.oldest_unanswered_age_s.values(), default=0.0)
    overdue = sum(snap.first_response_overdue.values())
    overdue_light = _overdue_light(snap.first_response_overdue, snap.first_response_overdue_2x,
                                   closed, th.get("overdue"))
    awaiting = sum(snap.awaiting_reply.values())
    waited = max(snap.oldest_awaiting_reply_age_s.values(), default=0.0)
    late = sum(snap.response_overdue.values())
    awaiting_light = _overdue_light(snap.response_overdue, snap.response_overdue_2x, closed,
                                    th.get("response_overdue"))
    if not late and awaiting_light == "none":
        awaiting_light = level(awaiting, th.get("awaiting_reply"))
    res_overdue = sum(snap.resolution_overdue.values())
    p1 = sum(v for (p, _c, _r), v in snap.backlog.items() if p == "P1")
    w15, w1h, w24 = _window(snap, 900), _window(snap, 3600), _window(snap, 86400)

    out = [
        tile("unanswered", unanswered, fmt_count(unanswered),
             f"{t('sub.oldest', lang)} {fmt_duration(oldest, lang)}" if unanswered else ""),
        tile("first_response_overdue", overdue, fmt_count(overdue),
             _per_channel(snap.first_response_overdue, closed, lang, name), overdue_light),
        tile("awaiting_reply", awaiting, fmt_count(awaiting), _SEP.join(x for x in (
            f"{t('sub.res_overdue', lang)} "
            f"{_per_channel(snap.response_overdue, closed, lang, name)}" if late else "",
            f"{t('sub.oldest', lang)} {fmt_duration(waited, lang)}" if awaiting else "",
        ) if x), awaiting_light),
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
    out.append(_hours_tile(snap, lang, name, data.settings))
    out.extend(_score_tiles(snap, lang, data.settings, th))
    return tuple(out)




