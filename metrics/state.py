"""Per-ticket and per-return state, with the indexes the state gauges need.

Open tickets are indexed by creation in sorted lists per channel (unanswered) and per
priority (open), so "how many are older than the SLA" and "which are the oldest" are a
bisection, not a scan, at any backlog size. An unanswered ticket (open, no agent reply)
is either still in its first turn (in ``awaiting``) or was reopened unanswered (in
``unanswered_idle``): the unanswered ones of a channel are those two disjoint indexes
(:meth:`TicketBook.unanswered`), so the usual unanswered ticket costs one index slot, not
two.

A ticket is kept small (it is most of the memory of a large backlog): no object of its
own but its id string and ONE ``int``, its *key* ``(created_ms - base_ms) << row_bits |
row`` (a 60-bit int: 32 bytes). The key is the value of the dict ``id -> key``, the entry
of every index holding the ticket, and its own sort key (``(created_ms, row)``: unique).
Its row addresses flat columns: the id (the dict's own string: a list slot), the
:class:`Profile` (labels and flags, shared by every ticket with the same channel,
category, priority, region and flags: a list slot) and the start of an open later turn
(``array('q')``). Before, a ticket was a tuple ``(created_ms, ticket_id, profile)`` (64 B)
with its ``created_ms`` int (32 B) and a flag change swapped the tuple in every index;
now a flag change rewrites one column slot and no index moves. Index entries sort by
``(created, row)``, not by id: readers that list tickets in ``(start, id)`` order (the
act-now list) sort the entries of one instant by id themselves.

Conversation turns (SPEC §7): the AWAITING flag says a turn is open. The first turn starts
at the creation; a later turn (opened by a customer message) has its start in
``starts[row]`` while it is open (:data:`_NO_TURN` otherwise). The open turns of a channel
are in two indexes: ``awaiting`` the first turns (ticket keys, sorted by creation =
start) and ``awaiting_later`` the later ones, as ``(start - base_ms) << row_bits | row``
(sorted by start) in a :class:`~metrics.sortedarray.SortedArray`: 8 bytes in an array, no
int object (a SortedList slot and its fresh 60-bit int cost 40). Readers merge the two by
start.

A channel with a business-hours calendar keeps its open tickets in ``open_by_calendar``
(by priority and channel) instead of ``open_by_priority``: overdue by business time is a
prefix of each list only when one calendar orders it. Without calendars nothing changes.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from itertools import product
from typing import Any, Final

from sortedcontainers import SortedList

from metrics.sortedarray import SortedArray

__all__ = [
    "AGENT",
    "AWAITING",
    "ESCALATED",
    "OPEN",
    "REOPENED",
    "TRANSFERRED",
    "Profile",
    "ReturnBook",
    "TicketBook",
    "requested_ms",
]

OPEN = 1
AGENT = 2  # an agent has replied
TRANSFERRED = 4
ESCALATED = 8
REOPENED = 16
AWAITING = 32  # a conversation turn is open (the customer waits for an agent reply)
_FLAG_SLOTS = 64
_NO_TURN: Final = -(1 << 63)  # starts[row] of a ticket without an open later turn


class Profile:
    """The labels and flags of a ticket: immutable, shared by every ticket with the same
    labels and flags. Siblings (same labels, other flags) share one family list."""

    __slots__ = ("_family", "_table", "backlog_key", "category", "channel", "flags", "index",
                 "open_index", "priority", "region", "sla_key")

    def __init__(self, channel: str, category: str, priority: str, region: str,
                 flags: int = OPEN, family: list[Profile | None] | None = None,
                 open_index: SortedList | None = None,
                 table: list[Profile] | None = None) -> None:
        self.channel = channel
        self.category = category
        self.priority = priority
        self.region = region
        self.flags = flags
        self.backlog_key = (priority, category, region)
        self.sla_key = (priority, channel)
        # the index of open tickets this one belongs in (by priority, or by priority and
        # channel for a channel with a calendar)
        self.open_index: SortedList = SortedList() if open_index is None else open_index
        self._family: list[Profile | None] = [None] * _FLAG_SLOTS if family is None else family
        self._family[flags] = self
        # every profile of a book, by number: the book's profile column holds the number
        self._table: list[Profile] = [] if table is None else table
        self.index = len(self._table)
        self._table.append(self)

    def __eq__(self, other: object) -> bool:
        """Same labels (flags aside): the indexes match a ticket by its labels."""
        return isinstance(other, Profile) and other._family is self._family

    def __hash__(self) -> int:
        return id(self._family)

    def with_flags(self, flags: int) -> Profile:
        p = self._family[flags]
        if p is None:
            p = Profile(self.channel, self.category, self.priority, self.region, flags,
                        self._family, self.open_index, self._table)
        return p


class _ByCreationMinute:
    """Items by the minute they were created in, for forgetting by age.

    Arrival order is not creation order: a rebuild reads one partition's chunk after
    another's, so a queue in arrival order would stop forgetting at the first young item
    and keep older ones for up to another horizon. One list slot per item.
    """

    __slots__ = ("_buckets", "_low")

    def __init__(self) -> None:
        self._buckets: dict[int, list[Any]] = {}
        self._low: int | None = None  # no bucket below this minute

    def add(self, ts_ms: int, item: Any) -> None:
        m = ts_ms // 60000
        b = self._buckets.get(m)
        if b is None:
            b = self._buckets[m] = []
            if self._low is None or m < self._low:
                self._low = m
        b.append(item)

    def pop_before(self, horizon_ms: int, created: Callable[[Any], int]) -> list[Any]:
        """Remove and return every item created before ``horizon_ms`` (exactly)."""
        buckets, hm = self._buckets, horizon_ms // 60000
        out: list[Any] = []
        low = self._low
        if low is not None and low < hm:
            if hm - low <= len(buckets):
                keys: Iterable[int] = range(low, hm)
            else:
                keys = [k for k in buckets if k < hm]
            for k in keys:
                b = buckets.pop(k, None)
                if b is not None:
                    out += b
            self._low = hm
        b = buckets.get(hm)
        if b is not None:
            old = [x for x in b if created(x) < horizon_ms]
            if old:
                out += old
                buckets[hm] = [x for x in b if created(x) >= horizon_ms]
        return out


class TicketBook:
    """All tickets created within the state horizon, as columns by row.

    A ticket is a *key*: one ``int``, ``(created_ms - base_ms) << row_bits | row``. It is
    the dict's value (``tickets``: id -> key), the entry of every index that holds the
    ticket and of the forgetting order, and it sorts as ``(created_ms, row)``. The row
    addresses the columns ``ids`` (the dict's own id string), ``pcol`` (the number of its
    :class:`Profile`, labels and flags, in ``ptable``: 2 bytes) and ``starts`` (the start
    of an open later turn). A flag change rewrites ``pcol[row]`` only: no index holds the
    flags. Forgotten rows are reused.
    ``row_bits`` grows (every key rewritten once, :meth:`_widen`) when the rows outgrow
    it; ``base_ms`` is the first creation seen, so that keys stay 60-bit (32 B) ints for a
    year either side of it.
    """

    def __init__(
        self,
        channels: Iterable[str],
        priorities: Iterable[str],
        categories: Iterable[str],
        regions: Iterable[str],
        calendar_channels: Iterable[str] = (),
        row_bits: int = 24,
    ) -> None:
        channels, priorities = tuple(channels), tuple(priorities)
        self.calendar_channels = frozenset(calendar_channels)
        self.tickets: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.ptable: list[Profile] = []  # every profile of this book, by Profile.index
        self.pcol = array("H")  # by row: the profile's number ('I' beyond 65535 profiles)
        self.starts = array("q")  # by row: the open later turn's start, or _NO_TURN
        self._free: list[int] = []  # rows of forgotten tickets
        self.base_ms: int | None = None
        self.row_bits = row_bits
        self._mask = (1 << row_bits) - 1
        # open tickets by (priority, category, region)
        self.backlog: dict[tuple[str, str, str], int] = dict.fromkeys(
            product(priorities, categories, regions), 0
        )
        # open, no agent reply, first turn closed (reopened unanswered); with ``awaiting``
        # (first turns): the unanswered tickets
        self.unanswered_idle: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.open_by_priority: dict[str, SortedList] = {p: SortedList() for p in priorities}
        self.open_by_calendar: dict[tuple[str, str], SortedList] = {
            (p, c): SortedList() for p in priorities for c in channels
            if c in self.calendar_channels
        }
        # open turns by channel: first turns (ticket keys, by creation), later turns
        # (``(start - base_ms) << row_bits | row``, by start)
        self.awaiting: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.awaiting_later: dict[str, SortedArray] = {c: SortedArray("q") for c in channels}
        self._profiles: dict[tuple[str, str, str, str], Profile] = {}
        # ticket keys by creation minute: one entry per ticket in the dict
        self._order = _ByCreationMinute()

    # -- keys --------------------------------------------------------------------------
    def key_at(self, ms: int) -> int:
        """The smallest key of an instant: ``bisect_left(index, key_at(ms))`` counts the
        entries before ``ms``."""
        base = self.base_ms
        return 0 if base is None else (ms - base) << self.row_bits

    def ms_of(self, key: int) -> int:
        """The instant of an index entry: a ticket's creation, a later turn's start."""
        return (key >> self.row_bits) + (self.base_ms or 0)

    created = ms_of  # of a ticket key

    def row(self, key: int) -> int:
        return key & self._mask

    def id_of(self, key: int) -> str:
        ticket_id = self.ids[key & self._mask]
        assert ticket_id is not None, "a key of a forgotten ticket"
        return ticket_id

    def profile_of(self, key: int) -> Profile:
        return self.ptable[self.pcol[key & self._mask]]

    def _put(self, row: int, p: Profile) -> None:
        """``pcol[row] = p.index`` (``row == len(pcol)``: appended), widening the column
        to 4 bytes when the numbers outgrow 2."""
        try:
            if row == len(self.pcol):
                self.pcol.append(p.index)
            else:
                self.pcol[row] = p.index
        except OverflowError:
            self.pcol = array("I", self.pcol)
            self._put(row, p)

    def get(self, ticket_id: str) -> int | None:
        return self.tickets.get(ticket_id)

    def profile(self, channel: str, category: str, priority: str, region: str) -> Profile:
        """The profile of a new (open, unanswered) ticket with these labels."""
        key = (channel, category, priority, region)
        p = self._profiles.get(key)
        if p is None:
            index = self.open_by_calendar.get((priority, channel))
            if index is None:
                index = self.open_by_priority[priority]
            p = self._profiles[key] = Profile(channel, category, priority, region,
                                              OPEN | AWAITING, open_index=index,
                                              table=self.ptable)
        return p

    def create(
        self, ticket_id: str, ts_ms: int, channel: str, category: str, priority: str, region: str
    ) -> bool:
        """False when the ticket already exists (a re-creation never resets state)."""
        if ticket_id in self.tickets:
            return False
        self.add(ticket_id, ts_ms, self.profile(channel, category, priority, region))
        return True

    def add(self, ticket_id: str, ts_ms: int, profile: Profile) -> int:
        """Create a ticket that is known not to exist yet (``profile``: flags OPEN and
        AWAITING, from :meth:`profile`): its creation opens its first turn. Its key."""
        if self._free:
            row = self._free.pop()
            self.ids[row] = ticket_id
            self._put(row, profile)
            self.starts[row] = _NO_TURN
        else:
            row = len(self.ids)
            if row > self._mask:
                self._widen()
            self.ids.append(ticket_id)
            self._put(row, profile)
            self.starts.append(_NO_TURN)
        base = self.base_ms
        if base is None:
            base = self.base_ms = ts_ms
        k = self.tickets[ticket_id] = (ts_ms - base) << self.row_bits | row
        self.backlog[profile.backlog_key] += 1
        profile.open_index.add(k)
        self.awaiting[profile.channel].add(k)
        self._order.add(ts_ms, k)
        return k

    def _widen(self) -> None:
        """Four more row bits: every key rewritten (in place: the profiles hold their
        indexes; one new int per ticket, shared as before). The rewrite keeps the order
        ``(instant, row)``, so every list stays sorted."""
        old, rb = self.row_bits, self.row_bits + 4
        mask = self._mask

        def conv(k: int) -> int:
            return (k >> old) << rb | (k & mask)

        new = {k: conv(k) for k in self.tickets.values()}
        for ticket_id, k in self.tickets.items():
            self.tickets[ticket_id] = new[k]
        for b in self._order._buckets.values():
            b[:] = map(new.__getitem__, b)
        for index in self._ticket_indexes():
            keys = list(map(new.__getitem__, index))
            index.clear()
            index.update(keys)
        for index in self.awaiting_later.values():
            keys = list(map(conv, index))
            index.clear()
            index.update(keys)
        self.row_bits, self._mask = rb, (1 << rb) - 1

    def _ticket_indexes(self) -> list[SortedList]:
        """The indexes that hold ticket keys (``awaiting_later`` holds turn starts)."""
        return [*self.unanswered_idle.values(), *self.open_by_priority.values(),
                *self.open_by_calendar.values(), *self.awaiting.values()]

    def share_keys(self) -> None:
        """Make every index and the forgetting order hold the dict's own key objects (a
        decoded checkpoint has one int per reference: 32 B each)."""
        own = {k: k for k in self.tickets.values()}
        for index in self._ticket_indexes():
            for sub in index._lists:
                sub[:] = map(own.__getitem__, sub)
            index._maxes[:] = [sub[-1] for sub in index._lists]
        for b in self._order._buckets.values():
            b[:] = map(own.__getitem__, b)

    def _set(self, k: int, flags: int) -> Profile:
        """The ticket's profile with new flags (the indexes are the caller's); the old."""
        row = k & self._mask
        p = self.ptable[self.pcol[row]]
        q = p._family[flags]  # with_flags, inlined for the common case
        if q is None:
            q = p.with_flags(flags)
        try:
            self.pcol[row] = q.index
        except OverflowError:
            self._put(row, q)
        return p

    def flag(self, k: int, flag: int) -> None:
        """Set a flag that no index depends on (transferred, escalated, reopened)."""
        p = self.profile_of(k)
        if not p.flags & flag:
            self._set(k, p.flags | flag)

    def _open(self, k: int) -> None:
        """Reopen a closed ticket (in no index)."""
        p = self._set(k, self.profile_of(k).flags | OPEN)
        self.backlog[p.backlog_key] += 1
        p.open_index.add(k)
        if not p.flags & AGENT:  # its first turn closed with it
            self.unanswered_idle[p.channel].add(k)

    def _close(self, k: int) -> None:
        """Closed (resolved or forgotten): its open turn, if any, ends unanswered."""
        p = self._set(k, self.profile_of(k).flags & ~(OPEN | AWAITING))
        self.backlog[p.backlog_key] -= 1
        p.open_index.remove(k)
        if not p.flags & AGENT and not self._in_first_turn(k, p):
            self.unanswered_idle[p.channel].remove(k)
        if p.flags & AWAITING:
            self._end_turn(k, p.channel)

    def _end_turn(self, k: int, channel: str) -> None:
        """Remove the open turn's entry from its awaiting index (the flag is the caller's)."""
        row = k & self._mask
        s = self.starts[row]
        if s == _NO_TURN:
            self.awaiting[channel].remove(k)
        else:
            self.awaiting_later[channel].remove(self.key_at(s) | row)
            self.starts[row] = _NO_TURN

    def _in_first_turn(self, k: int, p: Profile) -> bool:
        """Whether the ticket (with profile ``p``) waits on its first turn."""
        return bool(p.flags & AWAITING) and self.starts[k & self._mask] == _NO_TURN

    def unanswered(self, channel: str) -> tuple[SortedList, SortedList]:
        """The channel's unanswered tickets: two disjoint creation-sorted indexes (first
        turns, reopened unanswered)."""
        return self.awaiting[channel], self.unanswered_idle[channel]

    def turn_start(self, k: int) -> int | None:
        """The start of the ticket's open turn; None when no turn is open."""
        row = k & self._mask
        p = self.ptable[self.pcol[row]]
        if not p.flags & AWAITING:
            return None
        s = self.starts[row]
        return self.ms_of(k) if s == _NO_TURN else s

    def is_later_turn(self, k: int) -> bool:
        """Whether the ticket's open turn (if any) is a later one."""
        return self.starts[k & self._mask] != _NO_TURN

    def later_turns_open(self) -> int:
        return sum(map(len, self.awaiting_later.values()))

    def awaiting_count(self) -> int:
        """Open turns, first and later."""
        return sum(map(len, self.awaiting.values())) + self.later_turns_open()

    def open_turn(self, k: int, ts_ms: int) -> bool:
        """A customer message: opens a turn on an open ticket with none open (SPEC §7)."""
        row = k & self._mask
        p = self.ptable[self.pcol[row]]
        if p.flags & (OPEN | AWAITING) != OPEN:
            return False
        self._put(row, p.with_flags(p.flags | AWAITING))
        self.starts[row] = ts_ms
        self.awaiting_later[p.channel].add(self.key_at(ts_ms) | row)
        return True

    def agent_replied(self, k: int) -> bool:
        """Mark an agent reply (it answers the open turn); True when it is the ticket's
        first response."""
        p = self.profile_of(k)
        flags = p.flags
        idle = flags & OPEN and not flags & AGENT and not self._in_first_turn(k, p)
        if flags & AWAITING:
            self._end_turn(k, p.channel)
        if flags & AGENT:
            if flags & AWAITING:
                self._set(k, flags & ~AWAITING)
            return False
        self._set(k, (flags | AGENT) & ~AWAITING)
        if idle:
            self.unanswered_idle[p.channel].remove(k)
        return True

    def resolve(self, k: int) -> None:
        """Resolve an open ticket; its open turn ends unanswered."""
        if self.profile_of(k).flags & OPEN:
            self._close(k)

    def reopen(self, k: int) -> None:
        self.flag(k, REOPENED)
        if not self.profile_of(k).flags & OPEN:
            self._open(k)

    def forget_created_before(self, horizon_ms: int) -> int:
        """Drop tickets created before ``horizon_ms``; later events for them are orphans."""
        n, mask = 0, self._mask
        ids, table = self.ids, self.ptable
        for k in self._order.pop_before(horizon_ms, self.ms_of):
            row = k & mask
            if table[self.pcol[row]].flags & OPEN:
                self._close(k)
            del self.tickets[ids[row]]
            ids[row] = None
            self._free.append(row)
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.tickets)


