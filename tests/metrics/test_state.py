"""TicketBook: a ticket is one key (an int: its creation and its row of the columns); flag
changes keep the dict and every index in step."""

from __future__ import annotations

import random

import pytest

from metrics.state import (
    AGENT,
    AWAITING,
    ESCALATED,
    OPEN,
    REOPENED,
    TRANSFERRED,
    TicketBook,
)

CHANNELS, PRIORITIES = ("chat", "email"), ("P1", "P2")


def book(row_bits: int = 24) -> TicketBook:
    return TicketBook(CHANNELS, PRIORITIES, ("refund",), ("east",), row_bits=row_bits)


def check(b: TicketBook) -> None:
    """The indexes hold exactly the open / open-unanswered tickets, in creation order."""
    p_of = b.profile_of
    for ch in CHANNELS:
        want = sorted(t for t in b.tickets.values()
                      if p_of(t).channel == ch and p_of(t).flags & OPEN
                      and not p_of(t).flags & AGENT)
        first, idle = b.unanswered(ch)
        assert not set(first) & set(idle)  # disjoint: first turns, reopened unanswered
        assert sorted([*first, *idle]) == want
        assert all(b.turn_start(t) == b.created(t) and not b.is_later_turn(t) for t in first)
        assert not any(b.turn_start(t) == b.created(t) for t in idle)
        assert [p_of(t).flags & AGENT for t in [*first, *idle]] == [0] * len(want)
        assert [b.created(t) for t in want] == sorted(b.created(t) for t in want)
    for p in PRIORITIES:
        want = sorted(t for t in b.tickets.values()
                      if p_of(t).priority == p and p_of(t).flags & OPEN)
        assert list(b.open_by_priority[p]) == want
    assert sum(b.backlog.values()) == sum(bool(p_of(t).flags & OPEN)
                                          for t in b.tickets.values())
    for tid, t in b.tickets.items():
        assert b.id_of(t) == tid


@pytest.mark.parametrize("many_profiles", [False, True])
def test_random_lifecycles_keep_indexes_consistent(many_profiles: bool) -> None:
    """``many_profiles``: the profile numbers outgrow the 2-byte column (it widens)."""
    rnd = random.Random(7)
    b = book()
    if many_profiles:
        filler = b.profile("chat", "refund", "P2", "east")
        b.ptable.extend([filler] * 70_000)  # numbers taken: the next profile is 70,001
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
    assert b.pcol.typecode == ("I" if many_profiles else "H")


def test_flags_and_first_response() -> None:
    b = book()
    assert b.create("A", 100, "chat", "refund", "P1", "east")
    assert not b.create("A", 200, "email", "refund", "P2", "east")  # never resets
    t = b.tickets["A"]
    assert b.created(t) == 100
    assert b.profile_of(t).flags == OPEN | AWAITING  # SPEC §7: the creation opens the first turn
    assert b.agent_replied(t)
    assert not b.agent_replied(b.tickets["A"])  # only the first is a first response
    b.resolve(b.tickets["A"])
    b.reopen(b.tickets["A"])
    assert b.profile_of(b.tickets["A"]).flags == OPEN | AGENT | REOPENED
    assert list(b.open_by_priority["P1"]) == [b.tickets["A"]]
    assert not any(b.unanswered("chat"))
    assert b.forget_created_before(101) == 1
    assert not b.tickets
    assert not b.open_by_priority["P1"]
    assert b.backlog[("P1", "refund", "east")] == 0


def test_forgetting_by_age_does_not_depend_on_arrival_order() -> None:
    """A rebuild reads partitions one chunk after another: arrival order is not time order,
    and every ticket (and return) created before the horizon must go, exactly."""
    from metrics.state import ReturnBook, requested_ms

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
        assert sorted(b.created(t) for t in b.tickets.values()) == want
        assert sorted(map(requested_ms, r.returns.values())) == want
        assert sum(r.open_by_region.values()) == len(want)
        check(b)


