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


def test_expiry_passes_never_forget_an_id_inside_the_window() -> None:
    s = SeenIds(window_ms=1000)
    for clock in range(0, 5000, 10):
        s.remember(f"id{clock}", clock)
        s.expire(clock)
        # every id accepted within the window is still a duplicate, exactly to the ms
        for back in (0, 10, 990):
            if clock - back >= 0:
                assert s.is_duplicate(f"id{clock - back}", clock)
        if clock >= 1000:
            assert not s.is_duplicate(f"id{clock - 1000}", clock)
    assert len(s) <= 1000 // 10 * 5 // 4 + 1  # at most 1¼ windows of ids


def test_an_id_accepted_again_after_its_window_is_remembered_anew() -> None:
    s = SeenIds(window_ms=1000)
    s.remember("a", 0)
    s.expire(0)
    assert not s.is_duplicate("a", 1000)
    s.remember("a", 1000)
    s.expire(1250)  # a pass: "a" is kept with its new acceptance clock
    assert s.is_duplicate("a", 1999)
    assert not s.is_duplicate("a", 2000)
