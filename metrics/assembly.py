"""Snapshot assembly: the engine's state read at its clock into one immutable Snapshot.

Pure: nothing here changes the engine (the clock moves in ``Engine.tick``). State gauges
are bisections of the start-sorted indexes of ``metrics.state``: "waited longer than the
SLA" is a prefix of each index, in wall time (``start < clock - sla``, as always) or, for
a channel with a business-hours calendar, found by bisecting on the instant each wait
becomes overdue (``core.definitions.overdue_from_ms``, monotonic in the start).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable
from itertools import islice
from operator import itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedKeyList

from core.business_calendar import Calendar
from core.definitions import overdue_from_ms, peak_ratio, return_rates, waited_ms
from core.snapshot import ActionTicket, ConsumerHealth, Snapshot, WindowSnapshot
from metrics.state import ID, PROFILE, START, turn_start

if TYPE_CHECKING:
    from sortedcontainers import SortedList

    from metrics.engine import Engine

__all__ = ["assemble", "overdue_count"]

QUANTILES = (0.5, 0.9, 0.99)
_AGE_BUCKETS = (("<1h", 3600), ("1-4h", 4 * 3600), ("4-24h", 86400), ("1-2d", 2 * 86400))
_ACT_NOW_SCAN = 1000  # awaiting entries looked at per channel for the act-now list


def overdue_count(index: SortedList, clock_ms: int, sla_ms: int, cal: Calendar | None) -> int:
    """How many entries of a start-sorted index have waited longer than the SLA (a
    ``SortedKeyList`` is sorted by its key: the ``awaiting`` index, by turn start)."""
    keyed = isinstance(index, SortedKeyList)
    if cal is None:
        if keyed:
            return int(index.bisect_key_left(clock_ms - sla_ms))
        return bisect_left(index, (clock_ms - sla_ms,))
    start: Callable[[Any], int] = index.key if keyed else itemgetter(0)
    lo, hi = 0, len(index)
    while lo < hi:
        mid = (lo + hi) // 2
        if overdue_from_ms(start(index[mid]), sla_ms, cal) <= clock_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


def assemble(
    engine: Engine,
    *,
    health: ConsumerHealth,
) -> Snapshot:
    e = engine
    sb = e.scores
    clock = e.clock.clock_ms
    book = e.tickets
    windows = {name: _window_snapshot(e, name) for name in e.windows.names()}
    short = min(e.config.windows.items(), key=lambda kv: kv[1])
    long_ = max(e.config.windows.items(), key=lambda kv: kv[1])
    peak = peak_ratio(
        sum(windows[short[0]].tickets_created.values()), short[1],
        sum(windows[long_[0]].tickets_created.values()), long_[1],
    )
    unanswered, fr_overdue, fr_overdue_2x, oldest = {}, {}, {}, {}
    for ch, lst in book.unanswered.items():
        cal, sla = e.calendars[ch], e.fr_sla_ms[ch]
        unanswered[ch] = len(lst)
        fr_overdue[ch] = overdue_count(lst, clock, sla, cal)
        fr_overdue_2x[ch] = overdue_count(lst, clock, 2 * sla, cal)
        oldest[ch] = max(0.0, (clock - lst[0][0]) / 1000.0) if lst else 0.0
    awaiting, resp_overdue, resp_overdue_2x, oldest_awaiting = {}, {}, {}, {}
    for ch, lst in book.awaiting.items():
        cal, sla = e.calendars[ch], e.response_sla_ms[ch]
        both = (lst, book.awaiting_later[ch])  # first turns, later turns
        awaiting[ch] = len(both[0]) + len(both[1])
        resp_overdue[ch] = sum(overdue_count(x, clock, sla, cal) for x in both)
        resp_overdue_2x[ch] = sum(overdue_count(x, clock, 2 * sla, cal) for x in both)
        starts = [turn_start(x[0]) for x in both if x]
        oldest_awaiting[ch] = max(0.0, (clock - min(starts)) / 1000.0) if starts else 0.0
    res_overdue = {
        p: sum(overdue_count(lst, clock, e.res_sla_ms[p], cal) for lst, cal in _open(e, p))
        for p in e.priorities
    }
    return Snapshot(
        clock_ms=clock,
        wall_ms=e.clock.last_wall_ms,
        watermark_ms=e.clock.watermark_ms,
        live=e.clock.live,
        last_event_wall_ms=e.last_event_wall_ms,
        events_total=MappingProxyType(e.events_total),
        rejected_total=MappingProxyType(dict(e.rejected_total)),
        duplicate_total=MappingProxyType(dict(e.duplicate_total)),
        late_total=MappingProxyType(dict(e.late_total)),
        orphan_total=MappingProxyType(dict(e.orphan_total)),
        consumer_errors_total=MappingProxyType(dict(e.consumer_errors_total)),
        first_response_seconds={k: h.data() for k, h in e.h_first_response.items()},
        resolution_seconds={k: h.data() for k, h in e.h_resolution.items()},
        return_processing_seconds={k: h.data() for k, h in e.h_return.items()},
        response_seconds={k: h.data() for k, h in e.h_response.items()},
        backlog=MappingProxyType(dict(book.backlog)),
        unanswered=unanswered,
        first_response_overdue=fr_overdue,
        resolution_overdue=res_overdue,
        oldest_unanswered_age_s=oldest,
        returns_open=MappingProxyType(dict(e.returns.open_by_region)),
        windows=windows,
        peak_ratio=peak,
        health=health,
        act_now=_act_now(e, clock),
        arrivals_per_minute=_arrival_series(e._arrivals, clock),
        backlog_by_age=_backlog_by_age(e, clock),
        first_response_overdue_2x=fr_overdue_2x,
        arrivals_since_ms=min(e._arrivals) * 60000 if e._arrivals else None,
        awaiting_reply=awaiting,
        response_overdue=resp_overdue,
        response_overdue_2x=resp_overdue_2x,
        oldest_awaiting_reply_age_s=oldest_awaiting,
        business_hours_open={
            ch: cal is None or cal.is_open(clock) for ch, cal in e.calendars.items()
        },
        score_turns_total={} if sb is None else sb.turns_total(),
        score_turns_within_total={} if sb is None else sb.within_total(),
        score_targets={} if sb is None else sb.targets(),
    )



def _open(e: Engine, priority: str) -> list[tuple[SortedList, Calendar | None]]:
    """The indexes of a priority's open tickets, each with the calendar that orders it."""
    book = e.tickets
    out: list[tuple[SortedList, Calendar | None]] = [(book.open_by_priority[priority], None)]
    for (p, ch), lst in book.open_by_calendar.items():
        if p == priority:
            out.append((lst, e.calendars[ch]))
    return out


