"""TicketBook: a ticket is one tuple; flag changes keep the dict and every index in step."""

from __future__ import annotations

import random

from metrics.state import (
    AGENT,
    AWAITING,
    ESCALATED,
    OPEN,
    REOPENED,
    TRANSFERRED,
    TicketBook,
    turn_start,
)

CHANNELS, PRIORITIES = ("chat", "email"), ("P1", "P2")


def book() -> TicketBook:
    return TicketBook(CHANNELS, PRIORITIES, ("refund",), ("east",))


def check(b: TicketBook) -> None:
    """The indexes hold exactly the open / open-unanswered tickets (an index may hold an
    older tuple of a ticket: same created, id and labels, other flags)."""
    for ch in CHANNELS:
        want = sorted(t for t in b.tickets.values()
                      if t[2].channel == ch and t[2].flags & OPEN and not t[2].flags & AGENT)
        assert list(b.unanswered[ch]) == want
        assert [t[2].flags & AGENT for t in b.unanswered[ch]] == [0] * len(want)
    for p in PRIORITIES:
        want = sorted(t for t in b.tickets.values() if t[2].priority == p and t[2].flags & OPEN)
        assert list(b.open_by_priority[p]) == want
    assert sum(b.backlog.values()) == sum(bool(t[2].flags & OPEN) for t in b.tickets.values())


def test_random_lifecycles_keep_indexes_consistent() -> None:
    rnd = random.Random(7)
    b = book()
    for i in range(400):
        op = rnd.random()
        tid = f"T{rnd.randrange(60)}"
        t = b.get(tid)
        if t is None or op < 0.2:
            b.create(tid, rnd.randrange(10_000), rnd.choice(CHANNELS), "refund",
                     rnd.choice(PRIORITIES), "east")
        elif op < 0.4:
            b.agent_replied(t)
        elif op < 0.55:
            b.flag(t, rnd.choice((TRANSFERRED, ESCALATED)))
        elif op < 0.75:
            b.resolve(t)
        elif op < 0.9:
            b.reopen(t)
        else:
            b.forget_created_before(rnd.randrange(10_000))
        if i % 10 == 0:
            check(b)
    check(b)


def test_flags_and_first_response() -> None:
    b = book()
    assert b.create("A", 100, "chat", "refund", "P1", "east")
    assert not b.create("A", 200, "email", "refund", "P2", "east")  # never resets
    t = b.tickets["A"]
    assert t[0] == 100
    assert t[2].flags == OPEN | AWAITING  # SPEC §7: the creation opens the first turn
    assert b.agent_replied(t)
    assert not b.agent_replied(b.tickets["A"])  # only the first is a first response
    b.resolve(b.tickets["A"])
    b.reopen(b.tickets["A"])
    assert b.tickets["A"][2].flags == OPEN | AGENT | REOPENED
    assert list(b.open_by_priority["P1"]) == [b.tickets["A"]]
    assert not b.unanswered["chat"]
    assert b.forget_created_before(101) == 1
    assert not b.tickets
    assert not b.open_by_priority["P1"]
    assert b.backlog[("P1", "refund", "east")] == 0


def test_forgetting_by_age_does_not_depend_on_arrival_order() -> None:
    """A rebuild reads partitions one chunk after another: arrival order is not time order,
    and every ticket (and return) created before the horizon must go, exactly."""
    from metrics.state import ReturnBook

    rnd = random.Random(3)
    created = [rnd.randrange(0, 6 * 3600_000) for _ in range(3000)]
    chunks = [created[i:i + 500] for i in range(0, len(created), 500)]
    rnd.shuffle(chunks)  # partition-sized runs out of order
    b, r = book(), ReturnBook(("east",))
    n = 0
    for chunk in chunks:
        for ts in chunk:
            b.create(f"T{n}", ts, "chat", "refund", "P1", "east")
            r.request(f"R{n}", ts, "east")
            n += 1
    for horizon in (-5, 0, 59_999, 60_000, 3600_000 + 123, 3 * 3600_000 + 7, 7 * 3600_000):
        b.forget_created_before(horizon)
        r.forget_created_before(horizon)
        want = sorted(ts for ts in created if ts >= horizon)
        assert sorted(t[0] for t in b.tickets.values()) == want
        assert sorted(x.requested_ms for x in r.returns.values()) == want
        assert sum(r.open_by_region.values()) == len(want)
        check(b)


