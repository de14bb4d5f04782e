"""Platform scores (SPEC §7): every turn a score rule covers is decided once, within or missed.

A rule covers a turn of one of its ``channels`` whose START falls, in local time of day
(business-hours timezone), inside its ``hours``. Its deadline D is ``start + within_s`` in
wall time (``clock: wall``) or the last instant at which the business time waited in the
channel's calendar is still <= ``within_s`` (``clock: business``: D =
``calendar.deadline_ms(start, limit + 1) - 1``, so a limit used up exactly at a closing
time has D at the next opening, as the reference reads it). The decision:

- *within* at the answering agent reply, if its ts <= D;
- *missed* at D, if the turn is answered later, closed (resolve at C) with D < C, or still
  open once the clock has passed D -- with no event: a heap of deadlines is popped by
  :meth:`ScoreBook.advance` on every engine tick (live mode moves the clock by itself);
- not counted at all when closed unanswered with C <= D; never missed when D never comes
  (a calendar that does not open again).

Decisions are by event time only, so the counters are a function of the log (§2). The
risk: the clock is the largest ts of ALL partitions, so a turn can pass D on the running
clock while its own partition (a rebuild reads partitions at different event times, or a
lagging partition live) still holds the reply or the resolve with ts <= D. Choice: a
"missed" decision is provisional for as long as the turn is still open (unanswered, not
resolved, ticket not forgotten). The answering reply or the resolve revises it: a reply
with ts <= D turns it within, a resolve with C <= D uncounts it. Revising never needs the
past entry back: a *retraction* entry at the same ts D is added to the windows, and since
window membership is a function of ts alone, it cancels the missed entry in exactly the
windows that hold it, at every later clock (exposed turns = missed + within - retracted).
Why not "wait until the ticket's partition passed D": an idle partition never passes it,
and the live timer (missed at D with no event) would never fire. The cost: a turn's
``aftersales_score_turns_total`` goes down by one when a resolve with C <= D is read after
the clock passed D. During a rebuild (where nearly all revisions happen) counters are
hidden until ready; live it needs a partition lagging its peers by more than the limit
(minutes) -- a counter dip Prometheus would read as a reset, accepted for exactness (and
shown in the ``revised`` count). A reply revising missed to within only raises
``_within_total``.

Memory: per covered turn still PENDING (some rule's deadline not yet passed: seconds to
minutes after its start) one small list ``[start_ms, channel, pending, missed]`` and one
heap entry ``(D, ticket_id)`` (ids are the ticket book's strings). Once every rule covering
it has decided it missed, the turn waits for its answer, its resolve, or the state horizon
(its ticket is then forgotten and its later events are orphans) -- possibly for days, so
its missed mask is then exactly the rules that cover it, a function of ``(channel,
start)``. So with ``tells_start`` (the engine: its ticket book holds both and passes them
with every answer and resolve) such a turn is dropped at once, costing nothing, and its
record is recomputed when the answer or resolve comes: a covered open turn the book does
not hold is a decided-missed one (a turn leaves ``_open`` only decided, answered,
closed, pruned with its forgotten ticket, or replaced by the ticket's next turn). Without
it, one dict slot per such turn, ``ticket_id -> start_ms`` in the dict of its channel. Window
entries are 4 bytes each, in a :class:`~metrics.windows.SlidingWindows` of their own (3
slots per score).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

from core.business_hours import (
    ALWAYS_OPEN,
    NEVER_MS,
    BusinessHours,
    local_second_of_day,
)
from core.config import ScoreConfig
from core.events import CHANNELS, OTHER
from metrics.windows import SlidingWindows

__all__ = ["ScoreBook"]

_START, _CHAN, _PENDING, _MISSED = range(4)  # fields of an open turn's record
_CHANNELS = (*CHANNELS, OTHER)


class _Rule:
    __slots__ = ("business", "calendars", "channels", "hi_s", "lo_s", "name", "target",
                 "within_ms")

    def __init__(self, cfg: ScoreConfig, hours: BusinessHours) -> None:
        self.name = cfg.name
        self.target = cfg.target
        self.channels = frozenset(cfg.channels)
        span = cfg.span
        self.lo_s, self.hi_s = span.start_s, span.end_s
        self.within_ms = int(cfg.within_s * 1000)
        self.business = cfg.clock == "business"
        self.calendars = [hours.sla_calendar(ch) or ALWAYS_OPEN for ch in _CHANNELS]

    def deadline(self, chan: int, start_ms: int) -> int:
        """D: a reply at t is within iff t <= D; NEVER_MS when the limit never runs out."""
        if not self.business:
            return start_ms + self.within_ms
        d = self.calendars[chan].deadline_ms(start_ms, self.within_ms + 1)
        return NEVER_MS if d >= NEVER_MS else d - 1


class ScoreBook:
    """The decided turns of every score rule: counters, window counts, the deadline timers.

    The turns engine calls :meth:`turn_opened` / :meth:`turn_answered` /
    :meth:`turn_closed` in the log order of each ticket, and :meth:`advance` with the clock
    on every tick. ``clock_ms`` (optional) is the engine's clock at that event, so that an
    entry at or before it is counted at once (as the engine's own windows do).
    """

    def __init__(self, scores: Sequence[ScoreConfig], hours: BusinessHours,
                 windows: Mapping[str, int], today: ZoneInfo | None,
                 horizon_ms: int, tells_start: bool = False) -> None:
        """``tells_start``: every :meth:`turn_answered` / :meth:`turn_closed` call passes the
        turn's ``channel`` and ``start_ms`` (see Memory in the module docstring)."""
        self._tells_start = tells_start
        self._rules = [_Rule(sc, hours) for sc in scores]
        self._tz = hours.timezone
        self._chan = {c: i for i, c in enumerate(_CHANNELS)}
        self._horizon_ms = horizon_ms
        n = len(self._rules)
        self.windows = SlidingWindows(windows, 3 * n, 0, today)
        self._c_missed = [self.windows.code((3 * i,)) for i in range(n)]
        self._c_within = [self.windows.code((3 * i + 1,)) for i in range(n)]
        # (rules mask, within) -> the code of one entry deciding for all of them
        self._combined: dict[tuple[int, bool], int] = {}
        self._c_retract = [self.windows.code((3 * i + 2,)) for i in range(n)]
        self._turns = [0] * n
        self._within = [0] * n
        self.revised = 0  # provisional missed decisions revised by a later-read event
        self._open: dict[str, list[int]] = {}  # turns with a rule still pending
        # turns every covering rule decided missed, by channel: ticket id -> start_ms
        self._done: list[dict[str, int]] = [{} for _ in _CHANNELS]
        self._heap: list[tuple[int, str]] = []
        self._clock = 0
        self._next_prune = 0

    # -- the turns engine's calls ------------------------------------------------------
    def turn_opened(self, ticket_id: str, channel: str, start_ms: int) -> None:
        """A turn of ``ticket_id`` starts (the creation, or a message with no open turn)."""
        if not self._rules:
            return
        chan = self._chan.get(channel, self._chan[OTHER])
        for done in self._done:  # a forgotten ticket's id created again
            if done:
                done.pop(ticket_id, None)
        mask = self._covering(channel, start_ms)
        if not mask:
            self._open.pop(ticket_id, None)
            return
        self._open[ticket_id] = [start_ms, chan, mask, 0]
        d = self._next_deadline(start_ms, chan, mask)
        if d < NEVER_MS:
            heapq.heappush(self._heap, (d, ticket_id))

    def turn_answered(self, ticket_id: str, ts_ms: int, clock_ms: int = 0,
                      channel: str | None = None, start_ms: int | None = None) -> None:
        """The open turn's answering agent reply at ``ts_ms``: within, or missed at D.
        ``channel``, ``start_ms``: the ticket's and the turn's (see ``tells_start``)."""
        clock = max(clock_ms, self._clock)
        within = 0
        missed_at: dict[int, int] = {}
        for i, d, pending, missed in self._ending(ticket_id, channel, start_ms):
            if ts_ms <= d:
                if missed:  # provisional missed (clock ran past D first): revise
                    self._retract(i, d, clock)
                within |= 1 << i
            elif pending:
                missed_at[d] = missed_at.get(d, 0) | 1 << i
        if within:
            self._decide(within, ts_ms, True, clock)
        for d, mask in missed_at.items():
            self._decide(mask, d, False, clock)

    def turn_closed(self, ticket_id: str, ts_ms: int, clock_ms: int = 0,
                    channel: str | None = None, start_ms: int | None = None) -> None:
        """The open turn closed unanswered (resolve at ``ts_ms``): missed iff D < it.
        ``channel``, ``start_ms``: the ticket's and the turn's (see ``tells_start``)."""
        clock = max(clock_ms, self._clock)
        missed_at: dict[int, int] = {}
        for i, d, pending, missed in self._ending(ticket_id, channel, start_ms):
            if d < ts_ms:
                if pending:
                    missed_at[d] = missed_at.get(d, 0) | 1 << i
            elif missed:  # closed before the limit ran out: not counted after all
                self._retract(i, d, clock)
        for d, mask in missed_at.items():
            self._decide(mask, d, False, clock)

    def _ending(self, ticket_id: str, channel: str | None,
                start_ms: int | None) -> Iterator[tuple[int, int, bool, bool]]:
        """The rules an ending turn still concerns: (rule index, its deadline D, pending,
        provisionally missed); nothing when the book holds no such turn."""
        rec = self._record(ticket_id, channel, start_ms)
        if rec is None:
            return
        start, chan, pending, missed = rec
        for i, r in enumerate(self._rules):
            bit = 1 << i
            if (pending | missed) & bit:
                yield i, r.deadline(chan, start), bool(pending & bit), bool(missed & bit)

    def advance(self, clock_ms: int) -> None:
        """Move to the clock: decide every open turn whose deadline it passed (D <= clock,
        with no event), slide the windows, drop what the state horizon forgot."""
        if clock_ms < self._clock:
            return
        self._clock = clock_ms
        self.windows.advance(clock_ms)
        heap, opened = self._heap, self._open
        while heap and heap[0][0] <= clock_ms:
            _, tid = heapq.heappop(heap)
            rec = opened.get(tid)
            if rec is None or not rec[_PENDING]:
                continue  # answered, closed, or an earlier turn's entry
            start, chan = rec[_START], rec[_CHAN]
            missed_at: dict[int, int] = {}
            for i, r in enumerate(self._rules):
                bit = 1 << i
                if rec[_PENDING] & bit:
                    d = r.deadline(chan, start)
                    if d <= clock_ms:
                        missed_at[d] = missed_at.get(d, 0) | bit
                        rec[_PENDING] &= ~bit
                        rec[_MISSED] |= bit
            for d, mask in missed_at.items():
                self._decide(mask, d, False, clock_ms)
            if rec[_PENDING]:
                d = self._next_deadline(start, chan, rec[_PENDING])
                if d < NEVER_MS:
                    heapq.heappush(heap, (d, tid))
            elif rec[_MISSED] == self._covering(_CHANNELS[chan], start):
                del opened[tid]  # decided: recomputed (or one dict slot) at its answer
                if not self._tells_start:
                    self._done[chan][tid] = start
        if clock_ms >= self._next_prune:
            self._prune(clock_ms)

    # -- reads -------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [r.name for r in self._rules]

    def targets(self) -> dict[str, float]:
        return {r.name: r.target for r in self._rules}

    def turns_total(self) -> dict[str, int]:
        return {r.name: n for r, n in zip(self._rules, self._turns, strict=True)}

    def within_total(self) -> dict[str, int]:
        return {r.name: n for r, n in zip(self._rules, self._within, strict=True)}

    def window(self, name: str) -> tuple[dict[str, int], dict[str, int]]:
        """(decided turns, within) per score, decided inside the window ``name``."""
        if not self._rules:
            return {}, {}
        c = self.windows.counts(name)
        turns = {r.name: c[3 * i] + c[3 * i + 1] - c[3 * i + 2]
                 for i, r in enumerate(self._rules)}
        within = {r.name: c[3 * i + 1] for i, r in enumerate(self._rules)}
        return turns, within

    def open_turns(self) -> int:
        """Covered turns held (pending or provisionally missed; with ``tells_start`` the
        decided-missed ones are not held)."""
        return len(self._open) + sum(map(len, self._done))

    # -- internals ---------------------------------------------------------------------
    def _covering(self, channel: str, start_ms: int) -> int:
        """The mask of the rules covering a turn of ``channel`` starting at ``start_ms``."""
        sec = local_second_of_day(start_ms, self._tz)
        mask = 0
        for i, r in enumerate(self._rules):
            if channel in r.channels and (r.lo_s <= sec < r.hi_s or sec < r.hi_s - 86_400):
                mask |= 1 << i
        return mask

    def _record(self, ticket_id: str, channel: str | None,
                start_ms: int | None) -> list[int] | None:
        """Remove and return the ticket's open covered turn, ``[start, chan, pending,
        missed]``; None when it has none."""
        rec = self._open.pop(ticket_id, None) if self._open else None
        if rec is not None:
            return rec
        if self._tells_start and channel is not None and start_ms is not None:
            mask = self._covering(channel, start_ms)  # decided missed by every rule
            if not mask:
                return None
            return [start_ms, self._chan.get(channel, self._chan[OTHER]), 0, mask]
        if channel is None:
            chans: range | tuple[int] = range(len(_CHANNELS))
        else:
            chans = (self._chan.get(channel, self._chan[OTHER]),)
        for chan in chans:
            done = self._done[chan]
            start = done.pop(ticket_id, None) if done else None
            if start is not None:
                return [start, chan, 0, self._covering(_CHANNELS[chan], start)]
        return None

    def _next_deadline(self, start: int, chan: int, mask: int) -> int:
        return min((r.deadline(chan, start) for i, r in enumerate(self._rules) if mask >> i & 1),
                   default=NEVER_MS)

    def _decide(self, mask: int, ts_ms: int, within: bool, clock: int) -> None:
        """The rules of ``mask`` decide the turn at ``ts_ms``, all within or all missed:
        ONE window entry, whose code counts it for each of them (rules with the same
        limit, e.g. the shipped Taobao and Douyin 3-minute rules, decide a turn at the
        same instant: one 4-byte entry instead of one per rule)."""
        code = self._combined.get((mask, within))
        if code is None:
            slots = [3 * i + (1 if within else 0) for i in range(len(self._rules))
                     if mask >> i & 1]
            code = self._combined[(mask, within)] = self.windows.code(slots)
        m, i = mask, 0
        while m:
            if m & 1:
                self._turns[i] += 1
                if within:
                    self._within[i] += 1
            m >>= 1
            i += 1
        self.windows.count(ts_ms, code, clock)

    def _retract(self, i: int, d: int, clock: int) -> None:
        """Take back a provisional missed decision at D (a retraction entry at D)."""
        self._turns[i] -= 1
        self.revised += 1
        self.windows.count(d, self._c_retract[i], clock)

    def _prune(self, clock_ms: int) -> None:
        """Forget decided-missed turns older than the state horizon: their ticket is
        forgotten (its later events are orphans), so nothing can revise them any more.
        Pending turns stay: they are still decided by their deadline."""
        cut = clock_ms - self._horizon_ms
        stale = [t for t, rec in self._open.items() if not rec[_PENDING] and rec[_START] < cut]
        for t in stale:
            del self._open[t]
        for done in self._done:
            for t in [t for t, start in done.items() if start < cut]:
                del done[t]
        self._next_prune = clock_ms + 3_600_000
