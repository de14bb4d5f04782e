"""Per-ticket and per-return state, with the indexes the state gauges need.

Open tickets are indexed by ``(created_ms, ticket_id)`` in sorted lists per channel
(unanswered) and per priority (open), so "how many are older than the SLA" and "which
are the oldest" are a bisection, not a scan, at any backlog size.

A ticket is kept small (it is most of the memory of a large backlog): one immutable
tuple ``(created_ms, ticket_id, profile)``, 64 bytes. Tuples compare element by element
and ``(created_ms, ticket_id)`` is unique, so the ticket is its own sort key in every
index — no separate key object. Its labels and flags are a :class:`Profile` shared by
every ticket with the same channel, category, priority, region and flags.

A flag change replaces the ticket's tuple in the dict, and in every index that holds it
the new tuple takes the old one's place (:func:`_swap`: one bisection, no re-insertion:
profiles with the same labels compare equal, so the new tuple sorts exactly where the old
one was). So the dict and the indexes share ONE tuple per ticket; before, an index kept
the tuple it was given, a second 64 B copy for every open ticket after its first reply.
Index readers use the labels, never the flags.

Conversation turns (SPEC §7): the AWAITING flag says a turn is open. The first turn starts
at the creation; a later turn (opened by a customer message) has its start as a fourth
element of the ticket tuple ``(created_ms, ticket_id, profile, start_ms)`` while it is open
(8 bytes more in the tuple, where a dict ``ticket_id -> start`` cost ~40 per open later
turn). ``(created_ms, ticket_id)`` is unique, so three- and four-element tickets sort among
each other by it. The open turns of a channel are in two indexes, each holding the ticket
tuple itself: ``awaiting`` the first turns (sorted as tickets are, by creation = start: 8
bytes a turn) and ``awaiting_later`` the later ones, a ``SortedKeyList`` keyed by the start
element (a key slot holding the tuple's own ``int``: 16 bytes a turn, where a later turn's
own ``(start, id, profile)`` entry cost 72). Readers merge the two by start.

A channel with a business-hours calendar keeps its open tickets in ``open_by_calendar``
(by priority and channel) instead of ``open_by_priority``: overdue by business time is a
prefix of each list only when one calendar orders it. Without calendars nothing changes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import product
from operator import itemgetter
from typing import Any, Final

from sortedcontainers import SortedKeyList, SortedList

__all__ = [
    "AGENT",
    "AWAITING",
    "CREATED",
    "ESCALATED",
    "ID",
    "OPEN",
    "PROFILE",
    "REOPENED",
    "START",
    "TRANSFERRED",
    "Profile",
    "Return",
    "ReturnBook",
    "Ticket",
    "TicketBook",
    "turn_start",
]

OPEN = 1
AGENT = 2  # an agent has replied
TRANSFERRED = 4
ESCALATED = 8
REOPENED = 16
AWAITING = 32  # a conversation turn is open (the customer waits for an agent reply)
_FLAG_SLOTS = 64


class Profile:
    """The labels and flags of a ticket: immutable, shared by every ticket with the same
    labels and flags. Siblings (same labels, other flags) share one family list."""

    __slots__ = ("_family", "backlog_key", "category", "channel", "flags", "open_index",
                 "priority", "region", "sla_key")

    def __init__(self, channel: str, category: str, priority: str, region: str,
                 flags: int = OPEN, family: list[Profile | None] | None = None,
                 open_index: SortedList | None = None) -> None:
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

    def __eq__(self, other: object) -> bool:
        """Same labels (flags aside): the indexes match a ticket by its labels."""
        return isinstance(other, Profile) and other._family is self._family

    def __hash__(self) -> int:
        return id(self._family)

    def with_flags(self, flags: int) -> Profile:
        p = self._family[flags]
        if p is None:
            p = Profile(self.channel, self.category, self.priority, self.region, flags,
                        self._family, self.open_index)
        return p


# the fields of a ticket tuple
CREATED: Final = 0
ID: Final = 1
PROFILE: Final = 2
START: Final = 3  # the start of the open later turn (a four-element ticket)
Ticket = tuple[int, str, Profile] | tuple[int, str, Profile, int]


def _swap(index: SortedList, old: Ticket, new: Ticket) -> None:
    """Put ``new`` in the place of ``old`` (held by ``index``; they compare equal, so the
    order stays sorted). Reaches into SortedList's sublists and their maxima (stable in
    sortedcontainers 2.x): a remove + add would shift the sublist twice and re-index."""
    maxes = index._maxes
    i = bisect_left(maxes, old)
    sub = index._lists[i]
    j = bisect_left(sub, old)
    assert sub[j] == old, "the index does not hold this ticket"
    sub[j] = new
    if j == len(sub) - 1:
        maxes[i] = new


def turn_start(t: Ticket) -> int:
    """The start of an awaiting ticket's open turn."""
    return t[START] if len(t) > START else t[CREATED]


