"""Event ids accepted within the largest window, for duplicate detection.

An id is a duplicate when it was accepted while the clock was within the largest window
of the current clock (``accepted_clock > clock - window``). Ids live in generations of a
quarter window by the clock at acceptance, so expiry drops whole generations instead of
scanning ids; the stored clock makes the answer exact at the boundary.
"""

from __future__ import annotations

__all__ = ["SeenIds"]

_GENERATIONS = 4


class SeenIds:
    __slots__ = ("_gen_ms", "_generations", "_window_ms")

    def __init__(self, window_ms: int) -> None:
        self._window_ms = window_ms
        self._gen_ms = max(1, window_ms // _GENERATIONS)
        # (generation start ms, {event_id: clock when accepted}); newest last
        self._generations: list[tuple[int, dict[str, int]]] = []

    def is_duplicate(self, event_id: str, clock_ms: int) -> bool:
        floor = clock_ms - self._window_ms
        for _, ids in reversed(self._generations):
            accepted = ids.get(event_id)
            if accepted is not None:
                return accepted > floor
        return False

    def remember(self, event_id: str, clock_ms: int) -> None:
        gens = self._generations
        if not gens or clock_ms >= gens[-1][0] + self._gen_ms:
            gens.append((clock_ms - clock_ms % self._gen_ms, {}))
        gens[-1][1][event_id] = clock_ms

    def expire(self, clock_ms: int) -> None:
        """Drop generations that ended at or before ``clock - window``."""
        floor = clock_ms - self._window_ms
        gens = self._generations
        while gens and gens[0][0] + self._gen_ms <= floor:
            del gens[0]

    def __len__(self) -> int:
        return sum(len(ids) for _, ids in self._generations)