def _window_snapshot(e: Engine, name: str) -> WindowSnapshot:
    w = e.windows
    counts = w.counts(name)
    idx = e.slots.index

    def by(metric: str, labels: tuple[str, ...]) -> dict[str, int]:
        return {lab: counts[idx[(metric, lab)]] for lab in labels}

    def one(metric: str) -> int:
        return counts[idx[(metric, "")]]

    def quantiles(series: dict[str, int]) -> dict[str, dict[float, float]]:
        out = {}
        for ch, i in series.items():
            q = w.quantiles(name, i, QUANTILES)
            if q:
                out[ch] = q
        return out

    requested = by("returns_requested", e.regions)
    delivered = by("orders_delivered", e.regions)
    fr, resp = e.series.first_response, e.series.response
    score_turns, score_within = e.scores.window(name) if e.scores is not None else ({}, {})
    return WindowSnapshot(
        name=name,
        seconds=w.seconds(name),
        tickets_created=by("tickets_created", e.channels),
        first_responses=by("first_responses", e.channels),
        first_responses_within_sla=by("first_responses_within_sla", e.channels),
        first_response_quantiles=quantiles(fr),
        resolutions=by("resolutions", e.priorities),
        resolutions_within_sla=by("resolutions_within_sla", e.priorities),
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
        deliveries_late=by("deliveries_late", e.regions),
        returns_requested=requested,
        returns_by_reason=by("returns_by_reason", e.reasons),
        return_rate=return_rates(requested, delivered),
        first_response_sum_s={ch: w.value_sum(name, i) for ch, i in fr.items()},
        turns=by("turns", e.channels),
        responses=by("responses", e.channels),
        responses_within_sla=by("responses_within_sla", e.channels),
        response_quantiles=quantiles(resp),
        response_sum_s={ch: w.value_sum(name, i) for ch, i in resp.items()},
        score_turns=score_turns,
        score_turns_within=score_within,
    )


