"""Snapshot assembly: the engine's state read at its clock into one immutable Snapshot.

Pure: nothing here changes the engine (the clock moves in ``Engine.tick``). State gauges
are bisections of the start-sorted indexes of ``metrics.state``: "waited longer than the
SLA" is a prefix of each index, in wall time (``start < clock - sla``, as always) or, for
a channel with a business-hours calendar, found by bisecting on the instant each wait
becomes overdue (``core.definitions.overdue_from_ms``, monotonic in the start).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, groupby, islice, repeat
from operator import itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from core.business_calendar import Calendar
from core.definitions import overdue_from_ms, peak_ratio, return_rates, waited_ms
from core.snapshot import ActionTicket, ConsumerHealth, HistogramData, Snapshot, WindowSnapshot
from metrics.state import Profile
from metrics.windows import merged_counts

_ARRIVAL_MINUTES = 24 * 60  # the arrivals the staffing forecast keeps, per minute


def arrival_floor(clock_ms: int) -> int:
    """The oldest minute of the arrivals kept at ``clock_ms``."""
    return (clock_ms - _ARRIVAL_MINUTES * 60000) // 60000


if TYPE_CHECKING:
    from sortedcontainers import SortedList

    from metrics.engine import Engine
    from metrics.histogram import Histogram
    from metrics.state import TicketBook
    from metrics.windows import SlidingWindows

__all__ = ["assemble", "assemble_shards", "overdue_count"]

_by_instant_and_id = itemgetter(0, 1)  # an entry as read: (start, ticket id, profile, ...)

QUANTILES = (0.5, 0.9, 0.99)
_AGE_BUCKETS = (("<1h", 3600), ("1-4h", 4 * 3600), ("4-24h", 86400), ("1-2d", 2 * 86400))
_ACT_NOW_SCAN = 1000  # awaiting entries looked at per channel for the act-now list


def overdue_count(book: TicketBook, index: SortedList, clock_ms: int, sla_ms: int,
                  cal: Calendar | None) -> int:
    """How many entries of one of ``book``'s start-sorted indexes (keys: metrics.state)
    have waited longer than the SLA."""
    if not index:
        return 0
    if cal is None:
        # the SortedList's own bisect: the bisect module would index it per probe
        return int(index.bisect_left(book.key_at(clock_ms - sla_ms)))
    start: Callable[[int], int] = book.ms_of
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
    return assemble_shards((engine,), health=health)


def _added(maps: Iterable[Mapping[Any, int]]) -> dict[Any, int]:
    """Maps added key by key (the shards' counters: the same keys, mostly in one order)."""
    ms = list(maps)
    out = dict(ms[0])
    if len(ms) == 1:
        return out
    keys = list(out)
    if all(list(m) == keys for m in ms):  # C-level: the values added in columns
        return dict(zip(keys, map(sum, zip(*(m.values() for m in ms), strict=True)),
                        strict=True))
    for m in ms[1:]:
        for k, v in m.items():
            out[k] = out.get(k, 0) + v
    return out


def _histograms(shards: Sequence[Engine], attr: str) -> dict[str, HistogramData]:
    if len(shards) == 1:
        return {k: h.data() for k, h in getattr(shards[0], attr).items()}
    out = {}
    books: list[dict[str, Histogram]] = [getattr(e, attr) for e in shards]
    for label, h in books[0].items():
        parts = [b[label] for b in books]
        counts = list(map(sum, zip(*(p.counts for p in parts), strict=True)))
        out[label] = HistogramData(h.bounds, tuple(accumulate(counts)),
                                   sum(p.sum_ms for p in parts) / 1000)
    return out


def assemble_shards(
    shards: Sequence[Engine],
    *,
    health: ConsumerHealth,
    partition_windows: Mapping[tuple[str, int], Mapping[str, Mapping[str, int]]] | None = None,
) -> Snapshot:
    """One snapshot of the shards of one process (metrics/shards.py; a single engine is
    one shard): exactly what one engine holding all their state assembles. They share one
    clock and their window value series; counts add per code before they are expanded,
    gauges are counted per shard's indexes and added, ages take the oldest."""
    e = shards[0]
    if len(shards) > 1 and any(x.windows._windows[0].series is not e.windows._windows[0].series
                               for x in shards):
        raise ValueError("shards that do not share their window value series")
    sb = e.scores
    clock = e.clock.clock_ms
    books = [x.tickets for x in shards]
    windows = {name: _window_snapshot(shards, name) for name in e.windows.names()}
    short = min(e.config.windows.items(), key=lambda kv: kv[1])
    long_ = max(e.config.windows.items(), key=lambda kv: kv[1])
    peak = peak_ratio(
        sum(windows[short[0]].tickets_created.values()), short[1],
        sum(windows[long_[0]].tickets_created.values()), long_[1],
    )
    unanswered, fr_overdue, fr_overdue_2x, oldest = {}, {}, {}, {}
    for ch in e.tickets.awaiting:
        cal, sla = e.calendars[ch], e.fr_sla_ms[ch]
        lists = [(b, lst) for b in books for lst in b.unanswered(ch)]
        unanswered[ch] = sum(len(lst) for _b, lst in lists)
        fr_overdue[ch] = sum(overdue_count(b, lst, clock, sla, cal) for b, lst in lists)
        fr_overdue_2x[ch] = sum(overdue_count(b, lst, clock, 2 * sla, cal) for b, lst in lists)
        firsts = [b.ms_of(lst[0]) for b, lst in lists if lst]
        oldest[ch] = max(0.0, (clock - min(firsts)) / 1000.0) if firsts else 0.0
    awaiting, resp_overdue, resp_overdue_2x, oldest_awaiting = {}, {}, {}, {}
    for ch in e.tickets.awaiting:
        cal, sla = e.calendars[ch], e.response_sla_ms[ch]
        both = [(b, x) for b in books for x in (b.awaiting[ch], b.awaiting_later[ch])]
        awaiting[ch] = sum(len(x) for _b, x in both)
        resp_overdue[ch] = sum(overdue_count(b, x, clock, sla, cal) for b, x in both)
        resp_overdue_2x[ch] = sum(overdue_count(b, x, clock, 2 * sla, cal) for b, x in both)
        starts = [b.ms_of(x[0]) for b, x in both if x]
        oldest_awaiting[ch] = max(0.0, (clock - min(starts)) / 1000.0) if starts else 0.0
    res_overdue = {
        p: sum(overdue_count(x.tickets, lst, clock, e.res_sla_ms[p], cal)
               for x in shards for lst, cal in _open(x, p))
        for p in e.priorities
    }
    arrivals = [x._arrivals for x in shards]
    floor = arrival_floor(clock)  # minutes before it wait for the next sweep
    firsts_min = [m for a in arrivals if (m := min(filter(floor.__le__, a), default=None))
                  is not None]
    lasts = [x.last_event_wall_ms for x in shards if x.last_event_wall_ms is not None]
    scored = [x.scores for x in shards if x.scores is not None]
    return Snapshot(
        clock_ms=clock,
        wall_ms=e.clock.last_wall_ms,
        watermark_ms=e.clock.watermark_ms,
        live=e.clock.live,
        last_event_wall_ms=max(lasts) if lasts else None,
        events_total=MappingProxyType(_added(x.events_total for x in shards)),
        rejected_total=MappingProxyType(_added(x.rejected_total for x in shards)),
        duplicate_total=MappingProxyType(_added(x.duplicate_total for x in shards)),
        late_total=MappingProxyType(_added(x.late_total for x in shards)),
        orphan_total=MappingProxyType(_added(x.orphan_total for x in shards)),
        consumer_errors_total=MappingProxyType(
            _added(x.consumer_errors_total for x in shards)),
        first_response_seconds=_histograms(shards, "h_first_response"),
        resolution_seconds=_histograms(shards, "h_resolution"),
        return_processing_seconds=_histograms(shards, "h_return"),
        response_seconds=_histograms(shards, "h_response"),
        backlog=MappingProxyType(_added(b.backlog for b in books)),
        unanswered=unanswered,
        first_response_overdue=fr_overdue,
        resolution_overdue=res_overdue,
        oldest_unanswered_age_s=oldest,
        returns_open=MappingProxyType(_added(x.returns.open_by_region for x in shards)),
        windows=windows,
        peak_ratio=peak,
        health=health,
        act_now=_act_now(shards, clock),
        arrivals_per_minute=_arrival_series(arrivals, clock),
        backlog_by_age=_backlog_by_age(shards, clock),
        first_response_overdue_2x=fr_overdue_2x,
        arrivals_since_ms=min(firsts_min) * 60000 if firsts_min else None,
        awaiting_reply=awaiting,
        response_overdue=resp_overdue,
        response_overdue_2x=resp_overdue_2x,
        oldest_awaiting_reply_age_s=oldest_awaiting,
        business_hours_open={
            ch: cal is None or cal.is_open(clock) for ch, cal in e.calendars.items()
        },
        score_turns_total=_added([s.turns_total() for s in scored]) if scored else {},
        score_turns_within_total=_added([s.within_total() for s in scored]) if scored else {},
        score_targets={} if sb is None else sb.targets(),
        partition_windows=partition_windows or {},
    )


def _open(e: Engine, priority: str) -> list[tuple[SortedList, Calendar | None]]:
    """The indexes of a priority's open tickets, each with the calendar that orders it."""
    book = e.tickets
    out: list[tuple[SortedList, Calendar | None]] = [(book.open_by_priority[priority], None)]
    for (p, ch), lst in book.open_by_calendar.items():
        if p == priority:
            out.append((lst, e.calendars[ch]))
    return out


def _value_sums(shards: Sequence[Engine], name: str,
                series: dict[str, int]) -> dict[str, float]:
    """Per series: the sum of its values inside the window (integer thousandths added)."""
    if len(shards) == 1:
        w = shards[0].windows
        return {ch: w.value_sum(name, i) for ch, i in series.items()}
    sums = [w._by_name[name].sums for w in _distinct(shards)]
    return {ch: sum(s[i] for s in sums) / 1000 for ch, i in series.items()}


def _distinct(shards: Sequence[Engine]) -> list[SlidingWindows]:
    """The shards' windows, each once: the installed shards of a process share theirs
    (metrics/window_spaces.py), where their counts add by code already."""
    return list({id(x.windows): x.windows for x in shards}.values())


def _window_snapshot(shards: Sequence[Engine], name: str) -> WindowSnapshot:
    e = shards[0]
    w = e.windows  # the value series are shared by the shards
    counts = merged_counts(_distinct(shards), name)
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
    score_turns: dict[str, int] = {}
    score_within: dict[str, int] = {}
    if e.scores is not None:
        parts = [x.scores.window(name) for x in shards if x.scores is not None]
        score_turns, score_within = _added(p[0] for p in parts), _added(p[1] for p in parts)
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
        first_response_sum_s=_value_sums(shards, name, fr),
        turns=by("turns", e.channels),
        responses=by("responses", e.channels),
        responses_within_sla=by("responses_within_sla", e.channels),
        response_quantiles=quantiles(resp),
        response_sum_s=_value_sums(shards, name, resp),
        score_turns=score_turns,
        score_turns_within=score_within,
    )


