"""Compute stage: fold typed events into state and windows; expose consistent snapshots."""

from core.snapshot import ActionTicket, HistogramData, Snapshot, WindowSnapshot
from metrics.engine import Engine

__all__ = ["ActionTicket", "Engine", "HistogramData", "Snapshot", "WindowSnapshot"]
