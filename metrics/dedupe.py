"""Event ids remembered for the state horizon, for duplicate detection (SPEC §1, §2).

The rule, exact up to hash collisions: an id is a duplicate at clock ``c`` when an event
with that id was accepted at a time ``s > c - horizon``; ``s`` is the clock it was
accepted at, or its own ``ts`` when that is later (a live event a little ahead of the
wall clock). An event whose ``ts`` is itself older than the horizon is a duplicate too
(its original, if any, would have been forgotten: it cannot be told from a re-sent copy,
and it could change no state, its ticket being forgotten as well).

A week of a large platform is ~6.2 M ids, so ids are kept in two forms:

* **recent** — the ids accepted in the current and the previous *period* (horizon / 168,
  1 h at 7 days; longer while events arrive far behind the clock, see
  :meth:`SeenIds.expire`), in two dicts
  ``event_id -> s``: the lookup of an event is one dict probe (two just after a period
  ends), at C speed, as before;
* **sealed** — when a period ends, the older dict becomes a *run*: the 64-bit hashes of
  its ids, sorted, in an ``array('q')``, and each id's ``s`` exactly, as an unsigned
  offset from the run's start in a parallel ``array('I')``: 12 bytes per id, built by
  C-level ``map``/``sorted`` passes (no per-id Python code). A run leaves whole when its
  newest id is older than the horizon. Every three new runs are merged into one when
  they span at most horizon / 32 (5.25 h): the dicts (~130 B an id with its string)
  hold an hour or two, where they held 3.5 to 7 hours (89 → 45 B per event of a day of
  deliveries, bench.memory), and a lookup still bisects at most ~50 runs.

The older dict and the runs are searched only for an event whose ``ts`` is earlier than
the newest time they hold (``_prev_hi``, ``_sealed_hi``): a re-sent copy carries its
original's ``ts``, and the original was accepted at ``s >= ts``, so a copy whose ``ts`` is
later has its original, if any, in a newer form. The rule is therefore exact for every
copy whose ``ts`` is not later than its original's ``s`` (any re-delivery, re-send or
replay of the same event); an id re-used by another event with a later ``ts`` is caught
while its original is in the newer dict, not always after. The runs searched are those
ending after the copy's ``ts``, oldest first: a re-sent copy is found in the first one or
two (its original was accepted close to its ``ts``); a never-seen event with an old ``ts``
(a first backfill) costs a ``bisect`` in each (bench/dedupe.py measures both).

The hash of a run is blake2b's, 64 bits (:func:`stable_hash`), computed once per id when
its period is sealed and for an old-``ts`` lookup (~0.5 µs each). It was Python's own
salted ``hash(str)``, free because the dict lookup had computed it; but a run is part of
the shard's checkpoint (metrics/checkpoint.py), read back by another process whose salt
differs. Unkeyed, it lets whoever writes event ids aim collisions at it (~2³² work for
one pair; the effect: one genuine event counted as a duplicate). Among n remembered ids
some pair shares a hash with probability ≈ n²/2⁶⁵ (≈ 1 × 10⁻⁶ at 6.2 M ids); a collision
makes a genuine event count as a duplicate.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from hashlib import blake2b
from itertools import chain, repeat
from operator import add, and_, lshift, or_, rshift, sub
from struct import Struct

__all__ = ["RecentIds", "SeenIds", "runs_from_bytes", "runs_to_bytes"]

_PERIODS = 168  # per horizon: how long an id stays in a dict (one to two periods)
_RUN_SPANS = 32  # per horizon: the longest span of event times a merged run holds
_MERGE = 3  # sealed runs merged into one (each id is re-sorted once)
_DICT_CAP = 1 << 20  # ids in the two dicts that seal the older one whatever (expire)
_LAGGING = 64  # more than 1/64 of a period's ids behind the older dict: do not seal it
_OFF_BITS = 42  # offset bits in a sort key (h << 42 | offset): 139 years of ms
_OFF_MASK = (1 << _OFF_BITS) - 1


def stable_hash(event_id: str) -> int:
    """The 64-bit hash a run keeps of an id: the same in every process, so that a run can
    be checkpointed and read back by the next one (``hash(str)`` is salted per process)."""
    return int.from_bytes(blake2b(event_id.encode("utf-8", "surrogatepass"),
                                  digest_size=8).digest(), "little", signed=True)


class _Run:
    """The ids of one sealed period: sorted hashes, and each one's time exactly."""

    __slots__ = ("hashes", "hi", "lo", "offsets")

    def __init__(self, ids: dict[str, int], shift: int = 0) -> None:
        """``shift``: the times are the values shifted right by it (RecentIds' tags)."""
        times = ids.values() if not shift else list(map(rshift, ids.values(), repeat(shift)))
        self.lo = lo = min(times)
        self.hi = max(times) + 1  # every time in the run is in [lo, hi)
        keys = sorted(
            map(or_, map(lshift, map(stable_hash, ids), repeat(_OFF_BITS)),
                map(sub, times, repeat(lo)))
        )
        self.hashes = array("q", map(rshift, keys, repeat(_OFF_BITS)))
        code = "I" if self.hi - lo <= 1 << 32 else "q"
        self.offsets = array(code, map(and_, keys, repeat(_OFF_MASK)))

    @classmethod
    def merged(cls, runs: list[_Run]) -> _Run:
        """One run of several (one sorted pass at C speed, every time kept exactly)."""
        new = cls.__new__(cls)
        new.lo = lo = min(r.lo for r in runs)
        new.hi = max(r.hi for r in runs)
        keys = sorted(chain(*(
            map(or_, map(lshift, r.hashes, repeat(_OFF_BITS)),
                map(add, r.offsets, repeat(r.lo - lo)))
            for r in runs)))
        new.hashes = array("q", map(rshift, keys, repeat(_OFF_BITS)))
        code = "I" if new.hi - lo <= 1 << 32 else "q"
        new.offsets = array(code, map(and_, keys, repeat(_OFF_MASK)))
        return new

    def accepted_after(self, h: int, floor: int) -> bool:
        """Whether hash ``h`` was accepted here at a time after ``floor``."""
        hashes = self.hashes
        i = bisect_left(hashes, h)
        n = len(hashes)
        while i < n and hashes[i] == h:  # equal hashes: the same id, re-accepted
            if self.lo + self.offsets[i] > floor:
                return True
            i += 1
        return False

    def __len__(self) -> int:
        return len(self.hashes)


