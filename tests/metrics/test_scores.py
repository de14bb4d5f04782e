"""ScoreBook (metrics/scores.py) against the reference decisions of tests/oracle/section7.py:
random scenarios (hypothesis) read in a random interleaving of tickets (partitions at
different event times) with the clock ticking in between, and the named cases: missed at
the deadline with no event, a business clock across a closing time, a resolve before the
deadline, replies and resolves read after the clock has passed their deadline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.business_hours import BusinessHours, parse_business_hours, today_timezone
from core.config import ScoreConfig
from metrics.scores import ScoreBook
from tests.oracle import section7
from tests.test_oracle_turns import ms

WINDOWS = {"15m": 900, "1h": 3600, "24h": 86400}
OFFICE: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "calendars": {
        "office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                   "hours": ["09:00-12:00", "13:30-18:00"], "holidays": "cn"},
    },
    "channels": {"email": "office", "phone": "office"},
}
RULES: list[dict[str, Any]] = [
    {"name": "chat3", "channels": ["chat", "app"], "hours": "08:00-23:00", "within_s": 180,
     "clock": "wall", "target": 0.9},
    {"name": "mail_biz", "channels": ["email", "other"], "hours": "00:00-24:00",
     "within_s": 1800, "clock": "business", "target": 0.8},
    {"name": "all_biz", "channels": ["chat", "phone", "email", "app", "other"],
     "hours": "09:30-17:45", "within_s": 600, "clock": "business", "target": 0.5},
]
CHANNELS = ("chat", "phone", "email", "app", "other")
MIN = 60_000


def book(rules: list[dict[str, Any]] = RULES, bh: dict[str, Any] | None = None) -> ScoreBook:
    cfg = parse_business_hours(OFFICE if bh is None else bh)
    scores = [ScoreConfig(**r) for r in rules]
    return ScoreBook(scores, BusinessHours(cfg), WINDOWS, today_timezone(cfg), 7 * 86_400_000)


def oracle_settings(rules: list[dict[str, Any]] = RULES) -> section7.Settings:
    return section7.Settings.build(dict.fromkeys(CHANNELS, 60.0), None, OFFICE, True, rules)


@dataclass
class Op:
    """One turn transition of one ticket, in that ticket's log order."""

    ticket: str
    kind: str  # open | answer | close
    ts: int
    channel: str


def oracle_turns(ops: list[Op]) -> section7.Turns:
    turns = section7.Turns()
    current: dict[str, section7.Turn] = {}
    for op in ops:
        if op.kind == "open":
            t = section7.Turn(op.channel, op.ts)
            turns.all.append(t)
            current[op.ticket] = t
        elif op.ticket in current:
            t = current.pop(op.ticket)
            if op.kind == "answer":
                t.answered_ms = op.ts
            else:
                t.closed_ms = op.ts
    return turns


def compare(sb: ScoreBook, ops: list[Op], clock: int, s7: section7.Settings) -> None:
    decided = section7.decisions(oracle_turns(ops), s7, clock)
    names = [r["name"] for r in RULES]
    want_turns = {n: sum(d.score == n for d in decided) for n in names}
    want_within = {n: sum(d.score == n and d.within for d in decided) for n in names}
    assert sb.turns_total() == want_turns, clock
    assert sb.within_total() == want_within, clock
    members = [(w, section7.sliding_member(clock, s)) for w, s in WINDOWS.items()]
    members.append(("today", section7.today_member(clock, s7.bh)))
    for w, member in members:
        inside = [d for d in decided if member(d.ts_ms)]
        turns, within = sb.window(w)
        assert turns == {n: sum(d.score == n for d in inside) for n in names}, (w, clock)
        assert within == {n: sum(d.score == n and d.within for d in inside) for n in names}, w


def feed(sb: ScoreBook, op: Op, clock: int) -> None:
    if op.kind == "open":
        sb.turn_opened(op.ticket, op.channel, op.ts)
    elif op.kind == "answer":
        sb.turn_answered(op.ticket, op.ts, clock)
    else:
        sb.turn_closed(op.ticket, op.ts, clock)


# gaps between a ticket's transitions: around the limits (180 s, 600 s, 1800 s), and long
_gap = st.one_of(st.integers(-5_000, 200_000), st.integers(0, 3 * 3_600_000),
                 st.sampled_from([180_000, 180_001, 600_000, 1_800_000, 1_800_001]))


@st.composite
def tickets(draw: st.DrawFn, i: int) -> list[Op]:
    """A ticket's turns: open, then answer or close, maybe a new turn; log order."""
    t = ms("2026-09-30 16:00") + draw(st.integers(0, 40 * 3_600_000))
    ch = draw(st.sampled_from(CHANNELS))
    ops = [Op(f"T{i}", "open", t, ch)]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["answer", "answer", "close", "open", "none"]))
        t += draw(_gap)
        if kind == "none":
            break
        if kind == "open" and ops[-1].kind == "open":
            continue  # a message while a turn is open changes nothing (not a transition)
        ops.append(Op(f"T{i}", kind, t, ch))
        if kind in ("answer", "close") and draw(st.booleans()):
            t += draw(_gap)
            ops.append(Op(f"T{i}", "open", t, ch))
    return ops


