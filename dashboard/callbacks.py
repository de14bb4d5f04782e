"""The one refresh callback: read the source, build the view, send only what changed.

A ``dcc.Interval`` drives a single callback whose outputs are individual component
properties. For each output the browser keeps (in a ``dcc.Store``) a digest of the value
it last received; an unchanged value is answered with ``dash.no_update``, so a quiet
refresh sends a few hundred bytes and nothing on screen is redrawn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from dash import Dash, Input, Output, State, no_update

from dashboard.figures import FIGURES
from dashboard.i18n import lang_from_search
from dashboard.layout import render_alerts, render_head, render_tickets
from dashboard.sources import BoardSource
from dashboard.view import TILES, BoardView, Settings, build_view

__all__ = ["OUTPUTS", "OutputSpec", "Refresher", "register"]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One component property: how to pick its model from the view and render it."""

    component: str
    prop: str
    model: Callable[[BoardView], Any]
    render: Callable[[Any], Any] | None = None  # None: the model is the value
    always: bool = False  # changes on every refresh (clock, banner): not worth a digest


def _tile_specs(i: int, key: str) -> list[OutputSpec]:
    return [
        OutputSpec(f"tile-{key}", "className",
                   lambda v: f"tile tile-{v.tiles[i].level} {v.tiles[i].size}".rstrip()),
        OutputSpec(f"tile-{key}-label", "children", lambda v: v.tiles[i].label),
        OutputSpec(f"tile-{key}-value", "children", lambda v: v.tiles[i].value),
        OutputSpec(f"tile-{key}-sub", "children", lambda v: v.tiles[i].sub),
    ]


def _figure_specs(key: str) -> list[OutputSpec]:
    return [
        OutputSpec(f"title-{key}", "children", lambda v: v.panel_titles[key]),
        OutputSpec(f"fig-{key}", "figure", lambda v: v.figures[key]),
    ]


OUTPUTS: tuple[OutputSpec, ...] = (
    OutputSpec("clock", "children", lambda v: v.clock, always=True),
    OutputSpec("banner", "children", lambda v: v.banner.text, always=True),
    OutputSpec("banner", "className", lambda v: (
        f"banner banner-{v.banner.level} " + " ".join(f"why-{r}" for r in v.banner.reasons)
    ), always=True),
    OutputSpec("title", "children", lambda v: v.title),
    OutputSpec("profile", "children", lambda v: v.profile),
    *(spec for i, key in enumerate(TILES) for spec in _tile_specs(i, key)),
    *(spec for key in FIGURES for spec in _figure_specs(key)),
    OutputSpec("alerts-title", "children", lambda v: v.alerts_title),
    OutputSpec("alerts-list", "children", lambda v: v.alerts, render_alerts),
    OutputSpec("alerts-list", "className",
               lambda v: f"alert-list {v.alerts_density}".rstrip()),
    OutputSpec("alerts-note", "children", lambda v: v.alerts_note),
    OutputSpec("act-title", "children", lambda v: v.act_title),
    OutputSpec("act-head", "children", lambda v: v.act_header, render_head),
    OutputSpec("act-body", "children", lambda v: v.act_now, render_tickets),
    OutputSpec("act-note", "children", lambda v: v.act_note),
)


def _digest(model: Any) -> str:
    return hashlib.blake2b(orjson.dumps(model), digest_size=8).hexdigest()


class Refresher:
    """The callback body, separate from Dash so the bench and the tests can call it."""

    def __init__(self, source: BoardSource, settings: Settings) -> None:
        self.source = source
        self.settings = settings

    def view(self, search: str | None) -> BoardView:
        return build_view(self.source.read(), lang_from_search(search), self.settings)

    def __call__(self, n_intervals: int | None, search: str | None,
                 sent: dict[str, str] | None) -> list[Any]:
        """Values for :data:`OUTPUTS` (``no_update`` where unchanged), then the new digests."""
        view = self.view(search)
        sent = dict(sent or {})
        changed = False
        out: list[Any] = []
        for spec in OUTPUTS:
            model = spec.model(view)
            if not spec.always:
                key = f"{spec.component}.{spec.prop}"
                d = _digest(model)
                if sent.get(key) == d:
                    out.append(no_update)
                    continue
                sent[key] = d
                changed = True
            out.append(spec.render(model) if spec.render else model)
        out.append(sent if changed else no_update)
        return out


def register(app: Dash, refresher: Refresher) -> None:
    """Wire :class:`Refresher` to the layout of :func:`dashboard.layout.build_layout`."""
    app.callback(
        [Output(s.component, s.prop) for s in OUTPUTS] + [Output("sent", "data")],
        Input("tick", "n_intervals"),
        Input("url", "search"),
        State("sent", "data"),
    )(refresher)