_REGION_BITS: Final = 16  # a return's region number in its packed int
_RETURN_OPEN: Final = 1


class ReturnBook:
    """Returns by id, kept small as tickets are (a week of a large platform holds ~1 M):
    no object per return but ONE ``int``, ``requested_ms << 17 | region << 1 | open``
    (the region numbered in the book's regions), the value of the dict ``id -> packed``;
    a checkpoint writes the dict as two plain arrays and reads it back with no call per
    return (it was an object of four slots each, a third of a logistics shard's load).
    The ids by request minute, for forgetting by age, are the dict's own strings."""

    def __init__(self, regions: Iterable[str]) -> None:
        self.returns: dict[str, int] = {}
        self.open_by_region: dict[str, int] = dict.fromkeys(regions, 0)
        self.regions: tuple[str, ...] = tuple(self.open_by_region)
        self._number = {r: i for i, r in enumerate(self.regions)}
        self._order = _ByCreationMinute()  # return ids by request minute

    def get(self, return_id: str) -> int | None:
        """The return's packed int (read it with :meth:`region` and :func:`requested_ms`)."""
        return self.returns.get(return_id)

    def region(self, packed: int) -> str:
        return self.regions[(packed >> 1) & ((1 << _REGION_BITS) - 1)]

    def request(self, return_id: str, ts_ms: int, region: str) -> bool:
        if return_id in self.returns:
            return False
        self.returns[return_id] = (
            ts_ms << (_REGION_BITS + 1) | self._number[region] << 1 | _RETURN_OPEN)
        self.open_by_region[region] += 1
        self._order.add(ts_ms, return_id)
        return True

    def close(self, return_id: str) -> bool:
        """True when this closes an open return (later closes are ignored)."""
        packed = self.returns.get(return_id)
        if packed is None or not packed & _RETURN_OPEN:
            return False
        self.returns[return_id] = packed ^ _RETURN_OPEN
        self.open_by_region[self.region(packed)] -= 1
        return True

    def forget_created_before(self, horizon_ms: int) -> int:
        returns, n = self.returns, 0
        get = returns.get
        gone: list[str] = self._order.pop_before(
            horizon_ms, lambda i: requested_ms(get(i, 0)))
        for return_id in gone:
            packed = returns.pop(return_id, None)
            if packed is None:
                continue
            if packed & _RETURN_OPEN:
                self.open_by_region[self.region(packed)] -= 1
            n += 1
        return n

    def share_ids(self) -> None:
        """After a checkpoint load: the minute lists hold the dict's own id strings again
        (decoded, each id was two equal strings)."""
        ids = self.returns
        own = dict(zip(ids, ids, strict=True)).__getitem__  # an id it lacks: KeyError, corrupt
        for bucket in self._order._buckets.values():
            bucket[:] = map(own, bucket)

    def __len__(self) -> int:
        return len(self.returns)


def requested_ms(packed: int) -> int:
    """When a return (its :class:`ReturnBook` packed int) was requested."""
    return packed >> (_REGION_BITS + 1)
