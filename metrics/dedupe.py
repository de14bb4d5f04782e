"""Event ids seen within the largest window, in rotating generations.

Ids are kept in generations of a quarter of the window, by the clock at which they were
seen; the oldest generation is dropped when a new one starts, so an id is remembered for
at least the largest window (and at most 1.25×) at a set lookup per generation.
"""

from __future__ import annotations

__all__ = ["SeenIds"]

_GENERATIONS = 4


class SeenIds:
    __slots__ = ("_gen_ms", "_generations", "_start")

    def __init__(self, window_ms: int) -> None:
        self._gen_ms = max(1, window_ms // _GENERATIONS)
        self._generations: list[set[str]] = [set()]
        self._start: int | None = None

    def seen_before(self, event_id: str) -> bool:
        """True for a repeat; otherwise remember the id and return False."""
        gens = self._generations
        for g in gens:
            if event_id in g:
                return True
        gens[-1].add(event_id)
        return False

    def expire(self, clock_ms: int) -> None:
        if self._start is None:
            self._start = clock_ms
            return
        if clock_ms - self._start >= self._gen_ms:
            steps = (clock_ms - self._start) // self._gen_ms
            self._start += steps * self._gen_ms
            for _ in range(min(steps, _GENERATIONS + 1)):
                self._generations.append(set())
            del self._generations[: max(0, len(self._generations) - (_GENERATIONS + 1))]

    def __len__(self) -> int:
        return sum(len(g) for g in self._generations)