_RUN_HEAD = Struct("<Hqq1sQ")  # slot, lo, hi, the offsets' typecode, ids


def runs_to_bytes(made: dict[int, _Run]) -> bytes:
    """The runs :meth:`RecentIds.seal_aside` made, as bytes (from a forked child)."""
    out = []
    for slot, r in made.items():
        out += [_RUN_HEAD.pack(slot, r.lo, r.hi, r.offsets.typecode.encode(), len(r)),
                r.hashes.tobytes(), r.offsets.tobytes()]
    return b"".join(out)


def runs_from_bytes(data: bytes) -> dict[int, _Run]:
    """:func:`runs_to_bytes` back (bytes written by this program's own child)."""
    made: dict[int, _Run] = {}
    view, at = memoryview(data), 0
    while at < len(data):
        slot, lo, hi, code, n = _RUN_HEAD.unpack_from(view, at)
        at += _RUN_HEAD.size
        r = _Run.__new__(_Run)
        r.lo, r.hi = lo, hi
        r.hashes = array("q")
        r.hashes.frombytes(view[at:at + 8 * n])
        at += 8 * n
        r.offsets = array(code.decode())
        size = r.offsets.itemsize * n
        r.offsets.frombytes(view[at:at + size])
        at += size
        made[slot] = r
    return made


