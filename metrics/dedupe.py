"""Event ids accepted within the largest window, for duplicate detection.

An id is a duplicate when it was accepted while the clock was within the largest window
of the current clock (``accepted_clock > clock - window``), exactly: the ids themselves
are kept (no hashes that could collide), each with the clock it was accepted at.

One dict ``id -> acceptance clock`` answers the lookup; the clock values are the
engine's clock objects, shared by every event accepted at the same clock. Expiry rebuilds
the dict without the ids that left, at most once every quarter window of clock, so it
costs a few passes over each id in its lifetime and nothing per event (no per-id
generation lists); between two passes the dict holds up to 1¼ windows of ids.
"""

from __future__ import annotations

import math

__all__ = ["SeenIds"]

_GENERATIONS = 4


class SeenIds:
    __slots__ = ("_accepted", "_gen_ms", "_next_expiry", "_oldest", "_window_ms")

    def __init__(self, window_ms: int) -> None:
        self._window_ms = window_ms
        self._gen_ms = max(1, window_ms // _GENERATIONS)
        self._accepted: dict[str, int] = {}  # event_id -> clock when accepted
        self._next_expiry: int | None = None  # clock of the next pass (None: the first call)
        self._oldest: float = -math.inf  # no id in the dict was accepted before this

    def is_duplicate(self, event_id: str, clock_ms: int) -> bool:
        accepted = self._accepted.get(event_id)
        return accepted is not None and accepted > clock_ms - self._window_ms

    def remember(self, event_id: str, clock_ms: int) -> None:
        """``clock_ms`` never decreases from one call to the next (the engine's clock)."""
        self._accepted[event_id] = clock_ms

    @property
    def accepted(self) -> dict[str, int]:
        """The dict itself, for a caller that inlines the lookup (it is replaced on expiry:
        read it again after :meth:`expire`)."""
        return self._accepted

    def expire(self, clock_ms: int) -> None:
        """Forget the ids accepted at or before ``clock - window``, a quarter window late
        at most (they are no longer duplicates either way). The dict is rebuilt only
        when some id has actually left."""
        nxt = self._next_expiry
        if nxt is not None and clock_ms < nxt:
            return
        floor = clock_ms - self._window_ms
        if self._oldest <= floor and self._accepted:
            kept = self._accepted = {k: v for k, v in self._accepted.items() if v > floor}
            # ids accepted from now on carry a clock >= clock_ms (it never goes back)
            self._oldest = min(kept.values()) if kept else clock_ms
        self._next_expiry = clock_ms + self._gen_ms

    def __len__(self) -> int:
        return len(self._accepted)
