"""The metrics engine: folds typed events into state, windows and counters.

One engine owns the state of the partitions its process reads. It is single-threaded
(the consumer loop calls :meth:`Engine.process`); :meth:`Engine.tick` moves the clock and
expires state, and :meth:`Engine.snapshot` (pure) publishes an immutable
:class:`~core.snapshot.Snapshot` for the other threads to read. The window layout is in
:mod:`metrics.slots`, the snapshot assembly in :mod:`metrics.assembly`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import Any, Protocol

from core.business_hours import BusinessHours, today_timezone
from core.config import Config
from core.definitions import histogram_bounds, sla_judge
from core.events import (
    CATEGORIES,
    CHANNELS,
    EVENT_TYPES,
    OTHER,
    PRIORITIES,
    RETURN_REASONS,
    BatchErrorReason,
    Event,
    RejectReason,
    ReturnClosed,
    ReturnInspected,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
    TicketCreated,
    TicketEscalated,
    TicketMessage,
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketTransferred,
)
from core.snapshot import ConsumerHealth, Snapshot
from metrics.assembly import arrival_floor, assemble
from metrics.clock import EventClock
from metrics.dedupe import SeenIds
from metrics.histogram import Histogram
from metrics.scores import ScoreBook
from metrics.slots import EntryCodes, SeriesLayout, WindowSlots
from metrics.state import (
    AGENT,
    ESCALATED,
    REOPENED,
    TRANSFERRED,
    ReturnBook,
    TicketBook,
    requested_ms,
)
from metrics.windows import SlidingWindows

__all__ = ["QUANTILES", "Engine", "TurnListener"]

Key = tuple[str, str]

QUANTILES = (0.5, 0.9, 0.99)
# minutes swept out of the arrivals at once: a tick compares one int instead of scanning
# the day's 1,440 minutes, for every shard (readers skip the ones not swept yet)
_ARRIVAL_SWEEP_MINUTES = 60


class TurnListener(Protocol):
    """What follows the conversation turns (SPEC §7), e.g. the platform scores: told of
    every turn as the fold sees it, and of the clock at every tick. The engine passes the
    ticket's channel and the turn's start with every answer and resolve (the ticket book
    holds both), so that a listener need not keep them per turn."""

    def turn_opened(self, ticket_id: str, channel: str, start_ms: int) -> None: ...

    def turn_answered(self, ticket_id: str, ts_ms: int, clock_ms: int,
                      channel: str | None = None, start_ms: int | None = None) -> None: ...

    def turn_closed(self, ticket_id: str, ts_ms: int, clock_ms: int,
                    channel: str | None = None, start_ms: int | None = None) -> None: ...

    def advance(self, clock_ms: int) -> None: ...


class _EventRoute:
    """The handler of one event class on one topic, and how many it accepted."""

    __slots__ = ("accepted", "handler", "key")

    def __init__(self, handler: Callable[[Any], bool], key: Key | None) -> None:
        self.handler = handler
        self.key = key  # (topic, type); None for a class whose type varies per event
        self.accepted = 0


class Engine:
    """Event fold. ``wall`` returns the wall clock in epoch ms (injected); ``turns``
    follows the conversation turns: by default the platform scores of the config
    (:class:`~metrics.scores.ScoreBook`, None without ``scores``)."""

    def __init__(self, config: Config, wall: Callable[[], int],
                 turns: TurnListener | None = None, clock: EventClock | None = None) -> None:
        """``clock``: shared by the shards of one process (metrics/shards.py), or own."""
        self.config = config
        self.wall = wall
        self.topics = config.kafka.topics
        self.channels = (*CHANNELS, OTHER)
        self.priorities = (*PRIORITIES, OTHER)
        self.categories = (*CATEGORIES, OTHER)
        self.regions = (*config.regions, OTHER)
        self.reasons = RETURN_REASONS
        self.sla = sla = config.sla
        self.business_hours = BusinessHours(config.business_hours)
        # channel -> its calendar (None: 24x7); the SLA tables below are built from it
        self.calendars = {c: self.business_hours.sla_calendar(c) for c in self.channels}
        self.fr_sla_ms = {c: sla.first_response(c) * 1000 for c in self.channels}
        self.response_sla_ms = {c: sla.response(c) * 1000 for c in self.channels}
        self.res_sla_ms = {p: sla.resolution(p) * 1000 for p in self.priorities}
        cal = self.calendars
        # hot-path SLA judges (core.definitions): channel, or (priority, channel)
        self._fr_within = {c: sla_judge(sla.first_response(c), cal[c]) for c in self.channels}
        self._resp_within = {c: sla_judge(sla.response(c), cal[c]) for c in self.channels}
        self._res_within = {(p, c): sla_judge(sla.resolution(p), cal[c])
                            for p in self.priorities for c in self.channels}

        self.clock = clock or EventClock(config.live_threshold_s * 1000, wall)
        self.seen = SeenIds(config.state_horizon_s * 1000)
        self.slots = WindowSlots(self.channels, self.priorities, self.regions, self.reasons)
        self.series = SeriesLayout(self.channels)
        today = today_timezone(config.business_hours) if config.today_window else None
        self.windows = SlidingWindows(config.windows, len(self.slots), len(self.series), today)
        self.codes = EntryCodes(self.windows, self.slots, self.series, self.channels,
                                self.priorities, self.regions, self.reasons)
        self.tickets = TicketBook(self.channels, self.priorities, self.categories, self.regions,
                                  [c for c in self.channels if cal[c] is not None])
        self.scores = (ScoreBook(config.scores, self.business_hours, config.windows, today,
                                 config.state_horizon_s * 1000, tells_start=True)
                       if config.scores else None)
        self.turn_listener = turns if turns is not None else self.scores
        self.returns = ReturnBook(self.regions)

        self.rejected_total = dict.fromkeys(
            product(self.topics, [r.value for r in RejectReason]), 0
        )
        self.duplicate_total = dict.fromkeys(self.topics, 0)
        self.consumer_errors_total = dict.fromkeys(
            product(self.topics, [r.value for r in BatchErrorReason]), 0
        )
        self._batch_errors: set[tuple[str, int, int]] = set()  # (topic, partition, base)
        self.late_total = dict.fromkeys(self.topics, 0)
        self.orphan_total = dict.fromkeys(product(self.topics, EVENT_TYPES), 0)
        fr_b = histogram_bounds("first_response", tuple(sla.first_response_s.values()))
        resp_b = histogram_bounds("first_response", tuple(
            {*sla.first_response_s.values(), *(sla.response(c) for c in self.channels)}))
        res_b = histogram_bounds("resolution", tuple(sla.resolution_s.values()))
        ret_b = histogram_bounds("return", (sla.return_processing_s,))
        self.h_first_response = {c: Histogram(fr_b) for c in self.channels}
        self.h_response = {c: Histogram(resp_b) for c in self.channels}
        self.h_resolution = {p: Histogram(res_b) for p in self.priorities}
        self.h_return = {r: Histogram(ret_b) for r in self.regions}
        self._arrivals: dict[int, int] = {}  # minute -> tickets created
        self._arrivals_sweep = 0  # the oldest kept minute at which they are swept next
        self.last_event_wall_ms: int | None = None
        # event class -> (handler, type label; None where the class has several)
        self._dispatch: dict[type, tuple[Callable[[Any], bool], str | None]] = {
            TicketCreated: (self._created, "ticket.created"),
            TicketReplied: (self._replied, "ticket.replied"),
            TicketMessage: (self._message, "ticket.message"),
            TicketTransferred: (self._transferred, "ticket.transferred"),
            TicketEscalated: (self._escalated, "ticket.escalated"),
            TicketResolved: (self._resolved, "ticket.resolved"),
            TicketReopened: (self._reopened, "ticket.reopened"),
            TicketRated: (self._rated, "ticket.rated"),
            ShipmentDelivered: (self._delivered, "shipment.delivered"),
            ReturnRequested: (self._requested, "return.requested"),
            ReturnReceived: (self._return_touched, "return.received"),
            ReturnInspected: (self._return_touched, "return.inspected"),
            ReturnClosed: (self._return_closed, None),
        }
        # topic -> event class -> route; a class with several types is resolved per type
        self._routes: dict[str, dict[type, _EventRoute]] = {}
        self._outcome_routes: dict[Key, _EventRoute] = {}
        self._largest_ms = config.largest_window_s * 1000
        self._now = 0
        # the duplicate check (a shard's asks every shard of its process: metrics/shards.py)
        self._seen_add: Callable[[str, int, int], bool] = self.seen.add
        self._add = self.windows.add  # value entries (first responses, responses)
        self._count = self.windows.count  # counter-only entries

    # -- input -----------------------------------------------------------------------
    def reject(self, topic: str, reason: RejectReason) -> None:
        key = (topic, reason.value)
        self.rejected_total[key] = self.rejected_total.get(key, 0) + 1

    def batch_error(self, topic: str, partition: int, base_offset: int, reason: str) -> None:
        """A record batch skipped undecoded: once per batch of the log (a re-read after an
        alignment seek finds the same batch again)."""
        key = (topic, partition, base_offset)
        if key not in self._batch_errors:
            self._batch_errors.add(key)
            k = (topic, reason)
            self.consumer_errors_total[k] = self.consumer_errors_total.get(k, 0) + 1

    def process(self, topic: str, event: Event, wall_ms: int) -> None:
        """Fold one valid event. Duplicates, orphans and late events are counted here."""
        clk = self.clock
        ts = event.ts_ms
        if self._seen_add(event.event_id, clk.clock_ms, ts):
            self.duplicate_total[topic] = self.duplicate_total.get(topic, 0) + 1
            return
        routes = self._routes.get(topic)
        if routes is None:
            routes = self._route(topic)
        route = routes[type(event)]
        if route.key is None:
            route = self._outcome_route(topic, event.type)
        route.accepted += 1
        self.last_event_wall_ms = wall_ms
        # EventClock.observe, inlined: the watermark moves; in replay the clock follows
        wm = clk.watermark_ms
        if wm is None or ts > wm:
            clk.watermark_ms = ts
            if ts > clk.clock_ms and not clk.live:
                clk.clock_ms = ts
        clock = self._now = clk.clock_ms
        if ts <= clock - self._largest_ms:
            self.late_total[topic] = self.late_total.get(topic, 0) + 1
        if not route.handler(event):
            key = route.key
            assert key is not None  # resolved above
            self.orphan_total[key] = self.orphan_total.get(key, 0) + 1

    def _route(self, topic: str) -> dict[type, _EventRoute]:
        routes = self._routes[topic] = {
            cls: _EventRoute(handler, None if etype is None else (topic, etype))
            for cls, (handler, etype) in self._dispatch.items()
        }
        return routes

    def _outcome_route(self, topic: str, etype: str) -> _EventRoute:
        route = self._outcome_routes.get((topic, etype))
        if route is None:
            handler = self._routes[topic][ReturnClosed].handler
            route = self._outcome_routes[(topic, etype)] = _EventRoute(handler, (topic, etype))
        return route

    @property
    def events_total(self) -> dict[Key, int]:
        """Accepted events (orphans included) by (topic, type)."""
        out = dict.fromkeys(product(self.topics, EVENT_TYPES), 0)
        routes = [r for by_class in self._routes.values() for r in by_class.values()]
        for route in routes + list(self._outcome_routes.values()):
            if route.accepted:
                assert route.key is not None
                out[route.key] = out.get(route.key, 0) + route.accepted
        return out

    # -- handlers: return False for an orphan ----------------------------------------
    def _created(self, e: TicketCreated) -> bool:
        ts, ch = e.ts_ms, e.channel
        book = self.tickets
        if e.ticket_id not in book.tickets:
            book.add(e.ticket_id, ts, book.profile(ch, e.category, e.priority, e.region))
            self._count(ts, self.codes.created_new[ch], self._now)
            if self.turn_listener is not None:
                self.turn_listener.turn_opened(e.ticket_id, ch, ts)
        else:
            self._count(ts, self.codes.created_again[ch], self._now)
        minute = ts // 60000
        self._arrivals[minute] = self._arrivals.get(minute, 0) + 1
        return True

    def _replied(self, e: TicketReplied) -> bool:
        book = self.tickets
        t = book.tickets.get(e.ticket_id)
        if t is None:
            return False
        if e.by_agent:
            start = book.turn_start(t)
            ts, ch = e.ts_ms, book.profile_of(t).channel
            created = book.created(t)
            first = book.agent_replied(t)
            both = first and start == created  # the first response answers the first turn
            fr = 0.0
            fr_ok = False
            if first:
                fr = (ts - created) / 1000.0
                self.h_first_response[ch].observe(fr)
                fr_ok = self._fr_within[ch](created, ts)
                if not both:
                    self._add(ts, self.codes.first_response[(ch, fr_ok)], fr, self._now)
            if start is not None:
                # the first turn's response is the first response: one float (24 B) and one
                # window entry (12 B) for both
                seconds = fr if both else (ts - start) / 1000.0
                self.h_response[ch].observe(seconds)
                ok = self._resp_within[ch](start, ts)
                code = (self.codes.first_reply[(ch, fr_ok, ok)] if both
                        else self.codes.response[(ch, ok)])
                self._add(ts, code, seconds, self._now)
                if self.turn_listener is not None:
                    self.turn_listener.turn_answered(e.ticket_id, ts, self._now, ch, start)
        return True

    def _message(self, e: TicketMessage) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        if self.tickets.open_turn(t, e.ts_ms):
            ch = self.tickets.profile_of(t).channel
            self._count(e.ts_ms, self.codes.turn_opened[ch], self._now)
            if self.turn_listener is not None:
                self.turn_listener.turn_opened(e.ticket_id, ch, e.ts_ms)
        return True

    def _transferred(self, e: TicketTransferred) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.flag(t, TRANSFERRED)
        self._count(e.ts_ms, self.codes.transfer, self._now)
        return True

    def _escalated(self, e: TicketEscalated) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.flag(t, ESCALATED)
        self._count(e.ts_ms, self.codes.escalation, self._now)
        return True

    def _resolved(self, e: TicketResolved) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        ts, created = e.ts_ms, self.tickets.created(t)
        prof = self.tickets.profile_of(t)
        p, flags = prof.priority, prof.flags
        self.h_resolution[p].observe((ts - created) / 1000.0)
        code = self.codes.resolution[(
            p,
            self._res_within[prof.sla_key](created, ts),
            not flags & (TRANSFERRED | ESCALATED | REOPENED),
            not flags & AGENT,
        )]
        self._count(ts, code, self._now)
        if self.turn_listener is not None:
            start = self.tickets.turn_start(t)
            if start is not None:
                self.turn_listener.turn_closed(e.ticket_id, ts, self._now, prof.channel, start)
        self.tickets.resolve(t)
        return True

    def _reopened(self, e: TicketReopened) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.reopen(t)
        self._count(e.ts_ms, self.codes.reopen, self._now)
        return True

    def _rated(self, e: TicketRated) -> bool:
        if e.ticket_id not in self.tickets.tickets:
            return False
        csat = None if e.csat is None else e.csat >= 4
        nps = None if e.nps is None else (
            "promoter" if e.nps >= 9 else "detractor" if e.nps <= 6 else "")
        self._count(e.ts_ms, self.codes.rating[(csat, nps)], self._now)
        return True

    def _delivered(self, e: ShipmentDelivered) -> bool:
        ts, promised = e.ts_ms, e.promised_ms
        on_time, late = self.codes.delivered[e.region]
        self._count(ts, late if promised is not None and ts > promised else on_time, self._now)
        return True

    def _requested(self, e: ReturnRequested) -> bool:
        self.returns.request(e.return_id, e.ts_ms, e.region)
        self._count(e.ts_ms, self.codes.return_requested[(e.region, e.reason)], self._now)
        return True

    def _return_touched(self, e: ReturnReceived | ReturnInspected) -> bool:
        return self.returns.get(e.return_id) is not None

    def _return_closed(self, e: ReturnClosed) -> bool:
        returns = self.returns
        r = returns.get(e.return_id)
        if r is None:
            return False
        if returns.close(e.return_id) and e.outcome != "cancelled":
            self.h_return[returns.region(r)].observe((e.ts_ms - requested_ms(r)) / 1000.0)
        return True

    # -- time and output -------------------------------------------------------------
    def tick(self, clock_ms: int | None = None, *, windows: bool = True) -> int:
        """Move the clock (live mode follows the wall clock), slide windows, expire state;
        ``clock_ms``: the clock a shared clock already moved to, ``windows`` False: the
        windows were slid with the other shards' (metrics/shards.py)."""
        clock = self.clock.now() if clock_ms is None else clock_ms
        if windows:
            self.windows.advance(clock)
        horizon = clock - self.config.state_horizon_s * 1000
        self.tickets.forget_created_before(horizon)
        self.returns.forget_created_before(horizon)
        self.seen.expire(clock)
        oldest_minute = arrival_floor(clock)
        if oldest_minute >= self._arrivals_sweep:
            if self._arrivals:
                for m in [m for m in self._arrivals if m < oldest_minute]:
                    del self._arrivals[m]
            self._arrivals_sweep = oldest_minute + _ARRIVAL_SWEEP_MINUTES
        if self.turn_listener is not None:
            self.turn_listener.advance(clock)
        return clock

    def snapshot(self, *, health: ConsumerHealth | None = None) -> Snapshot:
        """The state at the clock of the last :meth:`tick` (pure: changes nothing), with
        the reader's ``health`` attached (the default: no broker, as in tests)."""
        return assemble(self, health=health or ConsumerHealth())
