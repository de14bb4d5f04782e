"""The four charts as plain plotly figure dicts (no ``go.Figure``: validation is too slow
for a refresh every few seconds, and dicts serialise straight to the browser).

Every figure sets ``uirevision`` and a zero ``transition`` so that an update redraws in
place without animation or flicker. Text from configuration or events goes through
:func:`plot_text`, because plotly interprets a few HTML-like tags in labels.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.snapshot import Snapshot
from dashboard import fit
from dashboard.i18n import Names, fmt_duration, fmt_pct, t
from dashboard.sources import PEAK_RATIO, BoardData

__all__ = ["FIGURES", "build_figures", "peak_spans", "plot_text"]

FIGURES = ("arrivals", "returns", "backlog", "first_response")
AGE_BUCKETS = ("<1h", "1-4h", "4-24h", "1-2d", ">2d")
_AGE_COLOURS = ("#2ea043", "#7ee787", "#d29922", "#f0883e", "#f85149")
_PRIORITIES = ("P1", "P2", "P3", "P4")
_CHANNELS = ("chat", "phone", "app", "email")
_Q_COLOURS = {0.5: "#58a6ff", 0.9: "#d29922", 0.99: "#f85149"}
_FG, _GRID, _MUTED = "#e6edf3", "#30363d", "#8b949e"
MIN_DELIVERIES = 200  # SPEC §4: the regional return-rate alert needs this many deliveries


def plot_text(s: str) -> str:
    """Escape ``<``, ``>`` and ``&`` so plotly shows markup as text instead of parsing it."""
    return html.escape(s, quote=False)


def _base(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": _FG, "size": 18,
                 "family": "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, sans-serif"},
        "margin": {"l": 64, "r": 16, "t": 8, "b": 40},
        "uirevision": "board", "transition": {"duration": 0},
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom",
                   "font": {"size": 14}, "bgcolor": "rgba(0,0,0,0)"},
        "xaxis": {"gridcolor": _GRID, "zeroline": False, "fixedrange": True},
        "yaxis": {"gridcolor": _GRID, "zeroline": False, "fixedrange": True},
        "bargap": 0.15,
    }
    layout.update(extra)
    return layout


def _empty(lang: str) -> dict[str, Any]:
    return {"data": [], "layout": _base(
        showlegend=False, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": t("chart.no_data", lang), "showarrow": False, "x": 0.5, "y": 0.5,
                      "xref": "paper", "yref": "paper", "font": {"size": 24, "color": _MUTED}}],
    )}


def _zone(tz: str) -> Any:
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):
        return UTC


def _local(ms: int, zone: Any) -> str:
    return datetime.fromtimestamp(ms / 1000.0, tz=zone).strftime("%Y-%m-%d %H:%M")


def peak_spans(series: tuple[tuple[int, int], ...], mean_per_min: float,
               ratio: float = PEAK_RATIO) -> list[tuple[int, int]]:
    """Minute spans ``[start, end)`` where the rolling 15-min mean ≥ ``ratio`` × 24 h mean."""
    spans: list[tuple[int, int]] = []
    if mean_per_min <= 0:
        return spans
    start: int | None = None
    acc = 0
    for i, (m, n) in enumerate(series):
        acc += n
        if i >= 15:
            acc -= series[i - 15][1]
        rolling = acc / min(i + 1, 15)
        if rolling >= ratio * mean_per_min:
            if start is None:
                start = m
        elif start is not None:
            spans.append((start, m))
            start = None
    if start is not None and series:
        spans.append((start, series[-1][0] + 60000))
    return spans


def _arrivals(snap: Snapshot, data: BoardData, lang: str, zone: Any) -> dict[str, Any]:
    # completed minutes only: a partial last bar would look like a dip, and the figure
    # then changes once a minute instead of on every refresh
    series = tuple(m for m in snap.arrivals_per_minute if m[0] + 60000 <= snap.clock_ms)
    if not series:
        return _empty(lang)
    w24 = max(snap.sliding_windows.values(), key=lambda w: w.seconds, default=None)
    mean = (sum(w24.tickets_created.values()) / (w24.seconds / 60.0)) if w24 else 0.0
    xs = [_local(m, zone) for m, _ in series]
    ys = [n for _, n in series]
    rolling, acc = [], 0
    for i, n in enumerate(ys):
        acc += n - (ys[i - 15] if i >= 15 else 0)
        rolling.append(round(acc / min(i + 1, 15), 1))
    spans = peak_spans(series, mean) if not data.peak_periods else [
        (s, e if e is not None else series[-1][0] + 60000) for s, e in data.peak_periods
    ]
    first, last = series[0][0], series[-1][0] + 60000
    shapes = [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": _local(max(s, first), zone),
         "x1": _local(min(e, last), zone), "y0": 0, "y1": 1, "line": {"width": 0},
         "fillcolor": "rgba(248,81,73,0.22)", "layer": "below"}
        for s, e in spans if e > first and s < last
    ]
    traces: list[dict[str, Any]] = [
        {"type": "bar", "x": xs, "y": ys, "name": t("chart.arrivals", lang).split(" · ")[0],
         "marker": {"color": "#388bfd"}, "showlegend": False},
        {"type": "scatter", "mode": "lines", "x": xs, "y": rolling,
         "name": t("chart.arrivals.rolling", lang), "line": {"color": "#f0883e", "width": 3}},
    ]
    if mean > 0:
        traces.append({"type": "scatter", "mode": "lines", "x": [xs[0], xs[-1]],
                       "y": [round(mean, 1)] * 2, "name": t("chart.arrivals.mean", lang),
                       "line": {"color": _MUTED, "width": 2, "dash": "dash"}})
    if shapes:
        traces.append({"type": "scatter", "mode": "markers", "x": [xs[0]], "y": [None],
                       "name": t("chart.arrivals.peak", lang),
                       "marker": {"symbol": "square", "size": 16,
                                  "color": "rgba(248,81,73,0.5)"}})
    return {"data": traces, "layout": _base(
        shapes=shapes, bargap=0.05,
        xaxis={"type": "date", "gridcolor": _GRID, "fixedrange": True, "tickformat": "%H:%M"},
    )}


def _returns(snap: Snapshot, lang: str, name: Names, excess: float | None) -> dict[str, Any]:
    w = max(snap.sliding_windows.values(), key=lambda w: w.seconds, default=None)
    if w is None or not w.return_rate:
        return _empty(lang)
    overall = w.return_rate.get("all")
    regions = [r for r in w.orders_delivered if r != "all" and
               (r != "other" or w.orders_delivered.get(r))]
    regions.sort(key=lambda r: w.return_rate.get(r, 0.0))
    limit = overall * (1.0 + excess) if overall is not None and excess is not None else None
    colours, texts = [], []
    for r in regions:
        rate = w.return_rate.get(r)
        high = limit is not None and rate is not None and rate >= limit
        enough = w.orders_delivered.get(r, 0) >= MIN_DELIVERIES
        colours.append("#f85149" if high and enough else "#d29922" if high else "#388bfd")
        texts.append(fmt_pct(rate))
    shapes, annotations = [], []
    for x, label, colour, dash, side in (
        (overall, f"{t('chart.returns.all', lang)} {fmt_pct(overall)} ", _FG, "solid", "right"),
        (limit, f" +{(excess or 0.0) * 100:.0f}%", "#f85149", "dash", "left"),
    ):
        if x is None:
            continue
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": round(x * 100, 1),
                       "x1": round(x * 100, 1), "y0": 0, "y1": 1,
                       "line": {"color": colour, "width": 3, "dash": dash}})
        annotations.append({"x": round(x * 100, 1), "y": 1.0, "xref": "x", "yref": "paper",
                            "text": plot_text(label), "showarrow": False, "yanchor": "bottom",
                            "xanchor": side, "font": {"size": 17, "color": colour}})
    return {"data": [{
        "type": "bar", "orientation": "h", "y": [plot_text(name(r)) for r in regions],
        "x": [round(w.return_rate.get(r, 0.0) * 100, 1) for r in regions],
        "text": texts, "textposition": "auto", "marker": {"color": colours},
        "textfont": {"size": 16}, "cliponaxis": False,
    }], "layout": _base(showlegend=False, shapes=shapes, annotations=annotations,
                        margin={"l": 110, "r": 16, "t": 28, "b": 36},
                        xaxis={"ticksuffix": "%", "gridcolor": _GRID, "fixedrange": True,
                               "rangemode": "tozero"})}


def _backlog(snap: Snapshot, lang: str, name: Names) -> dict[str, Any]:
    by_age = snap.backlog_by_age
    totals: dict[str, int] = {}
    for (p, _c, _r), n in snap.backlog.items():
        totals[p] = totals.get(p, 0) + n
    prios = [p for p in (*_PRIORITIES, "other") if p in _PRIORITIES or totals.get(p)]
    if not any(totals.values()):
        return _empty(lang)
    traces: list[dict[str, Any]]
    if by_age:
        traces = [
            {"type": "bar", "x": prios, "y": [by_age.get((p, age), 0) for p in prios],
             "name": t(f"age.{age}", lang), "marker": {"color": colour}}
            for age, colour in zip(AGE_BUCKETS, _AGE_COLOURS, strict=True)
        ]
    else:  # a source without ages (Prometheus before the age gauge exists)
        traces = [{"type": "bar", "x": prios, "y": [totals.get(p, 0) for p in prios],
                   "name": t("chart.backlog.all_ages", lang), "marker": {"color": "#388bfd"}}]
    traces.append({"type": "scatter", "mode": "text", "x": prios,
                   "y": [totals.get(p, 0) for p in prios],
                   "text": [f"{totals.get(p, 0):,}" for p in prios], "textposition": "top center",
                   "textfont": {"size": 18}, "showlegend": False, "cliponaxis": False})
    return {"data": traces, "layout": _base(
        barmode="stack", xaxis={"type": "category", "fixedrange": True,
                                "ticktext": [plot_text(name(p)) for p in prios],
                                "tickvals": prios},
        margin={"l": 64, "r": 16, "t": 36, "b": 36},
    )}


_TICK_EM = 5.0  # a channel's share of the SLA chart's width, in em of its 13 px ticks


def _first_response(snap: Snapshot, lang: str, name: Names,
                    sla: Mapping[str, float]) -> dict[str, Any]:
    w = min(snap.sliding_windows.values(), key=lambda w: w.seconds, default=None)
    if w is None or not w.first_response_quantiles:
        return _empty(lang)
    traces: list[dict[str, Any]] = []
    top = 1.0
    chans = [c for c in (*_CHANNELS, "other")
             if c in _CHANNELS or c in w.first_response_quantiles]
    # the p90 goes under each channel's name: a label on a bar near 100 % sat on the SLA
    # line and could not be read
    def label(c: str) -> str:
        p90 = w.first_response_quantiles.get(c, {}).get(0.9)
        head = f"{plot_text(name(c))}<br>≤{plot_text(fmt_duration(sla.get(c), lang))}"
        if p90 is None:
            return head
        value = fmt_duration(p90, lang)
        # a long p90 ("13时28分") would run into the next channel's label: its own line
        gap = "<br>" if fit.em(f"P90 {value}") > _TICK_EM else " "
        return f"{head}<br>P90{gap}{plot_text(value)}"

    labels = [label(c) for c in chans]
    for q, colour in _Q_COLOURS.items():
        ys = []
        for c in chans:
            v = w.first_response_quantiles.get(c, {}).get(q)
            ratio = v / sla[c] if v is not None and sla.get(c) else None
            ys.append(None if ratio is None else round(min(ratio, 3.0), 2))
            top = max(top, ratio or 0.0)
        traces.append({"type": "bar", "x": labels, "y": ys,
                       "name": t(f"q.{q}", lang), "marker": {"color": colour}})
    traces.append({"type": "scatter", "mode": "lines", "x": [labels[0]], "y": [None],
                   "name": t("chart.first_response.sla", lang),
                   "line": {"color": "#f85149", "width": 3, "dash": "dash"}})
    return {"data": traces, "layout": _base(
        barmode="group",
        xaxis={"gridcolor": _GRID, "zeroline": False, "fixedrange": True, "tickangle": 0,
               "tickfont": {"size": 13}},
        yaxis={"gridcolor": _GRID, "fixedrange": True, "range": [0, min(top, 3.0) * 1.2],
               "tickformat": ".0%"},
        shapes=[{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": 1,
                 "y1": 1, "line": {"color": "#f85149", "width": 3, "dash": "dash"}}],
        margin={"l": 70, "r": 16, "t": 36, "b": 88},
    )}


def build_figures(snap: Snapshot | None, data: BoardData, lang: str, name: Names,
                  sla: Mapping[str, float], tz: str,
                  return_excess: float | None = None) -> dict[str, dict[str, Any]]:
    """All four figures for one refresh, keyed by :data:`FIGURES`; ``return_excess``: how
    far above the overall rate a region's return rate is marked (the alert rule's
    threshold; None without a rule: no line)."""
    if snap is None:
        return {k: _empty(lang) for k in FIGURES}
    return {
        "arrivals": _arrivals(snap, data, lang, _zone(tz)),
        "returns": _returns(snap, lang, name, return_excess),
        "backlog": _backlog(snap, lang, name),
        "first_response": _first_response(snap, lang, name, sla),
    }