# an index entry as the readers see it: (instant, ticket id, profile, later turn)
_Entry = tuple[int, str, Profile, bool]


def _action(e: Engine, entry: _Entry, clock: int, sla_ms: int, kind: str,
            cal: Calendar | None) -> ActionTicket:
    start, tid, prof = entry[0], entry[1], entry[2]
    return ActionTicket(
        tid, prof.channel, prof.priority, prof.region, max(0.0, (clock - start) / 1000.0),
        sla_ms / 1000.0, kind,
        None if cal is None else max(0, waited_ms(start, clock, cal)) / 1000.0,
    )


def _read(book: TicketBook, keys: Iterable[int], later: bool) -> Iterator[_Entry]:
    """Index entries (sorted by instant, then row: metrics.state) as :data:`_Entry` in
    (instant, ticket id) order, lazily: the entries of one ms are sorted by id here."""
    rb, mask, base = book.row_bits, book._mask, book.base_ms or 0
    ids, table, pcol = book.ids, book.ptable, book.pcol
    for instant, group in groupby(keys, key=lambda k: k >> rb):
        g: list[Any] = [(instant + base, ids[k & mask], table[pcol[k & mask]], later)
                        for k in group]
        if len(g) > 1:
            g.sort(key=_by_instant_and_id)
        yield from g