def _swap_keyed(index: SortedKeyList, old: Ticket, new: Ticket) -> None:
    """:func:`_swap` for the keyed ``awaiting_later`` index (same key: the same turn); equal keys
    (turns starting in the same ms) are scanned. Its maxima are keys: unchanged."""
    key = old[START]  # type: ignore[misc]
    i = bisect_left(index._maxes, key)
    sub = index._lists[i]
    j = bisect_left(index._keys[i], key)
    while sub[j] != old:
        j += 1
        if j == len(sub):
            i, j = i + 1, 0
            sub = index._lists[i]
    sub[j] = new


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
    """All tickets created within the state horizon."""

    def __init__(
        self,
        channels: Iterable[str],
        priorities: Iterable[str],
        categories: Iterable[str],
        regions: Iterable[str],
        calendar_channels: Iterable[str] = (),
    ) -> None:
        channels, priorities = tuple(channels), tuple(priorities)
        self.calendar_channels = frozenset(calendar_channels)
        self.tickets: dict[str, Ticket] = {}
        # open tickets by (priority, category, region)
        self.backlog: dict[tuple[str, str, str], int] = dict.fromkeys(
            product(priorities, categories, regions), 0
        )
        self.unanswered: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.open_by_priority: dict[str, SortedList] = {p: SortedList() for p in priorities}
        self.open_by_calendar: dict[tuple[str, str], SortedList] = {
            (p, c): SortedList() for p in priorities for c in channels
            if c in self.calendar_channels
        }
        # open turns by channel: first turns, by creation; later turns, by their start
        self.awaiting: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.awaiting_later: dict[str, SortedKeyList] = {
            c: SortedKeyList(key=itemgetter(START)) for c in channels}
        self._profiles: dict[tuple[str, str, str, str], Profile] = {}
        # ticket ids by creation minute: one entry per ticket in the dict
        self._order = _ByCreationMinute()

    def get(self, ticket_id: str) -> Ticket | None:
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
                                              OPEN | AWAITING, open_index=index)
        return p

    def create(
        self, ticket_id: str, ts_ms: int, channel: str, category: str, priority: str, region: str
    ) -> bool:
        """False when the ticket already exists (a re-creation never resets state)."""
        if ticket_id in self.tickets:
            return False
        self.add(ticket_id, ts_ms, self.profile(channel, category, priority, region))
        return True

    def add(self, ticket_id: str, ts_ms: int, profile: Profile) -> None:
        """Create a ticket that is known not to exist yet (``profile``: flags OPEN and
        AWAITING, from :meth:`profile`): its creation opens its first turn."""
        t = (ts_ms, ticket_id, profile)
        self.tickets[ticket_id] = t
        self.backlog[profile.backlog_key] += 1
        profile.open_index.add(t)
        self.unanswered[profile.channel].add(t)
        self.awaiting[profile.channel].add(t)
        self._order.add(ts_ms, ticket_id)

    def _replace(self, t: Ticket, flags: int) -> Ticket:
        """The ticket with new flags, in the dict (the indexes are the caller's); an open
        later turn's start stays while the flags keep AWAITING."""
        p = t[PROFILE]._family[flags]  # with_flags, inlined for the common case
        if p is None:
            p = t[PROFILE].with_flags(flags)
        new: Ticket
        if len(t) > START and flags & AWAITING:
            new = (t[CREATED], t[ID], p, t[START])
        else:
            new = (t[CREATED], t[ID], p)
        self.tickets[t[ID]] = new
        return new

    def _reindex(self, t: Ticket, new: Ticket) -> None:
        """``new`` in the place of ``t`` in every index holding the ticket (by ``t``'s
        flags): open, unanswered, and the awaiting index of its open turn."""
        p = t[PROFILE]
        flags = p.flags
        if flags & OPEN:
            _swap(p.open_index, t, new)
            if not flags & AGENT:
                _swap(self.unanswered[p.channel], t, new)
            if flags & AWAITING:
                if len(t) > START:
                    _swap_keyed(self.awaiting_later[p.channel], t, new)
                else:
                    _swap(self.awaiting[p.channel], t, new)

    def flag(self, t: Ticket, flag: int) -> None:
        """Set a flag that no index depends on (transferred, escalated, reopened)."""
        p = t[PROFILE]
        if p.flags & flag:
            return
        self._reindex(t, self._replace(t, p.flags | flag))

    def _open(self, t: Ticket) -> None:
        """Reopen a closed ticket (in no index)."""
        p = t[PROFILE]
        new = self._replace(t, p.flags | OPEN)
        self.backlog[p.backlog_key] += 1
        p.open_index.add(new)
        if not p.flags & AGENT:
            self.unanswered[p.channel].add(new)

    def _close(self, t: Ticket) -> None:
        """Closed (resolved or forgotten): its open turn, if any, ends unanswered."""
        p = t[PROFILE]
        self._replace(t, p.flags & ~(OPEN | AWAITING))
        self.backlog[p.backlog_key] -= 1
        p.open_index.remove(t)
        if not p.flags & AGENT:
            self.unanswered[p.channel].remove(t)
        if p.flags & AWAITING:
            self._end_turn(t)

    def _end_turn(self, t: Ticket) -> None:
        """Remove the open turn's entry from the awaiting index (the flag is the caller's)."""
        ch = t[PROFILE].channel
        (self.awaiting_later[ch] if len(t) > START else self.awaiting[ch]).remove(t)

    def turn_start(self, t: Ticket) -> int | None:
        """The start of the ticket's open turn; None when no turn is open."""
        if not t[PROFILE].flags & AWAITING:
            return None
        return t[3] if len(t) > 3 else t[0]  # START, CREATED (literals: a key on the hot path)

    @staticmethod
    def is_later_turn(entry: Ticket) -> bool:
        """Whether an entry of the ``awaiting`` index waits on a later turn."""
        return len(entry) > START

    def later_turns_open(self) -> int:
        return sum(map(len, self.awaiting_later.values()))

    def awaiting_count(self) -> int:
        """Open turns, first and later."""
        return sum(map(len, self.awaiting.values())) + self.later_turns_open()

    def open_turn(self, t: Ticket, ts_ms: int) -> bool:
        """A customer message: opens a turn on an open ticket with none open (SPEC §7)."""
        p = t[PROFILE]
        if p.flags & (OPEN | AWAITING) != OPEN:
            return False
        q = p.with_flags(p.flags | AWAITING)
        new = self.tickets[t[ID]] = (t[CREATED], t[ID], q, ts_ms)
        self._reindex(t, new)
        self.awaiting_later[p.channel].add(new)
        return True

    def agent_replied(self, t: Ticket) -> bool:
        """Mark an agent reply (it answers the open turn); True when it is the ticket's
        first response."""
        p = t[PROFILE]
        flags = p.flags
        if flags & AWAITING:
            self._end_turn(t)
        if flags & AGENT:
            if flags & AWAITING:
                new = self._replace(t, flags & ~AWAITING)
                _swap(p.open_index, t, new)  # AWAITING: open
            return False
        new = self._replace(t, (flags | AGENT) & ~AWAITING)
        if flags & OPEN:
            self.unanswered[p.channel].remove(t)
            _swap(p.open_index, t, new)
        return True

    def resolve(self, t: Ticket) -> None:
        """Resolve an open ticket; its open turn ends unanswered."""
        if t[PROFILE].flags & OPEN:
            self._close(t)

    def reopen(self, t: Ticket) -> None:
        self.flag(t, REOPENED)
        t = self.tickets[t[ID]]
        if not t[PROFILE].flags & OPEN:
            self._open(t)

    def forget_created_before(self, horizon_ms: int) -> int:
        """Drop tickets created before ``horizon_ms``; later events for them are orphans."""
        tickets, n = self.tickets, 0
        for ticket_id in self._order.pop_before(horizon_ms, lambda i: tickets[i][CREATED]):
            t = tickets[ticket_id]
            if t[PROFILE].flags & OPEN:
                self._close(t)
            del tickets[ticket_id]
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.tickets)