def _action(e: Engine, entry: Any, clock: int, sla_ms: int, kind: str,
            cal: Calendar | None) -> ActionTicket:
    start, tid, prof = entry[0], entry[ID], entry[PROFILE]
    return ActionTicket(
        tid, prof.channel, prof.priority, prof.region, max(0.0, (clock - start) / 1000.0),
        sla_ms / 1000.0, kind,
        None if cal is None else max(0, waited_ms(start, clock, cal)) / 1000.0,
    )


def _turn_order(t: Any) -> tuple[int, str]:
    return turn_start(t), t[ID]


def _oldest_turns(first: SortedList, later: SortedKeyList, n: int) -> list[Any]:
    """A channel's ``n`` oldest open turns in (start, ticket id) order: first turns (sorted
    so already) merged with later turns (sorted by start; ties, read through the last
    start taken, ordered by id here)."""
    b = list(later.islice(0, n))
    if len(b) == n:
        i = n
        while i < len(later) and later[i][START] == b[-1][START]:
            b.append(later[i])
            i += 1
    b.sort(key=_turn_order)
    return list(islice(heapq.merge(first.islice(0, n), b, key=_turn_order), n))


def _ratio(a: ActionTicket) -> float:
    return (a.age_s if a.business_age_s is None else a.business_age_s) / a.sla_s


def _act_now(e: Engine, clock: int, limit: int = 10) -> tuple[ActionTicket, ...]:
    """The customers waiting longest for a reply (first turns against the first-response
    SLA, later turns against the response SLA) and the open P1 tickets past their
    resolution SLA: worst (age ÷ SLA, business age where the channel has a calendar)
    first. Each index is start-sorted, so its oldest entries of each kind are its worst."""
    book = e.tickets
    best: dict[str, ActionTicket] = {}

    def offer(a: ActionTicket) -> None:
        prev = best.get(a.ticket_id)
        if prev is None or _ratio(a) > _ratio(prev):
            best[a.ticket_id] = a

    for ch, lst in book.awaiting.items():
        cal = e.calendars[ch]
        taken = {"unanswered": 0, "awaiting": 0}
        for entry in _oldest_turns(lst, book.awaiting_later[ch], _ACT_NOW_SCAN):
            later = book.is_later_turn(entry)
            kind = "awaiting" if later else "unanswered"
            if taken[kind] >= limit:
                if min(taken.values()) >= limit:
                    break
                continue
            taken[kind] += 1
            sla = e.response_sla_ms[ch] if later else e.fr_sla_ms[ch]
            offer(_action(e, (turn_start(entry), entry[ID], entry[PROFILE]), clock, sla, kind,
                          cal))
    sla = e.res_sla_ms["P1"]
    for lst, cal in _open(e, "P1"):
        for entry in lst.islice(0, limit):
            if overdue_from_ms(entry[0], sla, cal) > clock:
                break
            offer(_action(e, entry, clock, sla, "overdue", cal))
    ranked = sorted(best.values(), key=lambda a: (-_ratio(a), a.ticket_id))
    return tuple(ranked[:limit])


def _arrival_series(arrivals: dict[int, int], clock: int,
                    minutes: int = 6 * 60) -> tuple[tuple[int, int], ...]:
    last = clock // 60000
    return tuple((m * 60000, arrivals.get(m, 0)) for m in range(last - minutes + 1, last + 1))


def _backlog_by_age(e: Engine, clock: int) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for p in e.priorities:
        lists = [lst for lst, _cal in _open(e, p)]
        prev = sum(len(lst) for lst in lists)
        for label, secs in _AGE_BUCKETS:
            cut = sum(bisect_left(lst, (clock - secs * 1000,)) for lst in lists)
            out[(p, label)] = prev - cut
            prev = cut
        out[(p, ">2d")] = prev
    return out
