"""The metrics engine: folds typed events into state, windows and counters.

One engine owns the state of the partitions its process reads. It is single-threaded
(the consumer loop calls :meth:`Engine.process`), and publishes immutable
:class:`~core.snapshot.Snapshot` objects for the other threads to read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from itertools import product
from types import MappingProxyType
from typing import Any

from core.config import Config
from core.definitions import histogram_bounds, peak_ratio, return_rates
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
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketTransferred,
)
from core.snapshot import ActionTicket, ConsumerHealth, Snapshot, WindowSnapshot
from metrics.clock import EventClock
from metrics.dedupe import SeenIds
from metrics.histogram import Histogram
from metrics.state import (
    AGENT,
    CREATED,
    ESCALATED,
    PROFILE,
    REOPENED,
    TRANSFERRED,
    ReturnBook,
    TicketBook,
)
from metrics.windows import SlidingWindows

__all__ = ["QUANTILES", "Engine"]

Key = tuple[str, str]

QUANTILES = (0.5, 0.9, 0.99)
_AGE_BUCKETS = (("<1h", 3600), ("1-4h", 4 * 3600), ("4-24h", 86400), ("1-2d", 2 * 86400))
_ARRIVAL_MINUTES = 24 * 60


class _Slots:
    """The counter layout shared by every window: one slot per (metric, label)."""

    def __init__(self, channels: tuple[str, ...], priorities: tuple[str, ...],
                 regions: tuple[str, ...], reasons: tuple[str, ...]) -> None:
        self.index: dict[tuple[str, str], int] = {}
        for metric, labels in (
            ("tickets_created", channels), ("first_responses", channels),
            ("first_responses_within_sla", channels), ("resolutions", priorities),
            ("resolutions_within_sla", priorities), ("orders_delivered", regions),
            ("deliveries_late", regions), ("returns_requested", regions),
            ("returns_by_reason", reasons),
        ):
            for label in labels:
                self.index[(metric, label)] = len(self.index)
        for metric in (
            "resolutions_first_contact", "resolutions_by_bot", "escalations", "transfers",
            "reopens", "csat_ratings", "csat_satisfied", "nps_ratings", "nps_promoters",
            "nps_detractors",
        ):
            self.index[(metric, "")] = len(self.index)

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.index[key]

    def __len__(self) -> int:
        return len(self.index)


class _Route:
    """Where one event class of one topic goes, and how many were accepted."""

    __slots__ = ("handler", "key", "n")

    def __init__(self, handler: Callable[[Any], bool], key: Key | None) -> None:
        self.handler = handler
        self.key = key  # (topic, type); None for a class whose type varies per event
        self.n = 0


class Engine:
    """Event fold + snapshot. ``wall`` returns the wall clock in epoch ms (injected)."""

    def __init__(self, config: Config, wall: Callable[[], int]) -> None:
        self.config = config
        self.wall = wall
        self.topics = config.kafka.topics
        self.channels = (*CHANNELS, OTHER)
        self.priorities = (*PRIORITIES, OTHER)
        self.categories = (*CATEGORIES, OTHER)
        self.regions = (*config.regions, OTHER)
        self.reasons = RETURN_REASONS
        self._chan_idx = {c: i for i, c in enumerate(self.channels)}
        self.sla = config.sla
        self._fr_sla_ms = {c: self.sla.first_response(c) * 1000 for c in self.channels}
        self._res_sla_ms = {p: self.sla.resolution(p) * 1000 for p in self.priorities}

        self.clock = EventClock(config.live_threshold_s * 1000, wall)
        self.seen = SeenIds(config.largest_window_s * 1000)
        self.slots = _Slots(self.channels, self.priorities, self.regions, self.reasons)
        self.windows = SlidingWindows(config.windows, len(self.slots), len(self.channels))
        self.tickets = TicketBook(self.channels, self.priorities, self.categories, self.regions)
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
        fr_b = histogram_bounds("first_response", tuple(self.sla.first_response_s.values()))
        res_b = histogram_bounds("resolution", tuple(self.sla.resolution_s.values()))
        ret_b = histogram_bounds("return", (self.sla.return_processing_s,))
        self.h_first_response = {c: Histogram(fr_b) for c in self.channels}
        self.h_resolution = {p: Histogram(res_b) for p in self.priorities}
        self.h_return = {r: Histogram(ret_b) for r in self.regions}
        self._arrivals: dict[int, int] = {}
        self.last_event_wall_ms: int | None = None
        # event class -> (handler, type label; None where the class has several)
        self._dispatch: dict[type, tuple[Callable[[Any], bool], str | None]] = {
            TicketCreated: (self._created, "ticket.created"),
            TicketReplied: (self._replied, "ticket.replied"),
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
        # topic -> event class -> route (handler, (topic, type), accepted count); the
        # route of a class with several types is resolved per type (_outcome_route)
        self._routes: dict[str, dict[type, _Route]] = {}
        self._outcome_routes: dict[Key, _Route] = {}
        self._largest_ms = config.largest_window_s * 1000
        self._now = 0
        self._seen_ids = self.seen.accepted  # inlined lookups; refreshed after expiry
        self._add = self.windows.add  # value entries (first responses)
        self._count = self.windows.count  # counter-only entries
        self._build_codes()

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
        eid = event.event_id
        clk = self.clock
        accepted = self._seen_ids.get(eid)
        if accepted is not None and accepted > clk.clock_ms - self._largest_ms:
            self.duplicate_total[topic] = self.duplicate_total.get(topic, 0) + 1
            return
        routes = self._routes.get(topic)
        if routes is None:
            routes = self._route(topic)
        route = routes[type(event)]
        if route.key is None:
            route = self._outcome_route(topic, event.type)
        route.n += 1
        self.last_event_wall_ms = wall_ms
        ts = event.ts_ms
        # EventClock.observe, inlined: the watermark moves; in replay the clock follows
        wm = clk.watermark_ms
        if wm is None or ts > wm:
            clk.watermark_ms = ts
            if ts > clk.clock_ms and not clk.live:
                clk.clock_ms = ts
        clock = self._now = clk.clock_ms
        self._seen_ids[eid] = clock
        if ts <= clock - self._largest_ms:
            self.late_total[topic] = self.late_total.get(topic, 0) + 1
        if not route.handler(event):
            key = route.key
            assert key is not None  # resolved above
            self.orphan_total[key] = self.orphan_total.get(key, 0) + 1

    def _route(self, topic: str) -> dict[type, _Route]:
        routes = self._routes[topic] = {
            cls: _Route(handler, None if etype is None else (topic, etype))
            for cls, (handler, etype) in self._dispatch.items()
        }
        return routes

    def _outcome_route(self, topic: str, etype: str) -> _Route:
        route = self._outcome_routes.get((topic, etype))
        if route is None:
            handler = self._routes[topic][ReturnClosed].handler
            route = self._outcome_routes[(topic, etype)] = _Route(handler, (topic, etype))
        return route

    @property
    def events_total(self) -> dict[Key, int]:
        """Accepted events (orphans included) by (topic, type)."""
        out = dict.fromkeys(product(self.topics, EVENT_TYPES), 0)
        for routes in self._routes.values():
            for route in routes.values():
                if route.n:
                    assert route.key is not None
                    out[route.key] = out.get(route.key, 0) + route.n
        for route in self._outcome_routes.values():
            if route.n:
                assert route.key is not None
                out[route.key] = out.get(route.key, 0) + route.n
        return out

    def _code(self, *key: tuple[str, str], series: int = -1) -> int:
        """The window entry code of one combination of (metric, label) slots."""
        return self.windows.code([self.slots[k] for k in key], series)

    def _build_codes(self) -> None:
        """Every window entry code up front: the hot path only indexes a dict."""
        code = self._code
        self._c_created = {c: code(("tickets_created", c)) for c in self.channels}
        self._c_fr = {
            (c, ok): code(("first_responses", c), *([("first_responses_within_sla", c)] * ok),
                          series=self._chan_idx[c])
            for c in self.channels for ok in (False, True)
        }
        self._c_res: dict[tuple[str, bool, bool, bool], int] = {}
        flags = (False, True)
        for p, ok, fcr, bot in product(self.priorities, flags, flags, flags):
            key: list[tuple[str, str]] = [("resolutions", p)]
            key += [("resolutions_within_sla", p)] * ok
            key += [("resolutions_first_contact", "")] * fcr
            key += [("resolutions_by_bot", "")] * bot
            self._c_res[(p, ok, fcr, bot)] = code(*key)
        self._c_rated: dict[tuple[bool | None, str | None], int] = {}
        for csat, nps in product((None, False, True), (None, "promoter", "detractor", "")):
            key = []
            if csat is not None:
                key += [("csat_ratings", "")] + [("csat_satisfied", "")] * csat
            if nps is not None:
                key.append(("nps_ratings", ""))
                if nps:
                    key.append((f"nps_{nps}s", ""))
            self._c_rated[(csat, nps)] = code(*key)
        # region -> (on time, late)
        self._c_delivered = {
            r: (code(("orders_delivered", r)),
                code(("orders_delivered", r), ("deliveries_late", r)))
            for r in self.regions
        }
        self._c_requested = {
            (r, why): code(("returns_requested", r), ("returns_by_reason", why))
            for r in self.regions for why in self.reasons
        }
        self._c_transfer = code(("transfers", ""))
        self._c_escalate = code(("escalations", ""))
        self._c_reopen = code(("reopens", ""))

    # -- handlers: return False for an orphan ----------------------------------------
    def _created(self, e: TicketCreated) -> bool:
        ts = e.ts_ms
        book = self.tickets
        if e.ticket_id not in book.tickets:
            book.add(e.ticket_id, ts, book.profile(e.channel, e.category, e.priority, e.region))
        self._count(ts, self._c_created[e.channel], self._now)
        minute = ts // 60000
        self._arrivals[minute] = self._arrivals.get(minute, 0) + 1
        return True

    def _replied(self, e: TicketReplied) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        if e.by_agent and self.tickets.agent_replied(t):
            elapsed = e.ts_ms - t[CREATED]
            ch = t[PROFILE].channel
            seconds = elapsed / 1000.0
            self.h_first_response[ch].observe(seconds)
            code = self._c_fr[(ch, elapsed <= self._fr_sla_ms[ch])]
            self._add(e.ts_ms, code, seconds, self._now)
        return True

    def _transferred(self, e: TicketTransferred) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.flag(t, TRANSFERRED)
        self._count(e.ts_ms, self._c_transfer, self._now)
        return True

    def _escalated(self, e: TicketEscalated) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.flag(t, ESCALATED)
        self._count(e.ts_ms, self._c_escalate, self._now)
        return True

    def _resolved(self, e: TicketResolved) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        elapsed = e.ts_ms - t[CREATED]
        prof = t[PROFILE]
        p, flags = prof.priority, prof.flags
        self.h_resolution[p].observe(elapsed / 1000.0)
        code = self._c_res[(
            p,
            elapsed <= self._res_sla_ms[p],
            not flags & (TRANSFERRED | ESCALATED | REOPENED),
            not flags & AGENT,
        )]
        self._count(e.ts_ms, code, self._now)
        self.tickets.resolve(t)
        return True

    def _reopened(self, e: TicketReopened) -> bool:
        t = self.tickets.tickets.get(e.ticket_id)
        if t is None:
            return False
        self.tickets.reopen(t)
        self._count(e.ts_ms, self._c_reopen, self._now)
        return True

    def _rated(self, e: TicketRated) -> bool:
        if e.ticket_id not in self.tickets.tickets:
            return False
        csat = None if e.csat is None else e.csat >= 4
        nps = None if e.nps is None else (
            "promoter" if e.nps >= 9 else "detractor" if e.nps <= 6 else "")
        self._count(e.ts_ms, self._c_rated[(csat, nps)], self._now)
        return True

    def _delivered(self, e: ShipmentDelivered) -> bool:
        ts, promised = e.ts_ms, e.promised_ms
        on_time, late = self._c_delivered[e.region]
        self._count(ts, late if promised is not None and ts > promised else on_time, self._now)
        return True

    def _requested(self, e: ReturnRequested) -> bool:
        self.returns.request(e.return_id, e.ts_ms, e.region)
        self._count(e.ts_ms, self._c_requested[(e.region, e.reason)], self._now)
        return True

    def _return_touched(self, e: ReturnReceived | ReturnInspected) -> bool:
        return self.returns.get(e.return_id) is not None

    def _return_closed(self, e: ReturnClosed) -> bool:
        r = self.returns.get(e.return_id)
        if r is None:
            return False
        if self.returns.close(r) and e.outcome != "cancelled":
            self.h_return[r.region].observe((e.ts_ms - r.requested_ms) / 1000.0)
        return True

    # -- output ----------------------------------------------------------------------
    def tick(self) -> int:
        """Move the clock (live mode follows the wall clock), slide windows, expire state."""
        clock = self.clock.now()
        self.windows.advance(clock)
        horizon = clock - self.config.state_horizon_s * 1000
        self.tickets.forget_created_before(horizon)
        self.returns.forget_created_before(horizon)
        self.seen.expire(clock)
        self._seen_ids = self.seen.accepted
        oldest_minute = (clock - _ARRIVAL_MINUTES * 60000) // 60000
        if self._arrivals and min(self._arrivals) < oldest_minute:
            for m in [m for m in self._arrivals if m < oldest_minute]:
                del self._arrivals[m]
        return clock

    def snapshot(
        self,
        *,
        health: ConsumerHealth | None = None,
    ) -> Snapshot:
        clock = self.tick()
        wall = self.clock.last_wall_ms
        windows = {name: self._window_snapshot(name) for name in self.windows.names()}
        short, long_ = min(self.config.windows.items(), key=lambda kv: kv[1]), max(
            self.config.windows.items(), key=lambda kv: kv[1]
        )
        peak = peak_ratio(
            sum(windows[short[0]].tickets_created.values()), short[1],
            sum(windows[long_[0]].tickets_created.values()), long_[1],
        )
        unanswered, fr_overdue, fr_overdue_2x, oldest = {}, {}, {}, {}
        for ch, lst in self.tickets.unanswered.items():
            unanswered[ch] = len(lst)
            fr_overdue[ch] = bisect_left(lst, (clock - self._fr_sla_ms[ch],))
            fr_overdue_2x[ch] = bisect_left(lst, (clock - 2 * self._fr_sla_ms[ch],))
            oldest[ch] = max(0.0, (clock - lst[0][0]) / 1000.0) if lst else 0.0
        res_overdue = {
            p: bisect_left(lst, (clock - self._res_sla_ms[p],))
            for p, lst in self.tickets.open_by_priority.items()
        }
        return Snapshot(
            clock_ms=clock,
            wall_ms=wall,
            watermark_ms=self.clock.watermark_ms,
            live=self.clock.live,
            last_event_wall_ms=self.last_event_wall_ms,
            events_total=MappingProxyType(self.events_total),
            rejected_total=MappingProxyType(dict(self.rejected_total)),
            duplicate_total=MappingProxyType(dict(self.duplicate_total)),
            late_total=MappingProxyType(dict(self.late_total)),
            orphan_total=MappingProxyType(dict(self.orphan_total)),
            consumer_errors_total=MappingProxyType(dict(self.consumer_errors_total)),
            first_response_seconds={k: h.data() for k, h in self.h_first_response.items()},
            resolution_seconds={k: h.data() for k, h in self.h_resolution.items()},
            return_processing_seconds={k: h.data() for k, h in self.h_return.items()},
            backlog=MappingProxyType(dict(self.tickets.backlog)),
            unanswered=unanswered,
            first_response_overdue=fr_overdue,
            resolution_overdue=res_overdue,
            oldest_unanswered_age_s=oldest,
            returns_open=MappingProxyType(dict(self.returns.open_by_region)),
            windows=windows,
            peak_ratio=peak,
            health=health or ConsumerHealth(),
            act_now=self._act_now(clock),
            arrivals_per_minute=self._arrival_series(clock),
            backlog_by_age=self._backlog_by_age(clock),
            first_response_overdue_2x=fr_overdue_2x,
            arrivals_since_ms=min(self._arrivals) * 60000 if self._arrivals else None,
        )

    def _window_snapshot(self, name: str) -> WindowSnapshot:
        counts = self.windows.counts(name)
        idx = self.slots.index

        def by(metric: str, labels: tuple[str, ...]) -> dict[str, int]:
            return {lab: counts[idx[(metric, lab)]] for lab in labels}

        def one(metric: str) -> int:
            return counts[idx[(metric, "")]]

        requested = by("returns_requested", self.regions)
        delivered = by("orders_delivered", self.regions)
        quantiles = {}
        for i, ch in enumerate(self.channels):
            q = self.windows.quantiles(name, i, QUANTILES)
            if q:
                quantiles[ch] = q
        return WindowSnapshot(
            name=name,
            seconds=self.windows.seconds(name),
            tickets_created=by("tickets_created", self.channels),
            first_responses=by("first_responses", self.channels),
            first_responses_within_sla=by("first_responses_within_sla", self.channels),
            first_response_quantiles=quantiles,
            resolutions=by("resolutions", self.priorities),
            resolutions_within_sla=by("resolutions_within_sla", self.priorities),
            resolutions_first_contact=one("resolutions_first_contact"),
            resolutions_by_bot=one("resolutions_by_bot"),
            escalations=one("escalations"),
            transfers=one("transfers"),
            reopens=one("reopens"),
            csat_ratings=one("csat_ratings"),
            csat_satisfied=one("csat_satisfied"),
            nps_ratings=one("nps_ratings"),
            nps_promoters=one("nps_promoters"),
            nps_detractors=one("nps_detractors"),
            orders_delivered=delivered,
            deliveries_late=by("deliveries_late", self.regions),
            returns_requested=requested,
            returns_by_reason=by("returns_by_reason", self.reasons),
            return_rate=return_rates(requested, delivered),
            first_response_sum_s={ch: self.windows.value_sum(name, i)
                                   for i, ch in enumerate(self.channels)},
        )

    def _act_now(self, clock: int, limit: int = 10) -> tuple[ActionTicket, ...]:
        """The oldest unanswered and resolution-overdue tickets, worst (age ÷ SLA) first."""
        best: dict[str, ActionTicket] = {}
        candidates = [
            (lst, self._fr_sla_ms[ch], "unanswered") for ch, lst in self.tickets.unanswered.items()
        ] + [
            (lst, self._res_sla_ms[p], "overdue")
            for p, lst in self.tickets.open_by_priority.items()
        ]
        for lst, sla_ms, kind in candidates:
            for created, tid, prof in lst.islice(0, limit):
                age = clock - created
                if kind == "overdue" and age <= sla_ms:
                    break
                a = ActionTicket(tid, prof.channel, prof.priority, prof.region,
                                 max(0.0, age / 1000.0), sla_ms / 1000.0, kind)
                prev = best.get(tid)
                if prev is None or a.age_s / a.sla_s > prev.age_s / prev.sla_s:
                    best[tid] = a
        ranked = sorted(best.values(), key=lambda a: (-a.age_s / a.sla_s, a.ticket_id))
        return tuple(ranked[:limit])

    def _arrival_series(self, clock: int, minutes: int = 6 * 60) -> tuple[tuple[int, int], ...]:
        last = clock // 60000
        arr = self._arrivals
        return tuple((m * 60000, arr.get(m, 0)) for m in range(last - minutes + 1, last + 1))

    def _backlog_by_age(self, clock: int) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for p, lst in self.tickets.open_by_priority.items():
            prev = len(lst)
            for label, secs in _AGE_BUCKETS:
                cut = bisect_left(lst, (clock - secs * 1000,))
                out[(p, label)] = prev - cut
                prev = cut
            out[(p, ">2d")] = prev
        return out