class SeenIds:
    """Accepted event ids and the time each was accepted at, for one horizon."""

    __slots__ = (
        "_cur",
        "_his",
        "_horizon_ms",
        "_lagging",
        "_period_ms",
        "_prev",
        "_prev_hi",
        "_run_span_ms",
        "_runs",
        "_sealed_hi",
        "_switch_at",
        "_unmerged",
    )

    def __init__(self, window_ms: int) -> None:
        """``window_ms``: how long an id is remembered (the state horizon)."""
        self._horizon_ms = window_ms
        self._period_ms = max(1, window_ms // _PERIODS)
        self._run_span_ms = max(1, window_ms // _RUN_SPANS)
        self._cur: dict[str, int] = {}  # ids accepted since the period began …
        self._prev: dict[str, int] = {}  # … and in the period before
        self._switch_at: float = float("-inf")  # the clock the period ends at
        self._runs: list[_Run] = []  # sealed periods, oldest first
        self._his: list[int] = []  # their ends, non-decreasing (for bisect)
        self._prev_hi: float = float("-inf")  # every id in _prev was accepted before it
        self._sealed_hi: float = float("-inf")  # … every id in a run before this
        self._lagging = 0  # events this period with a ts before _prev_hi
        self._unmerged = 0  # runs sealed since the last merge

    # -- the hot path ----------------------------------------------------------------
    def add(self, event_id: str, clock_ms: int, ts_ms: int) -> bool:
        """True when ``event_id`` is a duplicate at ``clock_ms`` (nothing is stored);
        otherwise remember it at ``max(clock_ms, ts_ms)`` and return False.
        ``clock_ms`` never decreases from one call to the next (the engine's clock)."""
        floor = clock_ms - self._horizon_ms
        if ts_ms <= floor:
            return True  # older than the horizon (module docstring)
        s = self._cur.get(event_id)
        if s is None and ts_ms < self._prev_hi:  # else its original is not in _prev
            s = self._prev.get(event_id)
            self._lagging += 1
        if (s is not None and s > floor) or (
            ts_ms < self._sealed_hi and self._sealed(event_id, ts_ms, floor)
        ):
            return True
        self._cur[event_id] = clock_ms if clock_ms > ts_ms else ts_ms
        return False

    # -- the plain interface (tests, tools) ------------------------------------------
    def is_duplicate(self, event_id: str, clock_ms: int) -> bool:
        """Whether ``event_id`` was accepted after ``clock - horizon`` (any ``ts``)."""
        floor = clock_ms - self._horizon_ms
        s = self._cur.get(event_id)
        if s is None:
            s = self._prev.get(event_id)
        return (s is not None and s > floor) or self._sealed(event_id, floor, floor)

    def remember(self, event_id: str, clock_ms: int) -> None:
        """Remember ``event_id`` as accepted at ``clock_ms`` (which never decreases)."""
        self._cur[event_id] = clock_ms

    def expire(self, clock_ms: int) -> None:
        """Called with the clock now and then (every snapshot): ends the period when it
        is over, and drops the runs whose ids were all accepted at or before
        ``clock - horizon``.

        At the end of a period the older dict is sealed into a run unless more than
        1/64 of the period's events had a ``ts`` before its newest time: then events
        still arrive that far behind the clock — partitions read in fetch order on a
        rebuild, a sparse topic hours or days ahead of a dense one, a clock that went
        live while a partition was behind — and sealing it would send each of them to
        the runs; the two dicts are merged instead, until the laggards catch up or the
        dicts hold ``_DICT_CAP`` ids (~180 MiB at most, a day of the large platform: the
        dict before this one held a day always)."""
        held = len(self._cur) + len(self._prev)
        if clock_ms >= self._switch_at or held > _DICT_CAP:
            self._switch(clock_ms, held > _DICT_CAP or self._lagging * _LAGGING <= len(self._cur))
        floor = clock_ms - self._horizon_ms
        gone = bisect_right(self._his, floor + 1)  # runs whose every time is <= floor
        if gone:
            del self._runs[:gone]
            del self._his[:gone]

    def __len__(self) -> int:
        """Ids held (including those past the horizon whose run has not left yet)."""
        return len(self._cur) + len(self._prev) + sum(map(len, self._runs))

    @property
    def sealed_bytes(self) -> int:
        """Bytes of the sealed runs' arrays (the dicts are measured by RSS)."""
        return sum(
            len(r.hashes) * 8 + len(r.offsets) * r.offsets.itemsize for r in self._runs
        )

    @property
    def sealed_ids(self) -> int:
        return sum(map(len, self._runs))

    # -- internals -------------------------------------------------------------------
    def _switch(self, clock_ms: int, seal: bool) -> None:
        """A period is over: the older dict becomes a run (``seal``) or takes the newer
        one's ids; the newer one starts empty."""
        floor = clock_ms - self._horizon_ms
        prev, cur = self._prev, self._cur
        cur_hi = max(cur.values()) + 1 if cur else float("-inf")
        if seal or not prev:
            if prev and self._prev_hi - 1 > floor:
                self._append(_Run(prev))
            self._prev, self._prev_hi = cur, cur_hi
        else:
            prev.update(cur)  # a re-accepted id keeps its newer time
            self._prev_hi = max(self._prev_hi, cur_hi)
        if self._prev_hi - 1 <= floor:
            self._prev = {}  # the clock jumped past all of them
            self._prev_hi = float("-inf")
        self._cur = {}
        self._lagging = 0
        self._switch_at = clock_ms + self._period_ms

    def _append(self, run: _Run) -> None:
        runs, his = self._runs, self._his
        runs.append(run)
        his.append(max(run.hi, his[-1]) if his else run.hi)
        self._sealed_hi = his[-1]
        self._merge_newest()

    def _merge_newest(self) -> None:
        """Every ``_MERGE`` runs sealed since the last merge become one (or the newest
        two do) when they span at most horizon / 32: each id is re-sorted about once, and
        a lookup bisects about as many runs as when a period was 3.5 h long. Periods
        last longer than an hour when the clock moves by more between two ticks (a
        rebuild folds hours of events per tick): the span bound keeps such runs apart."""
        runs, his = self._runs, self._his
        self._unmerged += 1
        if self._unmerged < _MERGE:
            return
        self._unmerged = 0
        for take in range(min(_MERGE, len(runs)), 1, -1):
            newest = runs[-take:]
            if max(r.hi for r in newest) - min(r.lo for r in newest) <= self._run_span_ms:
                runs[-take:] = [_Run.merged(newest)]
                his[-take:] = [his[-1]]
                return

    def _sealed(self, event_id: str, ts_ms: int, floor: int) -> bool:
        """Whether a run holds ``event_id`` accepted after ``floor``: only runs with a
        time ``>= ts`` and ``> floor`` can (the original was accepted at or after its
        ts)."""
        if not self._his:
            return False
        return self._sealed_hash(stable_hash(event_id), ts_ms, floor)

    def _sealed_hash(self, h: int, ts_ms: int, floor: int) -> bool:
        his = self._his
        if not his:
            return False
        runs = self._runs
        for i in range(bisect_right(his, max(ts_ms, floor + 1)), len(runs)):
            if runs[i].accepted_after(h, floor):
                return True
        return False


_TAG = 16  # low bits of a RecentIds value: the shard's slot
_SLOT = (1 << _TAG) - 1


class RecentIds:
    """The recent ids of every shard of a process (metrics/shards.py) in ONE pair of dicts
    ``event_id -> s << 16 | slot``, the shard that accepted each in the low bits.

    Why one pair: an event re-sent by a client whose partitioner differs lands on another
    partition than its original, so a shard's duplicate check must see every shard's ids;
    with a dict per shard that took a second, process-wide index (each recent id held
    twice, two more dict operations per event). Here the lookup is the single engine's:
    one probe. What belongs to a shard is read back from the slot: its recent ids for its
    checkpoint (:meth:`export`), its runs when a period is sealed (each shard keeps its own
    sealed runs in its :class:`SeenIds`, whose dicts stay empty while it is attached),
    and what leaves with it (:meth:`detach`). The rule and the periods are
    :class:`SeenIds`' (module docstring); the clock is the shards' shared one.
    """

    __slots__ = ("_aside", "_aside_hi", "_aside_owners", "_cache", "_cur", "_gen",
                 "_horizon_ms", "_lagging", "_period_ms", "_prev", "_prev_hi", "_rewrites",
                 "_sealed_hi", "_shards", "_switch_at")

    def __init__(self, window_ms: int) -> None:
        self._horizon_ms = window_ms
        self._period_ms = max(1, window_ms // _PERIODS)
        self._cur: dict[str, int] = {}
        self._prev: dict[str, int] = {}
        self._switch_at: float = float("-inf")
        self._prev_hi: float = float("-inf")
        self._sealed_hi: float = float("-inf")  # the newest time in any shard's runs
        self._lagging = 0
        self._shards: dict[int, SeenIds] = {}  # slot -> the shard's ids (its runs)
        self._gen = 0  # changes whenever the dicts change other than by an add
        self._rewrites = 0  # adds that replaced an id past the horizon
        self._cache: tuple[tuple[int, ...], dict[int, tuple[dict[str, int], dict[str, int]]]] \
            = ((), {})
        # dicts set aside to be sealed elsewhere (:meth:`set_aside`), older first, still
        # searched like the runs; the shards they were set aside for, by slot
        self._aside: list[dict[str, int]] = []
        self._aside_hi: float = float("-inf")
        self._aside_owners: dict[int, SeenIds] = {}

    def __len__(self) -> int:
        """Recent ids held (of every shard), those set aside for a seal included."""
        return len(self._cur) + len(self._prev) + sum(map(len, self._aside))

    @property
    def attached(self) -> int:
        return len(self._shards)

    # -- shards ------------------------------------------------------------------------
    def attach(self, seen: SeenIds) -> int:
        """Take a shard's ids in (a new shard, or one loaded from a checkpoint): its recent
        ids move into the shared dicts under a new slot, its runs stay with it."""
        slot = next(i for i in range(len(self._shards) + 1) if i not in self._shards)
        if slot > _SLOT:
            raise ValueError(f"more than {_SLOT + 1} shards in one process")
        self._shards[slot] = seen
        cur = self._cur
        for d in (seen._prev, seen._cur):  # the newer dict last: its time wins
            for k, s in d.items():
                v = cur.get(k)
                if v is None or v >> _TAG < s:
                    cur[k] = s << _TAG | slot
        seen._cur, seen._prev, seen._prev_hi = {}, {}, float("-inf")
        self._gen += 1
        self._newest_sealed()
        return slot

    def detach(self, slot: int) -> SeenIds:
        """Take a shard's ids out (its partition is dropped): they go back into its own
        :class:`SeenIds`, which is returned."""
        cur, prev = self.export(slot)
        seen = self._shards.pop(slot)
        seen._cur, seen._prev = dict(cur), dict(prev)
        seen._prev_hi = (max(seen._prev.values()) + 1) if seen._prev else float("-inf")
        for d in (self._cur, self._prev, *self._aside):
            for k in [k for k, v in d.items() if v & _SLOT == slot]:
                del d[k]
        self._aside_owners.pop(slot, None)  # the runs made of them do not come back to it
        self._gen += 1
        self._newest_sealed()
        return seen

    def export(self, slot: int) -> tuple[dict[str, int], dict[str, int]]:
        """A shard's recent ids as :class:`SeenIds` holds them (newer dict, older dict),
        for its checkpoint. The split of all shards is made once and kept while the dicts
        do not change otherwise than by adds (a checkpoint round asks every shard)."""
        key = (self._gen, len(self._cur), len(self._prev), self._rewrites)
        if self._cache[0] != key:
            self._cache = (key, self._split())
        return self._cache[1].get(slot, ({}, {}))

    def _split(self) -> dict[int, tuple[dict[str, int], dict[str, int]]]:
        cur, prev = _by_slot(self._cur), _by_slot(*self._aside, self._prev)
        return {slot: (cur.get(slot, {}), prev.get(slot, {})) for slot in self._shards}

    # -- the hot path ------------------------------------------------------------------
    def adder(self, slot: int) -> Callable[[str, int, int], bool]:
        """The shard's ``SeenIds.add``: the same rule over every shard's ids, remembering
        the id under ``slot``."""
        horizon = self._horizon_ms
        ids = self

        def add(event_id: str, clock_ms: int, ts_ms: int) -> bool:
            floor = clock_ms - horizon
            if ts_ms <= floor:
                return True  # older than the horizon
            v = ids._cur.get(event_id)
            if v is None and ts_ms < ids._prev_hi:
                v = ids._prev.get(event_id)
                ids._lagging += 1
            if v is not None:
                if v >> _TAG > floor:
                    return True
                ids._rewrites += 1
            if ts_ms < ids._sealed_hi and ids._sealed(event_id, ts_ms, floor):
                return True
            ids._cur[event_id] = (clock_ms if clock_ms > ts_ms else ts_ms) << _TAG | slot
            return False

        return add

    def _sealed(self, event_id: str, ts_ms: int, floor: int) -> bool:
        if ts_ms < self._aside_hi:
            for d in reversed(self._aside):  # the newer one first: its time wins
                v = d.get(event_id)
                if v is not None:
                    if v >> _TAG > floor:
                        return True
                    break
        h = stable_hash(event_id)  # once for every shard
        for s in self._shards.values():
            if ts_ms < s._sealed_hi and s._sealed_hash(h, ts_ms, floor):
                return True
        return False

    def _newest_sealed(self) -> None:
        self._sealed_hi = max(max((s._sealed_hi for s in self._shards.values()),
                                  default=float("-inf")), self._aside_hi)

    # -- the periods -------------------------------------------------------------------
    def expire(self, clock_ms: int) -> None:
        """:meth:`SeenIds.expire` for the shared dicts (each shard drops its own runs).
        The dicts may hold ``_DICT_CAP`` ids per shard, as a dict per shard could: on a
        rebuild the partitions are read in fetch order, hours or days apart, and sealing
        sooner sends every event of a partition behind the others to the sealed runs of
        all shards (a hash and a bisection per run: the 6.2 M-event rebuild took 30 % more
        CPU with one cap for the process)."""
        held = len(self._cur) + len(self._prev)
        cap = _DICT_CAP * max(1, len(self._shards))
        if clock_ms >= self._switch_at or held > cap:
            self._switch(clock_ms, held > cap or self._lagging * _LAGGING <= len(self._cur))

    def settle(self) -> None:
        """Seal both dicts into the shards' runs when they hold more than one shard's cap
        (after a rebuild: its partitions were read hours apart, so the periods were merged,
        not sealed). A checkpoint then carries 12-byte run entries, not id strings (the
        6.2 M-event restart decoded millions of them: 25 s), and the dicts' memory is
        freed. Exact like every seal; until the clock passes the newest sealed id, a late
        event is looked up in the runs."""
        if self.set_aside():
            self.seal_aside()

    # -- a seal made in another process (consumers/checkpoint_writer.py) ----------------
    def set_aside(self) -> bool:
        """Set both dicts aside for a seal when they hold more than one shard's cap (see
        :meth:`settle`), and start new ones; True when dicts are aside (now or still, from
        a seal that did not come back). Cheap: the seal (a hash and a sort per id, ~20 s
        for the 6 M ids after a rebuild) is made by :meth:`seal_aside`, in a forked copy
        of the process while this one reads on, and :meth:`install` takes its runs in.
        Until then the ids set aside are searched like the runs."""
        if self._aside:
            return True
        if len(self._cur) + len(self._prev) <= _DICT_CAP:
            return False
        self._aside = [d for d in (self._prev, self._cur) if d]
        self._aside_hi = max(self._prev_hi, _newest(self._cur))
        self._aside_owners = dict(self._shards)
        self._prev, self._cur, self._prev_hi = {}, {}, float("-inf")
        self._lagging = 0
        self._gen += 1
        self._newest_sealed()
        return True

    def seal_aside(self) -> dict[int, _Run]:
        """Seal the dicts set aside into their shards' runs here; the run of each slot."""
        owners = self._aside_owners
        made = {slot: _Run(part) for slot, part in _by_slot(*self._aside).items()
                if slot in owners}
        self.install(made)
        return made

    def install(self, made: dict[int, _Run]) -> None:
        """Take in the runs :meth:`seal_aside` made of the dicts set aside (in a forked
        copy of this process), and drop those dicts. A shard that left meanwhile took its
        ids with it (:meth:`detach`): its run is not installed."""
        for slot, run in made.items():
            owner = self._shards.get(slot)
            if owner is not None and owner is self._aside_owners.get(slot):
                owner._append(run)
        self._drop_aside()

    def _drop_aside(self) -> None:
        self._aside, self._aside_hi, self._aside_owners = [], float("-inf"), {}
        self._gen += 1
        self._newest_sealed()

    def _switch(self, clock_ms: int, seal: bool) -> None:
        floor = clock_ms - self._horizon_ms
        prev, cur = self._prev, self._cur
        cur_hi = _newest(cur)
        if seal or not prev:
            if prev and self._prev_hi - 1 > floor:
                self._seal(prev)
            self._prev, self._prev_hi = cur, cur_hi
        else:
            prev.update(cur)  # a re-accepted id keeps its newer time
            self._prev_hi = max(self._prev_hi, cur_hi)
        if self._prev_hi - 1 <= floor:
            self._prev = {}
            self._prev_hi = float("-inf")
        self._cur = {}
        self._lagging = 0
        self._switch_at = clock_ms + self._period_ms
        self._gen += 1

    def _seal(self, ids: dict[str, int]) -> None:
        """The older dict becomes a run in each shard that accepted some of its ids."""
        if len(self._shards) == 1:
            (only,) = self._shards.values()
            only._append(_Run(ids, _TAG))
        else:
            for slot, part in _by_slot(ids).items():
                owner = self._shards.get(slot)
                if owner is not None:
                    owner._append(_Run(part))
        self._newest_sealed()


def _newest(ids: dict[str, int]) -> float:
    """Just past the newest time in a dict of tagged ids (-inf when empty)."""
    return (max(ids.values()) >> _TAG) + 1 if ids else float("-inf")


def _by_slot(*dicts: dict[str, int]) -> dict[int, dict[str, int]]:
    """Tagged ids split by the shard's slot, each with its time untagged (of several
    dicts, older first: a later dict's time wins)."""
    parts: dict[int, dict[str, int]] = {}
    for ids in dicts:
        for k, v in ids.items():
            part = parts.get(v & _SLOT)
            if part is None:
                part = parts[v & _SLOT] = {}
            part[k] = v >> _TAG
    return parts