@settings(max_examples=120, deadline=None)
@given(data=st.data(), n=st.integers(1, 14))
def test_scorebook_equals_the_oracle_on_random_scenarios(data: st.DataObject, n: int) -> None:
    """Tickets are read interleaved at random (partitions at different event times), the
    clock is the largest ts read (a replay), ticks come at random; at the end the clock
    runs on with no event (live). At every tick the book equals the oracle on what was read."""
    per_ticket = [data.draw(tickets(i)) for i in range(n)]
    s7 = oracle_settings()
    sb = book()
    read: list[Op] = []
    clock = 0
    while any(per_ticket):
        k = data.draw(st.sampled_from([i for i, ops in enumerate(per_ticket) if ops]))
        op = per_ticket[k].pop(0)
        read.append(op)
        clock = max(clock, op.ts)
        feed(sb, op, clock)
        if data.draw(st.booleans()):
            sb.advance(clock)
            compare(sb, read, clock, s7)
    for extra in (0, 180_000, 3_600_000, 2 * 86_400_000):  # live: no event, the clock moves
        sb.advance(clock + extra)
        compare(sb, read, clock + extra, s7)


def test_missed_at_the_deadline_with_no_event() -> None:
    sb = book()
    start = ms("2026-12-01 10:00")
    sb.turn_opened("A", "chat", start)
    sb.advance(start + 179_999)
    assert sb.turns_total()["chat3"] == 0
    sb.advance(start + 180_000)  # D = start + 180 s <= clock: decided, no event needed
    assert sb.turns_total()["chat3"] == 1
    assert sb.within_total()["chat3"] == 0
    assert sb.window("15m")[0]["chat3"] == 1
    sb.advance(start + 180_000 + 900_000)  # the decision at D leaves the 15m window
    assert sb.window("15m")[0]["chat3"] == 0
    assert sb.window("1h")[0]["chat3"] == 1
    sb.turn_answered("A", start + 200_000, start + 200_000)  # late answer: stays missed
    assert (sb.turns_total()["chat3"], sb.within_total()["chat3"]) == (1, 0)


def test_a_reply_exactly_at_the_limit_is_within_and_a_resolve_before_it_is_not_counted() -> None:
    sb = book()
    start = ms("2026-12-01 10:00")
    sb.turn_opened("A", "chat", start)
    sb.turn_answered("A", start + 180_000, start + 180_000)
    sb.turn_opened("B", "chat", start)
    sb.turn_closed("B", start + 180_000, start + 180_000)  # resolve at D: before it ran out
    sb.turn_opened("C", "chat", start)
    sb.turn_closed("C", start + 180_001, start + 180_001)  # resolve after D: missed at D
    sb.advance(start + 10 * MIN)
    assert sb.turns_total()["chat3"] == 2
    assert sb.within_total()["chat3"] == 1
    assert sb.open_turns() == 0


def test_business_clock_across_a_closing_time_and_the_national_day() -> None:
    """Email, office calendar: a turn at Wed 2026-09-30 17:50 has 10 business minutes left
    that day; 国庆 closes Oct 1-7 (Oct 8 Thursday opens at 09:00): D = Oct 8 09:20 for the
    30-minute email rule."""
    sb = book()
    start = ms("2026-09-30 17:50")
    sb.turn_opened("E", "email", start)
    sb.advance(ms("2026-10-08 09:19:59"))  # a week later, still within the business limit
    assert sb.turns_total()["mail_biz"] == 0
    sb.advance(ms("2026-10-08 09:20"))
    assert sb.turns_total()["mail_biz"] == 1
    assert sb.window("today")[0]["mail_biz"] == 1  # decided at D, today (Oct 8)


def test_a_limit_used_up_exactly_at_closing_time_runs_to_the_next_opening() -> None:
    sb = book()
    start = ms("2026-12-01 17:30")  # Tuesday; 30 business minutes end at 18:00 exactly
    sb.turn_opened("E", "email", start)
    sb.advance(ms("2026-12-02 08:59:59"))
    assert sb.turns_total()["mail_biz"] == 0  # waited exactly the limit, all night
    sb.turn_answered("E", ms("2026-12-02 09:00"), ms("2026-12-02 09:00"))  # D: within
    assert (sb.turns_total()["mail_biz"], sb.within_total()["mail_biz"]) == (1, 1)