@pytest.mark.parametrize("row_bits", [24, 1])
def test_one_key_per_ticket_in_the_dict_and_every_index_with_turns(row_bits: int) -> None:
    """Flag changes, customer messages (later turns) and replies in random order: every
    index holds the dict's very key (no stale copy), the awaiting index holds exactly
    the tickets with an open turn, in turn-start order, and turn_start says where each
    starts. ``row_bits=1``: the keys are rewritten as rows outgrow them (:meth:`_widen`)."""
    rnd = random.Random(11)
    b = book(row_bits)
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
            for index in (*b.unanswered_idle.values(), *b.open_by_priority.values(),
                          *b.awaiting.values()):
                for entry in index:
                    assert entry is b.tickets[b.id_of(entry)]
            assert {k: b.turn_start(v) for k, v in b.tickets.items()
                    if b.turn_start(v) is not None} == turns
            for ch in CHANNELS:
                got = list(b.awaiting[ch])
                assert not any(b.is_later_turn(e) for e in got)
                later = list(b.awaiting_later[ch])
                assert all(b.is_later_turn(e) for e in later)
                assert [b.ms_of(e) for e in later] == sorted(turns[b.id_of(e)] for e in later)
                assert [b.ms_of(e) for e in got] == sorted(turns[b.id_of(e)] for e in got)
                got += later
                assert {b.id_of(e) for e in got} == {
                    k for k in turns if b.profile_of(b.tickets[k]).channel == ch}
                assert all(b.is_later_turn(e) is (turns[b.id_of(e)] != b.created(b.tickets[
                    b.id_of(e)])) for e in got)
    assert b.later_turns_open() == sum(v != b.created(b.tickets[k]) for k, v in turns.items())
    if row_bits == 1:
        assert b.row_bits > 1  # widened


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
    want = sorted((b.ms_of(t), b.id_of(t), b.profile_of(t), is_later)
                  for lst, is_later in ((first, False), (later, True)) for t in lst)
    for n in (1, 5, 17, len(later), len(want), len(want) + 3):
        assert _oldest_turns(b, "chat", n) == want[:n]


def _tied_engine(kind: str) -> list[str]:
    """15 tickets created in the same ms, their ids in the reverse of their arrival (so
    their rows, and the keys' order within the ms, run against the ids); the act-now ids."""
    from consumers.decode import Decoder, Rejection
    from core.config import load_config
    from metrics.engine import Engine
    from tests.test_oracle_turns import Log, ms

    wall = [ms("2026-10-12 08:00:02")]  # live: the clock follows the wall
    cfg = load_config()
    engine, dec = Engine(cfg, lambda: wall[0]), Decoder(regions=cfg.regions)
    log = Log()
    for i in reversed(range(15)):
        log.created("2026-10-12 08:00", f"T{i:02d}", "chat", "P1")
        if kind == "overdue":
            log.add("ticket.replied", "2026-10-12 08:00:01", f"T{i:02d}", by="agent",
                    agent_id="A1")
    for topic, _key, value in log.messages:
        item = dec.decode(value, wall[0])
        assert not isinstance(item, Rejection), item
        engine.process(topic, item, wall[0])
    engine.tick()
    assert engine.snapshot().live
    wall[0] = ms("2026-10-14 09:00")  # past the P1 resolution SLA and every reply SLA
    engine.tick()
    snap = engine.snapshot()
    assert {a.kind for a in snap.act_now} == {kind}
    return [a.ticket_id for a in snap.act_now]


@pytest.mark.parametrize("kind", ["unanswered", "overdue"])
def test_act_now_orders_tickets_of_one_instant_by_id_not_by_arrival(kind: str) -> None:
    """Index entries of one ms sort by row (arrival here); the act-now list still takes
    the first ten by (instant, ticket id): the open-P1 heads and the oldest turns read
    every entry of the last instant they take."""
    assert _tied_engine(kind) == [f"T{i:02d}" for i in range(10)]
