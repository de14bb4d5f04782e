"""Compute stage: fold typed events into state and windows; expose consistent snapshots."""

from metrics.engine import Engine
from metrics.snapshot import ActionTicket, HistogramData, Snapshot, WindowSnapshot

__all__ = ["ActionTicket", "Engine", "HistogramData", "Snapshot", "WindowSnapshot"]
