from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import dedupe
from metrics.dedupe import RecentIds, SeenIds, runs_from_bytes, runs_to_bytes


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


# -- the horizon structure against a plain dict ------------------------------------------

class _Model:
    """The rule of docs/semantics.md, by brute force: every accepted id and its time."""

    def __init__(self, horizon_ms: int) -> None:
        self.horizon_ms = horizon_ms
        self.accepted: dict[str, int] = {}

    def add(self, event_id: str, clock_ms: int, ts_ms: int) -> bool:
        floor = clock_ms - self.horizon_ms
        if ts_ms <= floor:
            return True  # older than the horizon
        s = self.accepted.get(event_id)
        if s is not None and s > floor:
            return True
        self.accepted[event_id] = max(clock_ms, ts_ms)
        return False

    def is_duplicate(self, event_id: str, clock_ms: int) -> bool:
        s = self.accepted.get(event_id)
        return s is not None and s > clock_ms - self.horizon_ms


_ops = st.lists(
    st.tuples(
        st.sampled_from(["new", "new", "new", "resend", "reuse", "expire", "check", "edge"]),
        st.integers(0, 40),  # clock step
        st.integers(-5, 1200),  # how far ts is behind the clock (negative: ahead)
        st.integers(0, 10**6),  # which earlier event
    ),
    min_size=1, max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(horizon=st.integers(48, 1000), cap=st.sampled_from([1, 3, 20, 1 << 17]), ops=_ops)
def test_the_horizon_structure_is_the_plain_rule(horizon: int, cap: int,
                                                 ops: list[tuple[str, int, int, int]]) -> None:
    saved = dedupe._DICT_CAP
    dedupe._DICT_CAP = cap  # small: ids move to sealed runs after a few
    try:
        s, m = SeenIds(horizon), _Model(horizon)
        clock = 10_000
        sent: list[tuple[str, int]] = []  # every event handed to add, (id, ts)
        for i, (op, step, back, pick) in enumerate(ops):
            clock += step
            if op == "expire":
                s.expire(clock)
                continue
            if op == "edge" and m.accepted:
                # the clock to an accepted id's last millisecond, or its first one out;
                # then the id is looked up (and re-sent: with the ts it was sent with)
                eid, at = sorted(m.accepted.items())[pick % len(m.accepted)]
                clock = max(clock, at + horizon - pick % 2)
                assert s.is_duplicate(eid, clock) == m.is_duplicate(eid, clock), (i, eid)
                op, pick = "resend", max(j for j, (e, _) in enumerate(sent) if e == eid)
            if op == "check" and sent:
                eid = sent[pick % len(sent)][0]
                assert s.is_duplicate(eid, clock) == m.is_duplicate(eid, clock), (i, eid)
                continue
            if op in ("resend", "reuse") and sent:
                eid, ts = sent[pick % len(sent)]
                if op == "reuse":  # the same id at an earlier ts (the contract's case)
                    ts -= back % 50
            else:
                eid, ts = f"e{i}", clock - back
            sent.append((eid, ts))
            assert s.add(eid, clock, ts) == m.add(eid, clock, ts), (i, op, eid, ts, clock)
        live = sum(v > clock - horizon for v in m.accepted.values())
        assert len(s) >= live
    finally:
        dedupe._DICT_CAP = saved


def test_the_horizon_edge_is_exact_in_the_dicts_and_in_the_sealed_runs() -> None:
    h = 7 * 86_400_000
    s = SeenIds(h)
    t0 = 1_795_000_000_000
    s.expire(t0)
    assert not s.add("a", t0, t0 - 10)  # accepted at the clock, t0
    assert not s.add("b", t0, t0 + 250)  # a ts ahead of the clock: accepted at its ts
    assert s.add("a", t0 + h - 1, t0 - 10)  # in the dict, 1 ms before it leaves
    # move the clock by periods until both are sealed (hashed) runs
    for clock in range(t0, t0 + h - 1, 3_600_000):
        s.expire(clock)
    assert s.sealed_ids == 2
    assert s.sealed_bytes == 2 * 12  # 8-byte hash + 4-byte offset each
    assert s.add("a", t0 + h - 1, t0 - 10)  # sealed, 1 ms before it leaves
    assert s.is_duplicate("a", t0 + h - 1)
    assert not s.is_duplicate("a", t0 + h)
    assert s.add("b", t0 + h + 249, t0 + 250)
    assert s.is_duplicate("b", t0 + h + 249)
    assert not s.is_duplicate("b", t0 + h + 250)
    # an event whose ts is older than the horizon is a duplicate, seen or not
    assert s.add("new", t0 + h + 250, t0 + 250)
    assert not s.add("new", t0 + h + 250, t0 + 251)
    s.expire(t0 + 2 * h + 251)  # "new" was accepted at t0 + h + 250
    s.expire(t0 + 2 * h + 251 + 86_400_000)
    assert len(s) == 0


def test_a_clock_that_stays_put_still_bounds_the_dicts() -> None:
    """A rebuild whose clock went live early accepts a week of ids at one clock: the
    newer dict is sealed once it passes the cap, and the ids are still found."""
    s = SeenIds(7 * 86_400_000)
    t = 1_795_000_000_000
    n = dedupe._DICT_CAP * 3 + 10
    for i in range(n):
        assert not s.add(f"x{i}", t, t - 5 * 86_400_000 + i)
        if i % 10_000 == 0:
            s.expire(t)
    s.expire(t)
    assert s.sealed_ids > dedupe._DICT_CAP  # the dicts hold at most two caps and a tick
    assert len(s) == n
    for i in range(0, n, 997):
        assert s.add(f"x{i}", t + 1000, t - 5 * 86_400_000 + i)


# -- the shards' shared recent ids (metrics/shards.py) ------------------------------------

@settings(max_examples=200, deadline=None)
@given(horizon=st.integers(48, 1000), cap=st.sampled_from([1, 3, 20, 1 << 17]),
       shards=st.integers(1, 4), ops=_ops, moves=st.lists(st.integers(0, 400), max_size=6),
       asides=st.lists(st.integers(0, 400), max_size=6))
def test_the_shards_recent_ids_are_the_plain_rule_over_every_shard(
        horizon: int, cap: int, shards: int, ops: list[tuple[str, int, int, int]],
        moves: list[int], asides: list[int]) -> None:
    """Events land on any shard (a re-sent copy on another one than its original: another
    partitioner); a shard leaves and comes back now and then (a reassignment, a checkpoint
    read back); the dicts are set aside and sealed in a copy (a forked checkpoint writer)
    whose runs come back later, or never: every answer is the plain rule's over all."""
    saved = dedupe._DICT_CAP
    dedupe._DICT_CAP = cap
    try:
        ids, m = RecentIds(horizon), _Model(horizon)
        seens = [SeenIds(horizon) for _ in range(shards)]
        slots = [ids.attach(s) for s in seens]
        adds = [ids.adder(slot) for slot in slots]
        clock = 10_000
        sent: list[tuple[str, int]] = []
        twin: RecentIds | None = None
        for i, (op, step, back, pick) in enumerate(ops):
            clock += step
            if i in asides:
                if twin is not None and pick % 5:  # the copy's runs come back (or not yet)
                    ids.install(runs_from_bytes(runs_to_bytes(twin.seal_aside())))
                    twin = None
                elif ids.set_aside():
                    twin = copy.deepcopy(ids)  # what a fork sees
            if i in moves:  # shard k leaves with its ids and is attached again
                k = pick % shards
                seen = ids.detach(slots[k])
                assert seen is seens[k]
                slots[k] = ids.attach(seen)
                adds[k] = ids.adder(slots[k])
            if op in ("expire", "edge", "check"):
                for s in seens:
                    s.expire(clock)
                ids.expire(clock)
                continue
            if op in ("resend", "reuse") and sent:
                eid, ts = sent[pick % len(sent)]
                if op == "reuse":
                    ts -= back % 50
            else:
                eid, ts = f"e{i}", clock - back
            sent.append((eid, ts))
            got = adds[(pick + i) % shards](eid, clock, ts)
            assert got == m.add(eid, clock, ts), (i, op, eid, ts, clock)
        live = sum(v > clock - horizon for v in m.accepted.values())
        assert len(ids) + sum(s.sealed_ids for s in seens) >= live
    finally:
        dedupe._DICT_CAP = saved


def test_a_shard_takes_exactly_its_own_ids_when_it_leaves() -> None:
    ids = RecentIds(1000)
    a, b = SeenIds(1000), SeenIds(1000)
    add_a, add_b = ids.adder(ids.attach(a)), ids.adder(ids.attach(b))
    assert not add_a("x", 100, 100)
    assert add_b("x", 110, 100)  # a copy on the other shard
    assert not add_b("y", 120, 120)
    ids.expire(120)
    assert ids.export(1) == ({}, {"y": 120}) or ids.export(1) == ({"y": 120}, {})
    gone = ids.detach(0)
    assert gone is a
    assert {**gone._cur, **gone._prev} == {"x": 100}
    assert not add_b("x", 130, 100)  # its ids left with it
    assert len(ids) == 2  # y, and x accepted again on b


def test_runs_sealed_an_hour_apart_are_merged_up_to_their_span_and_stay_exact() -> None:
    """The dicts hold an hour or two (horizon / 168); the runs sealed from them are merged
    while they span at most horizon / 32, so a lookup bisects as few runs as before."""
    h = 7 * 86_400_000
    s = SeenIds(h)
    t0 = 1_795_000_000_000
    hour = 3_600_000
    accepted = {}
    for k in range(24):  # one id every 10 min for 4 h, then the clock on for a day
        clock = t0 + k * hour // 6
        s.expire(clock)
        assert not s.add(f"id{k}", clock, clock - 5)
        accepted[f"id{k}"] = clock
    for clock in range(t0 + 4 * hour, t0 + 28 * hour, hour // 2):
        s.expire(clock)
    assert s.sealed_ids == 24
    runs = s._runs
    assert 2 <= len(runs) <= 3  # 4 hours of sealed periods, three merged into one
    assert all(r.hi - r.lo <= h // 32 for r in runs)
    for eid, at in accepted.items():  # each time kept to the millisecond
        assert s.is_duplicate(eid, at + h - 1)
        assert not s.is_duplicate(eid, at + h)


def test_settling_seals_dicts_above_one_shards_cap_and_every_answer_stays() -> None:
    """After a rebuild the merged dicts can hold millions of ids; before a checkpoint they
    are sealed into the shards' runs (12 bytes an id there, no id string to decode)."""
    saved = dedupe._DICT_CAP
    dedupe._DICT_CAP = 10
    try:
        h = 7 * 86_400_000
        ids = RecentIds(h)
        a, b = SeenIds(h), SeenIds(h)
        adds = [ids.adder(ids.attach(a)), ids.adder(ids.attach(b))]
        t0 = 1_795_000_000_000
        for i in range(15):
            assert not adds[i % 2](f"id{i}", t0 + i, t0 + i)
        ids.settle()
        assert len(ids) == 0
        assert a.sealed_ids + b.sealed_ids == 15
        for i in range(15):  # a copy on either shard is still a duplicate
            assert adds[(i + 1) % 2](f"id{i}", t0 + 30, t0 + i)
        assert not adds[0]("new", t0 + 30, t0 + 30)
        ids.settle()
        assert len(ids) == 1  # under the cap: nothing to do
    finally:
        dedupe._DICT_CAP = saved


def test_dicts_set_aside_are_searched_until_the_copys_runs_come_back() -> None:
    """The checkpoint writer sets the dicts aside (cheap), a forked copy seals them and
    sends the runs back: copies are duplicates throughout, a shard that left meanwhile
    keeps its ids and gets no run, and the runs come back exactly (bytes and all)."""
    saved = dedupe._DICT_CAP
    dedupe._DICT_CAP = 10
    try:
        h = 7 * 86_400_000
        ids = RecentIds(h)
        a, b, c = SeenIds(h), SeenIds(h), SeenIds(h)
        slots = [ids.attach(a), ids.attach(b), ids.attach(c)]
        adds = [ids.adder(s) for s in slots]
        t0 = 1_795_000_000_000
        for i in range(30):
            assert not adds[i % 3](f"id{i}", t0 + i, t0 + i)
        assert ids.set_aside()
        assert len(ids) == 30
        assert ids.set_aside()
        twin = copy.deepcopy(ids)  # the fork
        assert not adds[0]("new", t0 + 40, t0 + 40)
        for i in range(30):  # aside, still found, from any shard
            assert adds[(i + 1) % 3](f"id{i}", t0 + 41, t0 + i)
        gone = ids.detach(slots[2])  # c leaves with its ids while the copy seals
        assert {**gone._cur, **gone._prev} == {f"id{i}": t0 + i for i in range(2, 30, 3)}
        made = twin.seal_aside()
        assert sorted(made) == slots
        assert sum(map(len, made.values())) == 30
        back = runs_from_bytes(runs_to_bytes(made))
        assert [(r.lo, r.hi, list(r.hashes), list(r.offsets)) for r in back.values()] == [
            (r.lo, r.hi, list(r.hashes), list(r.offsets)) for r in made.values()]
        ids.install(back)
        assert len(ids) == 1
        assert a.sealed_ids == b.sealed_ids == 10
        assert c.sealed_ids == 0
        for i in range(30):
            dup = adds[i % 2](f"id{i}", t0 + 50, t0 + i)
            assert dup == (i % 3 != 2), i  # c's ids left with it
        assert len(ids) == 11  # "new", and c's ids accepted again (on a and b)
    finally:
        dedupe._DICT_CAP = saved
