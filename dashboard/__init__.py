"""The supervisors' wall-board (SPEC §5): a Dash app over the engine or Prometheus.

The names below are imported on first use (PEP 562): ``pulse run`` imports
``dashboard.act_now`` for its ``/act-now`` route, and a process that serves no board
must not pay for Dash, Flask and Plotly at every start (~0.4 s, issue 17's restart).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dashboard.server import BoardServer
    from dashboard.sources import BoardData, BoardSource, EngineSource

__all__ = ["BoardData", "BoardServer", "BoardSource", "EngineSource"]

_WHERE = {"BoardServer": "dashboard.server", "BoardData": "dashboard.sources",
          "BoardSource": "dashboard.sources", "EngineSource": "dashboard.sources"}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(where), name)