class Return:
    __slots__ = ("is_open", "region", "requested_ms", "return_id")

    def __init__(self, return_id: str, requested_ms: int, region: str) -> None:
        self.return_id = return_id
        self.requested_ms = requested_ms
        self.region = region
        self.is_open = True


class ReturnBook:
    def __init__(self, regions: Iterable[str]) -> None:
        self.returns: dict[str, Return] = {}
        self.open_by_region: dict[str, int] = dict.fromkeys(regions, 0)
        self._order = _ByCreationMinute()  # returns by request minute

    def get(self, return_id: str) -> Return | None:
        return self.returns.get(return_id)

    def request(self, return_id: str, ts_ms: int, region: str) -> bool:
        if return_id in self.returns:
            return False
        r = self.returns[return_id] = Return(return_id, ts_ms, region)
        self.open_by_region[region] += 1
        self._order.add(ts_ms, r)
        return True

    def close(self, r: Return) -> bool:
        """True when this closes an open return (later closes are ignored)."""
        if not r.is_open:
            return False
        r.is_open = False
        self.open_by_region[r.region] -= 1
        return True

    def forget_created_before(self, horizon_ms: int) -> int:
        returns, n = self.returns, 0
        gone: list[Return] = self._order.pop_before(horizon_ms, lambda x: x.requested_ms)
        for ret in gone:
            if returns.get(ret.return_id) is not ret:
                continue
            if ret.is_open:
                self.close(ret)
            del returns[ret.return_id]
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.returns)
