"""Per-ticket and per-return state, with the indexes the state gauges need.

Open tickets are indexed by ``(created_ms, ticket_id)`` in sorted lists per channel
(unanswered) and per priority (open), so "how many are older than the SLA" and "which
are the oldest" are a bisection, not a scan, at any backlog size.

A ticket is kept small (it is most of the memory of a large backlog): one list
``[created_ms, ticket_id, profile, flags]``. Lists compare like tuples, element by
element, and ``(created_ms, ticket_id)`` is unique, so the ticket itself is its own sort
key in every index — no separate key tuple. The categorical labels live in a
:class:`Profile` shared by every ticket with the same channel, category, priority and
region; the flags are a small int (cached by CPython, so free).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import product
from typing import Any

from sortedcontainers import SortedList

__all__ = [
    "AGENT",
    "CREATED",
    "ESCALATED",
    "FLAGS",
    "ID",
    "OPEN",
    "PROFILE",
    "REOPENED",
    "TRANSFERRED",
    "Profile",
    "Return",
    "ReturnBook",
    "Ticket",
    "TicketBook",
]

OPEN = 1
AGENT = 2  # an agent has replied
TRANSFERRED = 4
ESCALATED = 8
REOPENED = 16

# the fields of a ticket list
CREATED, ID, PROFILE, FLAGS = 0, 1, 2, 3
Ticket = list[Any]  # [created_ms: int, ticket_id: str, profile: Profile, flags: int]


class Profile:
    """The labels of a ticket (shared by all tickets with the same four labels)."""

    __slots__ = ("backlog_key", "category", "channel", "priority", "region")

    def __init__(self, channel: str, category: str, priority: str, region: str) -> None:
        self.channel = channel
        self.category = category
        self.priority = priority
        self.region = region
        self.backlog_key = (priority, category, region)


class TicketBook:
    """All tickets created within the state horizon."""

    def __init__(
        self,
        channels: Iterable[str],
        priorities: Iterable[str],
        categories: Iterable[str],
        regions: Iterable[str],
    ) -> None:
        channels, priorities = tuple(channels), tuple(priorities)
        self.tickets: dict[str, Ticket] = {}
        # open tickets by (priority, category, region)
        self.backlog: dict[tuple[str, str, str], int] = dict.fromkeys(
            product(priorities, categories, regions), 0
        )
        self.unanswered: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.open_by_priority: dict[str, SortedList] = {p: SortedList() for p in priorities}
        self._profiles: dict[tuple[str, str, str, str], Profile] = {}
        self._order: deque[Ticket] = deque()  # in creation (arrival) order

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def profile(self, channel: str, category: str, priority: str, region: str) -> Profile:
        key = (channel, category, priority, region)
        p = self._profiles.get(key)
        if p is None:
            p = self._profiles[key] = Profile(channel, category, priority, region)
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
        """Create a ticket that is known not to exist yet."""
        t = [ts_ms, ticket_id, profile, OPEN]
        self.tickets[ticket_id] = t
        self.backlog[profile.backlog_key] += 1
        self.open_by_priority[profile.priority].add(t)
        self.unanswered[profile.channel].add(t)
        self._order.append(t)

    def _open(self, t: Ticket) -> None:
        p: Profile = t[PROFILE]
        flags = t[FLAGS]
        t[FLAGS] = flags | OPEN
        self.backlog[p.backlog_key] += 1
        self.open_by_priority[p.priority].add(t)
        if not flags & AGENT:
            self.unanswered[p.channel].add(t)

    def _close(self, t: Ticket) -> None:
        p: Profile = t[PROFILE]
        flags = t[FLAGS]
        t[FLAGS] = flags & ~OPEN
        self.backlog[p.backlog_key] -= 1
        self.open_by_priority[p.priority].remove(t)
        if not flags & AGENT:
            self.unanswered[p.channel].remove(t)

    def agent_replied(self, t: Ticket) -> bool:
        """Mark an agent reply; True when it is the ticket's first response."""
        flags = t[FLAGS]
        if flags & AGENT:
            return False
        if flags & OPEN:
            self.unanswered[t[PROFILE].channel].remove(t)
        t[FLAGS] = flags | AGENT
        return True

    def resolve(self, t: Ticket) -> None:
        if t[FLAGS] & OPEN:
            self._close(t)

    def reopen(self, t: Ticket) -> None:
        t[FLAGS] |= REOPENED
        if not t[FLAGS] & OPEN:
            self._open(t)

    def forget_created_before(self, horizon_ms: int) -> int:
        """Drop tickets created before ``horizon_ms``; later events for them are orphans."""
        order, tickets, n = self._order, self.tickets, 0
        while order and order[0][CREATED] < horizon_ms:
            t = order.popleft()
            if tickets.get(t[ID]) is not t:
                continue
            if t[FLAGS] & OPEN:
                self._close(t)
            del tickets[t[ID]]
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
        self._order: deque[Return] = deque()  # in request (arrival) order

    def get(self, return_id: str) -> Return | None:
        return self.returns.get(return_id)

    def request(self, return_id: str, ts_ms: int, region: str) -> bool:
        if return_id in self.returns:
            return False
        r = self.returns[return_id] = Return(return_id, ts_ms, region)
        self.open_by_region[region] += 1
        self._order.append(r)
        return True

    def close(self, r: Return) -> bool:
        """True when this closes an open return (later closes are ignored)."""
        if not r.is_open:
            return False
        r.is_open = False
        self.open_by_region[r.region] -= 1
        return True

    def forget_created_before(self, horizon_ms: int) -> int:
        order, returns, n = self._order, self.returns, 0
        while order and order[0].requested_ms < horizon_ms:
            r = order.popleft()
            if returns.get(r.return_id) is not r:
                continue
            if r.is_open:
                self.close(r)
            del returns[r.return_id]
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.returns)
