"""Event ids accepted within the largest window, for duplicate detection.

An id is a duplicate when it was accepted while the clock was within the largest window
of the current clock (``accepted_clock > clock - window``). One dict answers the lookup;
ids are also listed in generations of a quarter window (by acceptance clock), so expiry
walks only the ids of generations that ended, never the whole set.
"""

from __future__ import annotations

__all__ = ["SeenIds"]

_GENERATIONS = 4


class SeenIds:
    __slots__ = ("_accepted", "_gen_ms", "_generations", "_window_ms")

    def __init__(self, window_ms: int) -> None:
        self._window_ms = window_ms
        self._gen_ms = max(1, window_ms // _GENERATIONS)
        self._accepted: dict[str, int] = {}  # event_id -> clock when accepted
        # (generation start ms, ids accepted in it); newest last
        self._generations: list[tuple[int, list[str]]] = []

    def is_duplicate(self, event_id: str, clock_ms: int) -> bool:
        accepted = self._accepted.get(event_id)
        return accepted is not None and accepted > clock_ms - self._window_ms

    def remember(self, event_id: str, clock_ms: int) -> None:
        gens = self._generations
        if not gens or clock_ms >= gens[-1][0] + self._gen_ms:
            gens.append((clock_ms - clock_ms % self._gen_ms, []))
        gens[-1][1].append(event_id)
        self._accepted[event_id] = clock_ms

    def expire(self, clock_ms: int) -> None:
        """Forget ids of generations that ended at or before ``clock - window``."""
        floor = clock_ms - self._window_ms
        gens, accepted = self._generations, self._accepted
        while gens and gens[0][0] + self._gen_ms <= floor:
            for eid in gens.pop(0)[1]:
                # an id accepted again later (after its window) belongs to a newer generation
                if accepted.get(eid, floor + 1) <= floor:
                    del accepted[eid]

    def __len__(self) -> int:
        return len(self._accepted)
