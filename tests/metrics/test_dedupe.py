from __future__ import annotations

from metrics.dedupe import SeenIds


def test_ids_are_remembered_for_the_window_by_acceptance_clock() -> None:
    s = SeenIds(window_ms=1000)
    s.remember("a", 10_000)
    assert s.is_duplicate("a", 10_500)
    assert s.is_duplicate("a", 10_999)
    assert not s.is_duplicate("a", 11_000)  # accepted clock must be > clock - window
    assert not s.is_duplicate("b", 10_500)
    s.expire(20_000)
    assert len(s) == 0
