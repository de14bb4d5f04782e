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


def test_a_partition_fed_moments_ago_holds_the_others_back_while_the_hold_lasts() -> None:
    """A backlog still being written: B has nothing more in Kafka yet, but was fed at
    wall 1000, so for ``hold_ms`` after that A waits for it (B's writer comes back);
    once B stays quiet for the hold, A leaves."""
    a = EventTimeAligner(slack_ms=10)
    recs = [Rec(0)]
    a.add("B", recs, ["B0"], [100], wall_ms=1000)
    a.add("A", [Rec(0), Rec(1)], ["A0", "A1"], [105, 900], wall_ms=1500)
    # everything fetched; without a hold A runs 800 ms of event time ahead of B
    held = [i for _, _, i in a.drain(a.limit([], wall_ms=2000, hold_ms=3000))]
    assert held == ["B0", "A0"]  # A1 (900) waits beyond B's newest 100 + slack
    a.add("B", [Rec(1)], ["B1"], [850], wall_ms=2500)
    assert [i for _, _, i in a.drain(a.limit([], wall_ms=2600, hold_ms=3000))] == ["B1"]
    # quiet for the hold: neither holds the other any more
    assert [i for _, _, i in a.drain(a.limit([], wall_ms=6000, hold_ms=3000))] == ["A1"]
    # no hold (a live clock): only unfetched partitions count, as before
    a.add("B", [Rec(2)], ["B2"], [950], wall_ms=6000)
    a.add("A", [Rec(2)], ["A2"], [2000], wall_ms=6000)
    assert [i for _, _, i in a.drain(a.limit([], wall_ms=6000))] == ["B2", "A2"]


def test_a_quiet_partition_lets_go_only_once_kafka_was_asked_and_had_nothing_more() -> None:
    """B was fed at wall 1000 and has been quiet since. Quiet here is not quiet at the
    broker: while no fetch sent at least ``hold_ms`` after 1000 has found B at its end
    (its fetch on its way), A waits — up to ``max_hold_ms``."""
    def fed() -> EventTimeAligner:
        a = EventTimeAligner(slack_ms=10)
        a.add("B", [Rec(0)], ["B0"], [100], wall_ms=1000)
        a.add("A", [Rec(0), Rec(1)], ["A0", "A1"], [105, 900], wall_ms=1500)
        return a

    def leaves(a: EventTimeAligner, wall: int, ended: dict[str, int] | None) -> list[str]:
        return [i for _, _, i in a.drain(a.limit([], wall_ms=wall, hold_ms=3000,
                                                 ended=ended, max_hold_ms=30_000))]

    a = fed()
    assert leaves(a, 4500, {"B": 1200, "A": 4000}) == ["B0", "A0"]  # B: asked too soon
    assert leaves(a, 20_000, {"B": 3900, "A": 4000}) == []  # still too soon (< 1000 + 3000)
    assert leaves(a, 20_000, {"B": 4100, "A": 4000}) == ["A1"]  # asked late enough: empty
    a = fed()
    assert leaves(a, 30_999, {}) == ["B0", "A0"]  # never asked: held up to max_hold_ms
    assert leaves(a, 31_000, {}) == ["A1"]
    a = fed()
    assert leaves(a, 4000, None) == ["B0", "A0", "A1"]  # cannot tell: the quiet alone


def test_overflow_drops_the_queue_and_says_where_to_read_again() -> None:
    a = EventTimeAligner(slack_ms=10, max_waiting=2)
    _add(a, "A", [100, 200, 300])
    assert a.overflowing() == [("A", 0)]
    assert a.waiting() == 0


def test_a_drain_past_its_deadline_stops_and_the_rest_leave_next_time() -> None:
    """A caller with a fetch process waiting on it gets back to its loop: the drain stops
    at its deadline (looked at every 1024 records), nothing is lost or reordered."""
    a = EventTimeAligner(slack_ms=10)
    _add(a, "A", list(range(0, 6000, 2)))
    _add(a, "B", list(range(1, 6000, 2)))
    first = [item for _, _, item in a.drain(float("inf"), until=0.0)]  # long past
    assert a.cut
    assert len(first) == 1023
    rest = [item for _, _, item in a.drain(float("inf"), until=None)]
    assert not a.cut
    want = [f"{'AB'[t % 2]}{t // 2}" for t in range(6000)]
    assert first + rest == want