def _oldest_turns(book: TicketBook, channel: str, n: int) -> list[_Entry]:
    """The ``n`` oldest open turns of one channel of one book in (start, ticket id)."""
    return list(islice(_merged_turns([book], channel), n))


def _merged_turns(books: Iterable[TicketBook], channel: str) -> Iterator[_Entry]:
    """A channel's open turns, oldest first in (start, ticket id) order, over every book
    (shard): first and later turns merged lazily."""
    streams: list[Iterator[_Entry]] = []
    for book in books:
        if book.awaiting[channel]:
            streams.append(_read(book, book.awaiting[channel], False))
        if book.awaiting_later[channel]:
            streams.append(_read(book, book.awaiting_later[channel], True))
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=_by_instant_and_id)


def _head(book: TicketBook, index: SortedList, limit: int) -> list[_Entry]:
    """The first ``limit`` entries of a creation-sorted index in (created, ticket id)
    order: every entry of the last instant taken is read (they sort by row)."""
    keys = list(index.islice(0, limit))
    n = len(index)
    if n > limit:
        rb = book.row_bits
        last, i = keys[-1] >> rb, limit
        while i < n and index[i] >> rb == last:
            keys.append(index[i])
            i += 1
    return list(islice(_read(book, keys, False), limit))


def _ratio(a: ActionTicket) -> float:
    return (a.age_s if a.business_age_s is None else a.business_age_s) / a.sla_s