def test_one_tuple_per_ticket_in_the_dict_and_every_index_with_turns() -> None:
    """Flag changes, customer messages (later turns) and replies in random order: every
    index holds the dict's very tuple (no stale copy), the awaiting index holds exactly
    the tickets with an open turn, in turn-start order, and turn_start says where each
    starts."""
    rnd = random.Random(11)
    b = book()
    turns: dict[str, int] = {}  # the model: ticket id -> start of its open turn
    for i in range(3000):
        op = rnd.random()
        tid = f"T{rnd.randrange(80)}"
        t = b.get(tid)
        ts = 10_000 + i
        if t is None or op < 0.1:
            if b.create(tid, ts, rnd.choice(CHANNELS), "refund", rnd.choice(PRIORITIES),
                        "east"):
                turns[tid] = ts
        elif op < 0.3:
            b.agent_replied(t)
            turns.pop(tid, None)
        elif op < 0.5:
            if b.open_turn(t, ts):
                assert tid not in turns
                turns[tid] = ts
        elif op < 0.6:
            b.flag(t, rnd.choice((TRANSFERRED, ESCALATED)))
        elif op < 0.75:
            b.resolve(t)
            turns.pop(tid, None)
        elif op < 0.9:
            b.reopen(t)
        else:
            cut = rnd.randrange(10_000, ts)
            b.forget_created_before(cut)
            turns = {k: v for k, v in turns.items() if k in b.tickets}
        if i % 25 == 0:
            check(b)
            for index in (*b.unanswered.values(), *b.open_by_priority.values(),
                          *b.awaiting.values(), *b.awaiting_later.values()):
                for entry in index:
                    assert entry is b.tickets[entry[1]]
            assert {k: b.turn_start(v) for k, v in b.tickets.items()
                    if b.turn_start(v) is not None} == turns
            for ch in CHANNELS:
                got = list(b.awaiting[ch])
                assert not any(b.is_later_turn(e) for e in got)
                later = list(b.awaiting_later[ch])
                assert all(b.is_later_turn(e) for e in later)
                assert [turn_start(e) for e in later] == sorted(turns[e[1]] for e in later)
                assert [turn_start(e) for e in got] == sorted(turns[e[1]] for e in got)
                got += later
                assert {e[1] for e in got} == {k for k in turns
                                               if b.tickets[k][2].channel == ch}
                assert all(b.is_later_turn(e) is (turns[e[1]] != e[0]) for e in got)
    assert b.later_turns_open() == sum(v != b.tickets[k][0] for k, v in turns.items())


def test_oldest_turns_merge_first_and_later_turns_in_start_then_id_order() -> None:
    """The act-now scan reads a channel's open turns from both indexes as one index
    sorted by (start, ticket id) would give them, ties across the cut included."""
    from metrics.assembly import _oldest_turns

    rnd = random.Random(5)
    b = book()
    for _ in range(400):
        tid = f"T{rnd.randrange(60):03d}"
        t = b.get(tid)
        ts = 1000 + rnd.randrange(8)  # many equal starts
        if t is None:
            b.create(tid, ts, "chat", "refund", "P1", "east")
        elif rnd.random() < 0.5:
            b.agent_replied(t)
        else:
            b.open_turn(t, ts + 10 * rnd.randrange(2))
    first, later = b.awaiting["chat"], b.awaiting_later["chat"]
    assert first
    assert later
    want = sorted([*first, *later], key=lambda t: (turn_start(t), t[1]))
    for n in (1, 5, 17, len(later), len(want), len(want) + 3):
        assert _oldest_turns(first, later, n) == want[:n]
