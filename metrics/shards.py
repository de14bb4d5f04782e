"""State per source partition: one :class:`~metrics.engine.Engine` shard per (topic,
partition), one event clock for all of them, and a snapshot that merges the shards.

Why shards: a restart or a reassignment then rebuilds (or loads from a checkpoint,
``metrics/checkpoint.py``) only the partitions that are new to the process, and a revoked
partition's state is dropped whole. Every piece of state belongs to the partition its
events came from: a ticket's events share its key and so its partition (SPEC §1), a
return's likewise, and a re-delivered event id comes back on its key's partition. So each
shard folds exactly what the single engine folded for those events, as long as producers
keep that contract (docs/semantics.md says what happens when they do not).

The clock is shared (SPEC §2: the watermark is the largest ``ts`` of ALL partitions), so a
shard sees the same clock at every event as the single engine did: late events, window
membership, expiry and score timers are decided alike. Duplicates are found across the
shards: each shard remembers the ids it accepted (they move with its partition), and an
event is a duplicate when any shard of the process holds its id — a copy re-sent by a
client whose partitioner differs (librdkafka's crc32 vs the Java client's murmur2) lands
on another partition than its original. The merge is exact: counts and
histogram buckets add (sums in integer milliseconds), ages take the largest, and window
quantiles are read from the shards' sorted values together (:func:`kth`), not averaged.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields, replace
from functools import partial
from types import MappingProxyType
from typing import Any, Final

from core.config import Config
from core.definitions import peak_ratio, return_rates
from core.snapshot import ConsumerHealth, HistogramData, Snapshot, WindowSnapshot
from metrics.assembly import QUANTILES, _ratio, assemble
from metrics.checkpoint import decode, encode
from metrics.clock import EventClock
from metrics.dedupe import SeenIds, stable_hash
from metrics.engine import Engine
from metrics.histogram import Histogram

__all__ = ["FOLD_KEY", "ShardKey", "ShardedEngine", "kth"]

ShardKey = tuple[str, int]  # (source topic, partition)
# payloads folded without a partition (benchmarks, tests: Pipeline.fold) share one shard
FOLD_KEY: Final[ShardKey] = ("", -1)

_ADD: Final = frozenset({
    "events_total", "rejected_total", "duplicate_total", "late_total", "orphan_total",
    "consumer_errors_total", "backlog", "unanswered", "first_response_overdue",
    "resolution_overdue", "returns_open", "backlog_by_age", "first_response_overdue_2x",
    "score_turns_total", "score_turns_within_total", "awaiting_reply", "response_overdue",
    "response_overdue_2x",
})
_MAX: Final = frozenset({"oldest_unanswered_age_s", "oldest_awaiting_reply_age_s"})
_HISTOGRAMS: Final = {"first_response_seconds": "h_first_response",
                      "resolution_seconds": "h_resolution",
                      "return_processing_seconds": "h_return",
                      "response_seconds": "h_response"}
# the same in every shard (the shared clock, the configuration) or merged below
_SAME: Final = frozenset({"clock_ms", "wall_ms", "watermark_ms", "live", "score_targets",
                          "business_hours_open", "health"})
_OWN: Final = frozenset({"last_event_wall_ms", "windows", "peak_ratio", "act_now",
                         "arrivals_per_minute", "arrivals_since_ms"})
_W_ADD: Final = frozenset({
    "tickets_created", "first_responses", "first_responses_within_sla", "resolutions",
    "resolutions_within_sla", "resolutions_first_contact", "resolutions_by_bot",
    "escalations", "transfers", "reopens", "csat_ratings", "csat_satisfied", "nps_ratings",
    "nps_promoters", "nps_detractors", "orders_delivered", "deliveries_late",
    "returns_requested", "returns_by_reason", "turns", "responses", "responses_within_sla",
    "score_turns", "score_turns_within",
})
_W_OWN: Final = frozenset({"name", "seconds", "return_rate", "first_response_quantiles",
                           "first_response_sum_s", "response_quantiles", "response_sum_s"})


class ShardedEngine:
    """The shards of one process. The pipeline routes each event to its partition's shard
    (:meth:`shard`) and reads :meth:`snapshot`; the reader adds and drops shards as
    partitions come and go. With one shard or none (``Pipeline.fold``) attribute reads fall
    through to it (or to an empty one), so tools that look inside "the engine" keep working."""

    def __init__(self, config: Config, wall: Callable[[], int]) -> None:
        self.config = config
        self.wall = wall
        self.clock = EventClock(config.live_threshold_s * 1000, wall)
        self.shards: dict[ShardKey, Engine] = {}
        # per shard (by its SeenIds' id): that SeenIds and the list of the others'
        self._others: dict[int, tuple[SeenIds, list[SeenIds]]] = {}
        self._empty: Engine | None = None  # what a process without partitions shows

    # -- shards ------------------------------------------------------------------------
    def new_engine(self) -> Engine:
        """An empty shard on the shared clock (not added), whose duplicate check asks the
        other shards too: C-level probes of each one's dicts, its sealed runs only when the
        event is older than their newest id (the id hashed once for all shards)."""
        e = Engine(self.config, self.wall, clock=self.clock)
        own = e.seen
        others: list[SeenIds] = []  # kept up to date by _changed()
        self._others[id(own)] = (own, others)
        own_add = own.add

        def seen_add(event_id: str, clock_ms: int, ts_ms: int) -> bool:
            h = None
            for s in others:
                if ((event_id in s._cur or event_id in s._prev)  # C-level probes first
                        and s.holds(event_id, clock_ms, ts_ms)):
                    return True
                if ts_ms < s._sealed_hi:  # behind its newest run: hashed once for all
                    if h is None:
                        h = stable_hash(event_id)
                    if s.sealed_holds(h, ts_ms, clock_ms):
                        return True
            return own_add(event_id, clock_ms, ts_ms)

        e._seen_add = seen_add
        return e

    def _changed(self) -> None:
        """The shards changed: every shard's list of the others' remembered ids."""
        seens = [e.seen for e in self.shards.values()]
        for own, others in self._others.values():
            others[:] = [x for x in seens if x is not own]

    def shard(self, topic: str, partition: int) -> Engine:
        """The partition's shard, created empty on first use."""
        key = (topic, partition)
        e = self.shards.get(key)
        if e is None:
            e = self.shards[key] = self.new_engine()
            self._changed()
        return e

    def put(self, key: ShardKey, engine: Engine) -> None:
        """Install a shard (e.g. loaded from a checkpoint) in place of any other."""
        old = self.shards.get(key)
        if old is not None and old is not engine:
            self._others.pop(id(old.seen), None)
        self.shards[key] = engine
        self._changed()

    def drop(self, key: ShardKey) -> None:
        old = self.shards.pop(key, None)
        if old is not None:
            self._others.pop(id(old.seen), None)
        self._changed()

    def clear(self) -> None:
        """Drop every shard and start the clock again (a rebuild from empty)."""
        self.shards.clear()
        self._others.clear()
        self.clock = EventClock(self.config.live_threshold_s * 1000, self.wall)

    def observe_clock(self, clock_ms: int, watermark_ms: int | None) -> None:
        """Take a loaded shard's clock into the shared one (it never goes back)."""
        c = self.clock
        if watermark_ms is not None and (c.watermark_ms is None or watermark_ms > c.watermark_ms):
            c.watermark_ms = watermark_ms
        if clock_ms > c.clock_ms:
            c.clock_ms = clock_ms

    # -- checkpoints (metrics/checkpoint.py) -----------------------------------------
    def save(self, key: ShardKey, empty: bool = False) -> bytes:
        """The shard's state as checkpoint bytes (``empty``: an empty one if there is no
        such shard, else KeyError)."""
        e = self.shards.get(key)
        if e is not None:
            return encode(e)
        if not empty:
            raise KeyError(key)
        e = self.new_engine()
        try:
            return encode(e)
        finally:
            self._others.pop(id(e.seen), None)

    def load(self, key: ShardKey, payload: bytes) -> None:
        """Install the shard a checkpoint holds; raises CheckpointError (nothing changed)."""
        made: list[Engine] = []

        def make() -> Engine:
            made.append(self.new_engine())
            return made[-1]

        try:
            engine, clock_ms, watermark_ms = decode(payload, make)
        except Exception:
            for e in made:  # not installed: its duplicate check is not kept up to date
                self._others.pop(id(e.seen), None)
            raise
        self.put(key, engine)
        self.observe_clock(clock_ms, watermark_ms)

    # -- the single-engine interface -------------------------------------------------
    def process(self, topic: str, event: Any, wall_ms: int, partition: int | None = None) -> None:
        key = FOLD_KEY if partition is None else (topic, partition)
        e = self.shards.get(key) or self.shard(*key)
        e.process(topic, event, wall_ms)

    def reject(self, topic: str, reason: Any, partition: int | None = None) -> None:
        key = FOLD_KEY if partition is None else (topic, partition)
        self.shard(*key).reject(topic, reason)

    def batch_error(self, topic: str, partition: int, base_offset: int, reason: str) -> None:
        self.shard(topic, partition).batch_error(topic, partition, base_offset, reason)

    @property
    def events_total(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for e in self._engines():
            for k, n in e.events_total.items():
                out[k] = out.get(k, 0) + n
        return out

    def tick(self) -> int:
        """Move the shared clock once, then every shard to it."""
        clock = self.clock.now()
        for e in self._engines():
            e.tick(clock)
        return clock

    def snapshot(self, *, health: ConsumerHealth | None = None) -> Snapshot:
        """The shards' snapshots merged (pure, like ``Engine.snapshot``)."""
        engines = list(self._engines())
        if len(engines) == 1:
            return engines[0].snapshot(health=health)
        return merge(engines, [assemble(e, health=ConsumerHealth()) for e in engines],
                     health or ConsumerHealth())

    def _engines(self) -> Iterator[Engine]:
        if self.shards:
            yield from self.shards.values()
            return
        if self._empty is None or self._empty.clock is not self.clock:
            self._empty = self.new_engine()
        yield self._empty

    def __getattr__(self, name: str) -> Any:
        # only reached for names this class does not define
        shards = self.__dict__.get("shards")
        if shards is not None and len(shards) <= 1:
            return getattr(next(self._engines()), name)
        raise AttributeError(f"{type(self).__name__} with {len(shards or ())} shards has no "
                             f"{name!r}: read it per shard (.shards)")


# -- the merge ---------------------------------------------------------------------------
def kth(lists: Sequence[Any], k: int) -> float:
    """The ``k``-th smallest (0-based) value of several sorted lists taken together, by
    bisection (``SortedList.bisect_*`` is O(log n)): no list is copied or merged."""
    lo = [0] * len(lists)
    hi = [len(x) for x in lists]
    if not 0 <= k < sum(hi):
        raise IndexError(k)
    # a SortedList's own bisect methods: the bisect module would index it per probe
    # (each index an O(log n) walk in Python: 30x slower at 6 shards)
    lefts = [getattr(x, "bisect_left", None) or partial(bisect_left, x) for x in lists]
    rights = [getattr(x, "bisect_right", None) or partial(bisect_right, x) for x in lists]
    while True:
        i = max(range(len(lists)), key=lambda j: hi[j] - lo[j])
        pivot = lists[i][(lo[i] + hi[i]) // 2]
        below = [min(max(bl(pivot), a), b) for bl, a, b in zip(lefts, lo, hi, strict=True)]
        upto = [min(max(br(pivot), a), b) for br, a, b in zip(rights, lo, hi, strict=True)]
        n_below = sum(b - a for b, a in zip(below, lo, strict=True))
        n_upto = sum(b - a for b, a in zip(upto, lo, strict=True))
        if k < n_below:
            hi = below
        elif k < n_upto:
            return float(pivot)
        else:
            k -= n_upto
            lo = upto


def _quantile(lists: Sequence[Any], q: float) -> float:
    """``metrics.windows.quantile`` over the union of sorted lists, to the same bits."""
    n = sum(map(len, lists))
    h = (n - 1) * q
    low = int(h)
    a = kth(lists, low)
    b = kth(lists, min(low + 1, n - 1))
    return a + (h - low) * (b - a)


def _add(maps: Sequence[Mapping[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, 0) + v
    return out


def _max(maps: Sequence[Mapping[Any, float]]) -> dict[Any, float]:
    out: dict[Any, float] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = max(out.get(k, v), v)
    return out


def _histograms(engines: Sequence[Engine], attr: str) -> dict[str, HistogramData]:
    out = {}
    first: dict[str, Histogram] = getattr(engines[0], attr)
    for label, h in first.items():
        counts = [0] * len(h.counts)
        sum_ms = 0
        for e in engines:
            other: Histogram = getattr(e, attr)[label]
            counts = [a + b for a, b in zip(counts, other.counts, strict=True)]
            sum_ms += other.sum_ms
        acc, cumulative = 0, []
        for c in counts:
            acc += c
            cumulative.append(acc)
        out[label] = HistogramData(h.bounds, tuple(cumulative), sum_ms / 1000)
    return out


def _series(engines: Sequence[Engine], name: str,
            series: Mapping[str, int]) -> tuple[dict[str, dict[float, float]], dict[str, float]]:
    """Exact quantiles and sums of a window's value series over every shard."""
    quantiles, sums = {}, {}
    for label, i in series.items():
        lists = [x for e in engines if (x := e.windows.values(name, i))]
        # the window's running sums are integer thousandths (metrics/windows.py)
        milli = sum(e.windows._by_name[name].sums[i] for e in engines)
        sums[label] = milli / 1000
        if lists:
            quantiles[label] = {q: _quantile(lists, q) for q in QUANTILES}
    return quantiles, sums


def _window(engines: Sequence[Engine], parts: Sequence[WindowSnapshot]) -> WindowSnapshot:
    w0 = parts[0]
    changes: dict[str, Any] = {}
    for f in fields(WindowSnapshot):
        if f.name in _W_ADD:
            values = [getattr(p, f.name) for p in parts]
            changes[f.name] = (sum(values) if isinstance(values[0], int)
                               else _add(values))
        elif f.name not in _W_OWN:
            raise AssertionError(f"WindowSnapshot.{f.name}: no merge rule (metrics/shards.py)")
    e0 = engines[0]
    fr_q, fr_sum = _series(engines, w0.name, e0.series.first_response)
    resp_q, resp_sum = _series(engines, w0.name, e0.series.response)
    return replace(
        w0, **changes, first_response_quantiles=fr_q, first_response_sum_s=fr_sum,
        response_quantiles=resp_q, response_sum_s=resp_sum,
        return_rate=return_rates(changes["returns_requested"], changes["orders_delivered"]),
    )


def merge(engines: Sequence[Engine], snaps: Sequence[Snapshot],
          health: ConsumerHealth) -> Snapshot:
    """One snapshot of several shards on one clock, exactly what one engine holding all
    their state would assemble."""
    s0 = snaps[0]
    changes: dict[str, Any] = {"health": health}
    for f in fields(Snapshot):
        name = f.name
        if name in _ADD:
            changes[name] = MappingProxyType(_add([getattr(s, name) for s in snaps]))
        elif name in _MAX:
            changes[name] = _max([getattr(s, name) for s in snaps])
        elif name in _HISTOGRAMS:
            changes[name] = _histograms(engines, _HISTOGRAMS[name])
        elif name not in _SAME and name not in _OWN:
            raise AssertionError(f"Snapshot.{name}: no merge rule (metrics/shards.py)")
    windows = {name: _window(engines, [s.windows[name] for s in snaps]) for name in s0.windows}
    cfg = engines[0].config.windows
    short = min(cfg.items(), key=lambda kv: kv[1])
    long_ = max(cfg.items(), key=lambda kv: kv[1])
    peak = peak_ratio(
        sum(windows[short[0]].tickets_created.values()), short[1],
        sum(windows[long_[0]].tickets_created.values()), long_[1],
    )
    best: dict[str, Any] = {}
    for s in snaps:
        for a in s.act_now:
            prev = best.get(a.ticket_id)
            if prev is None or _ratio(a) > _ratio(prev):
                best[a.ticket_id] = a
    act_now = tuple(sorted(best.values(), key=lambda a: (-_ratio(a), a.ticket_id))[:10])
    arrivals = tuple((m, sum(s.arrivals_per_minute[i][1] for s in snaps))
                     for i, (m, _n) in enumerate(s0.arrivals_per_minute))
    since = [s.arrivals_since_ms for s in snaps if s.arrivals_since_ms is not None]
    last = [s.last_event_wall_ms for s in snaps if s.last_event_wall_ms is not None]
    return replace(
        s0, **changes, windows=windows, peak_ratio=peak, act_now=act_now,
        arrivals_per_minute=arrivals, arrivals_since_ms=min(since) if since else None,
        last_event_wall_ms=max(last) if last else None,
    )