def _act_now(shards: Sequence[Engine], clock: int, limit: int = 10) -> tuple[ActionTicket, ...]:
    """The customers waiting longest for a reply (first turns against the first-response
    SLA, later turns against the response SLA) and the open P1 tickets past their
    resolution SLA: worst (age ÷ SLA, business age where the channel has a calendar)
    first. Each index is start-sorted, so its oldest entries of each kind are its worst:
    the oldest ``_ACT_NOW_SCAN`` turns of a channel are looked at, until ``limit`` of each
    kind are found (or none of a kind is left)."""
    e = shards[0]
    best: dict[str, ActionTicket] = {}

    def offer(a: ActionTicket) -> None:
        prev = best.get(a.ticket_id)
        if prev is None or _ratio(a) > _ratio(prev):
            best[a.ticket_id] = a

    for ch in e.tickets.awaiting:
        cal = e.calendars[ch]
        taken = {"unanswered": 0, "awaiting": 0}
        left = {"unanswered": sum(len(x.tickets.awaiting[ch]) for x in shards),
                "awaiting": sum(len(x.tickets.awaiting_later[ch]) for x in shards)}
        if not left["unanswered"] and not left["awaiting"]:
            continue
        for entry in islice(_merged_turns([x.tickets for x in shards], ch), _ACT_NOW_SCAN):
            later = entry[3]
            kind = "awaiting" if later else "unanswered"
            left[kind] -= 1
            if taken[kind] < limit:
                taken[kind] += 1
                sla = e.response_sla_ms[ch] if later else e.fr_sla_ms[ch]
                offer(_action(e, entry, clock, sla, kind, cal))
            if all(taken[k] >= limit or not left[k] for k in taken):
                break
    sla = e.res_sla_ms["P1"]
    opens = [_open(x, "P1") for x in shards]
    for j, (_lst, cal) in enumerate(opens[0]):
        heads = [_head(x.tickets, o[j][0], limit) for x, o in zip(shards, opens, strict=True)]
        merged: Iterable[_Entry] = (heapq.merge(*heads, key=_by_instant_and_id)
                                    if len(heads) > 1 else heads[0])
        for entry in islice(merged, limit):
            if overdue_from_ms(entry[0], sla, cal) > clock:
                break
            offer(_action(e, entry, clock, sla, "overdue", cal))
    ranked = sorted(best.values(), key=lambda a: (-_ratio(a), a.ticket_id))
    return tuple(ranked[:limit])


def _arrival_series(arrivals: Sequence[dict[int, int]], clock: int,
                    minutes: int = 6 * 60) -> tuple[tuple[int, int], ...]:
    last = clock // 60000
    ms = range(last - minutes + 1, last + 1)
    if len(arrivals) == 1:
        a = arrivals[0]
        return tuple((m * 60000, a.get(m, 0)) for m in ms)
    cols = [list(map(a.get, ms, repeat(0))) for a in arrivals]
    return tuple(zip((m * 60000 for m in ms), map(sum, zip(*cols, strict=True)), strict=True))


def _backlog_by_age(shards: Sequence[Engine], clock: int) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for p in shards[0].priorities:
        lists = [(x.tickets, lst) for x in shards for lst, _cal in _open(x, p) if lst]
        prev = sum(len(lst) for _b, lst in lists)
        for label, secs in _AGE_BUCKETS:
            cut = sum(lst.bisect_left(b.key_at(clock - secs * 1000)) for b, lst in lists)
            out[(p, label)] = prev - cut
            prev = cut
        out[(p, ">2d")] = prev
    return out