def test_a_reply_read_after_the_clock_passed_its_deadline_still_counts_within() -> None:
    """Another partition moved the clock far ahead; this ticket's reply (ts <= D) comes
    later: the provisional missed decision is revised, in the counters and every window."""
    sb = book()
    start = ms("2026-12-01 10:00")
    sb.turn_opened("A", "chat", start)
    sb.turn_opened("B", "chat", start)
    sb.advance(start + 2 * 3_600_000)  # the other partition is two hours ahead
    assert sb.turns_total()["chat3"] == 2
    sb.turn_answered("A", start + 60_000, start + 2 * 3_600_000)
    sb.turn_closed("B", start + 120_000, start + 2 * 3_600_000)
    assert sb.turns_total()["chat3"] == 1
    assert sb.within_total()["chat3"] == 1
    # all_biz (chat: no calendar, 600 s wall) covers both as well, revised the same way
    assert sb.window("24h") == ({"chat3": 1, "mail_biz": 0, "all_biz": 1},
                                {"chat3": 1, "mail_biz": 0, "all_biz": 1})
    assert sb.window("1h")[0]["chat3"] == 0  # decided at 10:01, out of the last hour
    assert sb.revised == 4


def test_hours_filter_the_turn_start_in_local_time_and_channels_filter() -> None:
    sb = book()
    sb.turn_opened("N", "chat", ms("2026-12-01 07:59:59"))  # before 08:00: not covered
    sb.turn_opened("M", "chat", ms("2026-12-01 08:00"))
    sb.turn_opened("P", "phone", ms("2026-12-01 08:00"))  # phone: not in chat3
    sb.advance(ms("2026-12-01 09:00"))
    assert sb.turns_total()["chat3"] == 1
    assert sb.open_turns() == 1  # M (missed, revisable); P is covered by no rule


def test_missed_turns_are_forgotten_at_the_state_horizon() -> None:
    sb = book()
    start = ms("2026-12-01 10:00")
    sb.turn_opened("A", "chat", start)
    sb.advance(start + 3_600_000)
    assert sb.open_turns() == 1
    sb.advance(start + 8 * 86_400_000)
    assert sb.open_turns() == 0
    assert sb.turns_total()["chat3"] == 1


def feed_told(sb: ScoreBook, op: Op, clock: int, starts: dict[str, int]) -> None:
    """:func:`feed` as the engine calls a ``tells_start`` book: answers and resolves only
    for an open turn, with its channel and start (the ticket book's)."""
    if op.kind == "open":
        if op.ticket not in starts:
            starts[op.ticket] = op.ts
            sb.turn_opened(op.ticket, op.channel, op.ts)
        return
    start = starts.pop(op.ticket, None)
    if start is None:
        return
    if op.kind == "answer":
        sb.turn_answered(op.ticket, op.ts, clock, op.channel, start)
    else:
        sb.turn_closed(op.ticket, op.ts, clock, op.channel, start)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), n=st.integers(1, 14))
def test_a_book_told_the_turn_start_equals_the_oracle_on_random_scenarios(
        data: st.DataObject, n: int) -> None:
    """The engine's book (``tells_start``: decided-missed turns are dropped and recomputed
    at their answer or resolve) equals the oracle at every tick, as the plain one does."""
    per_ticket = [data.draw(tickets(i)) for i in range(n)]
    s7 = oracle_settings()
    cfg = parse_business_hours(OFFICE)
    sb = ScoreBook([ScoreConfig(**r) for r in RULES], BusinessHours(cfg), WINDOWS,
                   today_timezone(cfg), 7 * 86_400_000, tells_start=True)
    read: list[Op] = []
    starts: dict[str, int] = {}
    clock = 0
    while any(per_ticket):
        k = data.draw(st.sampled_from([i for i, ops in enumerate(per_ticket) if ops]))
        op = per_ticket[k].pop(0)
        read.append(op)
        clock = max(clock, op.ts)
        feed_told(sb, op, clock, starts)
        if data.draw(st.booleans()):
            sb.advance(clock)
            compare(sb, read, clock, s7)
    for extra in (0, 180_000, 3_600_000, 2 * 86_400_000):
        sb.advance(clock + extra)
        compare(sb, read, clock + extra, s7)


def test_a_book_told_the_turn_start_holds_no_decided_turn_and_still_revises() -> None:
    """Decided missed by every rule: nothing held; a reply with ts <= D read later still
    revises it (recomputed from channel and start), a resolve with C <= D uncounts it."""
    cfg = parse_business_hours(OFFICE)
    sb = ScoreBook([ScoreConfig(**r) for r in RULES], BusinessHours(cfg), WINDOWS,
                   today_timezone(cfg), 7 * 86_400_000, tells_start=True)
    start = ms("2026-12-01 10:00")
    sb.turn_opened("A", "chat", start)
    sb.turn_opened("B", "chat", start)
    sb.turn_opened("C", "chat", start)
    sb.advance(start + 2 * 3_600_000)
    assert sb.open_turns() == 0
    assert sb.turns_total()["chat3"] == 3
    sb.turn_answered("A", start + 60_000, start + 2 * 3_600_000, "chat", start)
    sb.turn_closed("B", start + 120_000, start + 2 * 3_600_000, "chat", start)
    sb.turn_answered("C", start + 3_600_000, start + 2 * 3_600_000, "chat", start)
    assert (sb.turns_total()["chat3"], sb.within_total()["chat3"]) == (2, 1)
    assert sb.revised == 4
