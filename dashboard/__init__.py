"""The supervisors' wall-board (SPEC §5): a Dash app over the engine or Prometheus."""

from dashboard.server import BoardServer
from dashboard.sources import BoardData, BoardSource, EngineSource

__all__ = ["BoardData", "BoardServer", "BoardSource", "EngineSource"]
