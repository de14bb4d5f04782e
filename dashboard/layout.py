"""The board's fixed component tree and the renderers of its changing parts.

The layout is built once; refreshes only change individual properties of the components
named here (text, class, figure), never the tree around them. Every string from events or
configuration is a text child of an ``html`` component, so React escapes it: nothing is
ever inserted as HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from dashboard.figures import FIGURES
from dashboard.view import TILES, AlertRow, TicketRow

__all__ = ["GRAPH_CONFIG", "build_layout", "render_alerts", "render_head", "render_tickets"]

GRAPH_CONFIG: Any = {"displayModeBar": False, "staticPlot": True, "responsive": True}


def _tile(key: str) -> html.Div:
    return html.Div(id=f"tile-{key}", className="tile tile-none", children=[
        html.Div(id=f"tile-{key}-label", className="tile-label"),
        html.Div(id=f"tile-{key}-value", className="tile-value"),
        html.Div(id=f"tile-{key}-sub", className="tile-sub"),
    ])


def _chart(key: str) -> html.Div:
    return html.Div(className=f"panel chart chart-{key}", children=[
        html.Div(id=f"title-{key}", className="panel-title"),
        dcc.Graph(id=f"fig-{key}", className="graph", config=GRAPH_CONFIG,
                  figure={"data": [], "layout": {"paper_bgcolor": "rgba(0,0,0,0)",
                                                 "plot_bgcolor": "rgba(0,0,0,0)",
                                                 "xaxis": {"visible": False},
                                                 "yaxis": {"visible": False}}},
                  style={"height": "100%", "width": "100%"}),
    ])


def build_layout(refresh_s: float) -> html.Div:
    """The whole screen, empty: the first refresh (on page load) fills every part."""
    return html.Div(id="board", className="board", children=[
        dcc.Location(id="url", refresh=False),
        dcc.Interval(id="tick", interval=int(max(refresh_s, 0.5) * 1000)),
        dcc.Store(id="sent", storage_type="memory", data={}),
        html.Header(className="head", children=[
            html.Div(id="title", className="title"),
            html.Div(id="profile", className="profile"),
            html.Div(id="clock", className="clock"),
        ]),
        html.Div(id="banner", className="banner banner-warn"),
        html.Section(className="main", children=[
            html.Div(className="left", children=[
                html.Section(className="tiles", children=[_tile(k) for k in TILES]),
                html.Div(className="charts", children=[_chart(k) for k in FIGURES]),
            ]),
            html.Div(className="side", children=[
                html.Div(className="panel alerts", children=[
                    html.Div(id="alerts-title", className="panel-title"),
                    html.Ul(id="alerts-list", className="alert-list"),
                    html.Div(id="alerts-note", className="note"),
                ]),
                html.Div(className="panel act", children=[
                    html.Div(id="act-title", className="panel-title"),
                    html.Table(className="act-table", children=[
                        html.Thead(html.Tr(id="act-head")),
                        html.Tbody(id="act-body"),
                    ]),
                    html.Div(id="act-note", className="note"),
                ]),
            ]),
        ]),
    ])


def render_head(header: Sequence[str]) -> list[Any]:
    return [html.Th(h) for h in header]


def render_alerts(rows: Sequence[AlertRow]) -> list[Any]:
    return [
        html.Li(className=f"alert sev-{r.severity}", children=[
            html.Div(className="alert-top", children=[
                html.Span(r.severity_text, className="sev"),
                html.Span(r.name, className="alert-name"),
                html.Span(r.since, className="alert-since"),
            ]),
            html.Div(className="alert-bottom", children=[
                html.Span(r.value, className="alert-value"),
                html.Span(r.description, className="alert-desc"),
            ]),
        ])
        for r in rows
    ]


def render_tickets(rows: Sequence[TicketRow]) -> list[Any]:
    """One row per ticket, laid out by the row's grid (CSS): the id and the age cells
    give their spans to it (two lines), the other cells are placed whole."""
    return [
        html.Tr(className=f"ticket lvl-{r.level}", children=[
            html.Td(className="tid", children=[
                html.Span(r.ticket_id, className="mono"),
                html.Span(r.kind, className="kind"),
            ]),
            html.Td(r.channel, className="cell-channel"),
            html.Td(r.priority, className=f"cell-prio prio-{r.priority}"),
            html.Td(r.region, className="cell-region"),
            html.Td(className="age", children=[
                html.Span(r.age, className="age-value"),
                *([html.Span(r.clock, className="age-clock")] if r.clock else []),
            ]),
        ])
        for r in rows
    ]
