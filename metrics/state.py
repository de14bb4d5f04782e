"""Per-ticket and per-return state, with the indexes the state gauges need.

Open tickets are indexed by ``(created_ms, ticket_id)`` in sorted lists per channel
(unanswered) and per priority (open), so "how many are older than the SLA" and "which
are the oldest" are a bisection, not a scan, at any backlog size. The same key tuple is
shared by every index to keep an open ticket small.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from sortedcontainers import SortedList

__all__ = [
    "AGENT",
    "ESCALATED",
    "OPEN",
    "REOPENED",
    "TRANSFERRED",
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

TicketKey = tuple[int, str]  # (created_ms, ticket_id)


class Ticket:
    __slots__ = ("category", "channel", "flags", "key", "priority", "region")

    def __init__(
        self, key: TicketKey, channel: str, category: str, priority: str, region: str
    ) -> None:
        self.key = key
        self.channel = channel
        self.category = category
        self.priority = priority
        self.region = region
        self.flags = OPEN

    @property
    def created_ms(self) -> int:
        return self.key[0]


class TicketBook:
    """All tickets created within the state horizon."""

    def __init__(
        self,
        channels: Iterable[str],
        priorities: Iterable[str],
        backlog_keys: Iterable[tuple[str, str, str]],
    ) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.backlog: dict[tuple[str, str, str], int] = dict.fromkeys(backlog_keys, 0)
        self.unanswered: dict[str, SortedList] = {c: SortedList() for c in channels}
        self.open_by_priority: dict[str, SortedList] = {p: SortedList() for p in priorities}
        self._order: deque[TicketKey] = deque()

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def create(
        self, ticket_id: str, ts_ms: int, channel: str, category: str, priority: str, region: str
    ) -> bool:
        """False when the ticket already exists (a re-creation never resets state)."""
        if ticket_id in self.tickets:
            return False
        key = (ts_ms, ticket_id)
        t = Ticket(key, channel, category, priority, region)
        self.tickets[ticket_id] = t
        self._open(t)
        self._order.append(key)
        return True

    def _open(self, t: Ticket) -> None:
        t.flags |= OPEN
        self.backlog[(t.priority, t.category, t.region)] += 1
        self.open_by_priority[t.priority].add(t.key)
        if not t.flags & AGENT:
            self.unanswered[t.channel].add(t.key)

    def _close(self, t: Ticket) -> None:
        t.flags &= ~OPEN
        self.backlog[(t.priority, t.category, t.region)] -= 1
        self.open_by_priority[t.priority].remove(t.key)
        if not t.flags & AGENT:
            self.unanswered[t.channel].remove(t.key)

    def agent_replied(self, t: Ticket) -> bool:
        """Mark an agent reply; True when it is the ticket's first response."""
        if t.flags & AGENT:
            return False
        if t.flags & OPEN:
            self.unanswered[t.channel].remove(t.key)
        t.flags |= AGENT
        return True

    def resolve(self, t: Ticket) -> None:
        if t.flags & OPEN:
            self._close(t)

    def reopen(self, t: Ticket) -> None:
        t.flags |= REOPENED
        if not t.flags & OPEN:
            self._open(t)

    def forget_created_before(self, horizon_ms: int) -> int:
        """Drop tickets created before ``horizon_ms``; later events for them are orphans."""
        order, n = self._order, 0
        while order and order[0][0] < horizon_ms:
            key = order.popleft()
            t = self.tickets.get(key[1])
            if t is None or t.key is not key:
                continue
            if t.flags & OPEN:
                self._close(t)
            del self.tickets[key[1]]
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.tickets)


class Return:
    __slots__ = ("is_open", "region", "requested_ms")

    def __init__(self, requested_ms: int, region: str) -> None:
        self.requested_ms = requested_ms
        self.region = region
        self.is_open = True


class ReturnBook:
    def __init__(self, regions: Iterable[str]) -> None:
        self.returns: dict[str, Return] = {}
        self.open_by_region: dict[str, int] = dict.fromkeys(regions, 0)
        self._order: deque[tuple[int, str]] = deque()

    def get(self, return_id: str) -> Return | None:
        return self.returns.get(return_id)

    def request(self, return_id: str, ts_ms: int, region: str) -> bool:
        if return_id in self.returns:
            return False
        self.returns[return_id] = Return(ts_ms, region)
        self.open_by_region[region] += 1
        self._order.append((ts_ms, return_id))
        return True

    def close(self, r: Return) -> bool:
        """True when this closes an open return (later closes are ignored)."""
        if not r.is_open:
            return False
        r.is_open = False
        self.open_by_region[r.region] -= 1
        return True

    def forget_created_before(self, horizon_ms: int) -> int:
        order, n = self._order, 0
        while order and order[0][0] < horizon_ms:
            ts, rid = order.popleft()
            r = self.returns.get(rid)
            if r is None or r.requested_ms != ts:
                continue
            if r.is_open:
                self.close(r)
            del self.returns[rid]
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.returns)
