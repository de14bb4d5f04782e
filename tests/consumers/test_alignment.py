"""Partitions of a backlog leave the aligner in event-time step."""

from __future__ import annotations

from dataclasses import dataclass

from consumers.alignment import EventTimeAligner


@dataclass
class Rec:
    offset: int


def _add(a: EventTimeAligner, part: str, times: list[int | None], first: int = 0) -> None:
    recs = [Rec(first + i) for i in range(len(times))]
    a.add(part, recs, [f"{part}{r.offset}" for r in recs], times)


def test_drains_in_time_order_up_to_the_slowest_unfetched_partition() -> None:
    a = EventTimeAligner(slack_ms=10)
    _add(a, "A", [100, 200, 300, 400])
    _add(a, "B", [150, None, 250])
    out = [item for _, _, item in a.drain(a.limit(["A", "B"]))]
    # B is the slowest partition still being fetched (newest 250): A waits beyond 260
    assert out == ["A0", "B0", "B1", "A1", "B2"]
    assert a.first_waiting_offset("A") == 2
    _add(a, "B", [500], first=3)
    assert [item for _, _, item in a.drain(a.limit(["B"]))] == ["A2", "A3", "B3"]


def test_an_unfetched_partition_holds_the_others_back() -> None:
    a = EventTimeAligner(slack_ms=10)
    _add(a, "A", [100, 200])
    assert list(a.drain(a.limit(["A", "C"]))) == []
    assert [i for _, _, i in a.drain(a.limit([]))] == ["A0", "A1"]


def test_overflow_drops_the_queue_and_says_where_to_read_again() -> None:
    a = EventTimeAligner(slack_ms=10, max_waiting=2)
    _add(a, "A", [100, 200, 300])
    assert a.overflowing() == [("A", 0)]
    assert a.waiting() == 0
