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
on another partition than its original. The snapshot is assembled once over all shards
(:func:`metrics.assembly.assemble_shards`) and is exact: the shards share one set of
windows in which each writes under its own entry codes (their counts add as codes expand
into slots), histogram buckets add (sums in integer milliseconds), gauges are counted in each
shard's indexes and added, ages take the oldest, and window quantiles are read from the
shared windows' value series (one sorted list per window and series for the process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from core.config import Config
from core.snapshot import ConsumerHealth, Snapshot
from metrics.assembly import assemble_shards
from metrics.checkpoint import decode, encode
from metrics.clock import EventClock
from metrics.dedupe import RecentIds, runs_from_bytes, runs_to_bytes
from metrics.engine import Engine
from metrics.slots import PARTITION_GAUGES, EntryCodes
from metrics.sortedarray import SortedArray
from metrics.window_spaces import add_space, extract, merge, remove
from metrics.windows import SlidingWindows

__all__ = ["FOLD_KEY", "ShardKey", "ShardedEngine"]

ShardKey = tuple[str, int]  # (source topic, partition)
# payloads folded without a partition (benchmarks, tests: Pipeline.fold) share one shard
FOLD_KEY: Final[ShardKey] = ("", -1)


class ShardedEngine:
    """The shards of one process. The pipeline routes each event to its partition's shard
    (:meth:`shard`) and reads :meth:`snapshot`; the reader adds and drops shards as
    partitions come and go. With one shard or none (``Pipeline.fold``) attribute reads fall
    through to it (or to an empty one), so tools that look inside "the engine" keep working.

    Two things are kept for the process rather than per shard, so that neither the fold
    nor the snapshot pays per shard: the windows (one :class:`SlidingWindows`, each shard
    writing under its own space of entry codes, metrics/window_spaces.py: a tick slides
    them once, the snapshot reads their counts and value series once; a shard's part is
    read back from its entries, :meth:`own_windows`, for its checkpoint and to take it
    out when its partition goes; 16-bit codes hold 360 shards' spaces), and the
    remembered ids of the recent periods
    (:class:`~metrics.dedupe.RecentIds`: one dict probe finds a copy of an event folded
    by any shard; each shard keeps its own sealed runs, searched only for an event older
    than the newest of them)."""

    def __init__(self, config: Config, wall: Callable[[], int]) -> None:
        self.config = config
        self.wall = wall
        self.clock = EventClock(config.live_threshold_s * 1000, wall)
        self.shards: dict[ShardKey, Engine] = {}
        self._empty: Engine | None = None  # what a process without partitions shows
        self._windows: SlidingWindows | None = None  # the installed shards', a space each
        self._codes = 0  # the entry codes of one engine's layout (a space's size)
        self._spaces: dict[ShardKey, int] = {}  # an installed shard's space (its base)
        self._free: list[int] = []  # spaces of shards that left, for the next ones
        self._ids = RecentIds(config.state_horizon_s * 1000)  # every installed shard's
        self._slots: dict[ShardKey, int] = {}  # an installed shard's slot in _ids
        self._picks: list[tuple[str, list[int]]] | None = None  # _gauge_codes

    # -- shards ------------------------------------------------------------------------
    @property
    def _series(self) -> dict[str, list[SortedArray]]:
        """Window -> its value series, shared by the installed shards."""
        return {w.name: w.series for w in self._shared()._windows}

    def _shared(self) -> SlidingWindows:
        if self._windows is None:
            self._windows = self.new_engine().windows
            self._codes = len(self._windows._total)
            self._free = [0]  # its own codes are the first space
        return self._windows

    def new_engine(self) -> Engine:
        """An empty shard on the shared clock, with windows of its own (not installed)."""
        return Engine(self.config, self.wall, clock=self.clock)

    def _install(self, key: ShardKey, engine: Engine) -> None:
        """Take an engine's state into the process: its windows into a space of the shared
        ones (metrics/window_spaces.py), its recent ids into the shared ones, where its
        duplicate check looks for every shard's."""
        shared, n = self._shared(), self._codes
        base = self._free.pop() if self._free else add_space(shared, n)
        if base is None:
            raise ValueError(f"more than {len(self._spaces)} partitions in one process: "
                             "their window entry codes do not fit in 16 bits")
        merge(shared, engine.windows, base)
        self._spaces[key] = base
        self._lend(engine, shared, engine.codes.shifted(base))
        slot = self._slots[key] = self._ids.attach(engine.seen)
        engine._seen_add = self._ids.adder(slot)

    @staticmethod
    def _lend(engine: Engine, windows: SlidingWindows, codes: EntryCodes) -> None:
        engine.windows, engine.codes = windows, codes
        engine._add, engine._count = windows.add, windows.count

    def own_windows(self, key: ShardKey) -> SlidingWindows:
        """An installed shard's windows on their own (its space of the shared ones)."""
        return extract(self._shared(), self._spaces[key], self._codes)

    def _release(self, key: ShardKey, engine: Engine) -> None:
        """Take a shard's state out of the process (its partition is dropped): it keeps
        its own windows and ids."""
        base = self._spaces.pop(key)
        own = extract(self._shared(), base, self._codes)
        remove(self._shared(), base, self._codes, own)
        self._free.append(base)
        self._lend(engine, own, engine.codes.shifted(-base))
        self._ids.detach(self._slots.pop(key))
        engine._seen_add = engine.seen.add

    def shard(self, topic: str, partition: int) -> Engine:
        """The partition's shard, created empty on first use."""
        key = (topic, partition)
        e = self.shards.get(key)
        if e is None:
            e = self.shards[key] = self.new_engine()
            self._install(key, e)
        return e

    def put(self, key: ShardKey, engine: Engine) -> None:
        """Install a shard (e.g. loaded from a checkpoint) in place of any other."""
        old = self.shards.get(key)
        if old is engine:
            return
        if old is not None:
            self._release(key, old)
        self.shards[key] = engine
        self._install(key, engine)

    def drop(self, key: ShardKey) -> None:
        old = self.shards.get(key)
        if old is not None:
            self._release(key, old)
            del self.shards[key]

    def clear(self) -> None:
        """Drop every shard and start the clock again (a rebuild from empty)."""
        self.shards.clear()
        self._windows = None
        self._spaces.clear()
        self._free = []
        self._ids = RecentIds(self.config.state_horizon_s * 1000)
        self._slots.clear()
        self._empty = None
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
        such shard, else KeyError). Its windows are its own part of the shared ones."""
        e = self.shards.get(key)
        if e is not None:
            self._ids.settle()  # after a rebuild: runs, not id strings
            shared = e.windows
            seen = e.seen  # its recent ids are in the shared dicts: lent back for the encoding
            seen._cur, seen._prev = self._ids.export(self._slots[key])
            seen._prev_hi = max(seen._prev.values()) + 1 if seen._prev else float("-inf")
            e.windows = self.own_windows(key)  # likewise its windows
            try:
                return encode(e)
            finally:
                seen._cur, seen._prev, seen._prev_hi = {}, {}, float("-inf")
                e.windows = shared
        if not empty:
            raise KeyError(key)
        return encode(self.new_engine())

    # -- the seal before a checkpoint, made in a forked copy (consumers/checkpoint_writer.py)
    def set_aside(self) -> bool:
        """Set the recent ids aside for a seal when a checkpoint would otherwise seal
        millions of them (:meth:`RecentIds.set_aside`); cheap. True: some are aside."""
        return self._ids.set_aside()

    def seal_aside(self) -> bytes:
        """Seal what was set aside, here (the forked copy), into the shards' runs: those
        runs as bytes for :meth:`install_sealed`; the next ``save`` encodes them."""
        return runs_to_bytes(self._ids.seal_aside())

    def install_sealed(self, data: bytes) -> None:
        """Take in the runs the copy sealed of what was set aside here."""
        self._ids.install(runs_from_bytes(data))

    def load(self, key: ShardKey, payload: bytes) -> None:
        """Install the shard a checkpoint holds; raises CheckpointError (nothing changed)."""
        engine, clock_ms, watermark_ms = decode(payload, self.new_engine)
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
        if self.shards:
            self._shared().advance(clock)  # one slide for every shard's entries
            for e in self.shards.values():
                e.tick(clock, windows=False)
        else:
            for e in self._engines():
                e.tick(clock)
        self._ids.expire(clock)
        return clock

    def snapshot(self, *, health: ConsumerHealth | None = None) -> Snapshot:
        """The shards' state as one snapshot (pure, like ``Engine.snapshot``): assembled
        once over all of them (metrics/assembly.py), exactly one engine's on their events."""
        per_partition = self.partition_windows() if self.config.partition_window_series else {}
        return assemble_shards(list(self._engines()), health=health or ConsumerHealth(),
                               partition_windows=per_partition)

    def partition_windows(self) -> dict[ShardKey, dict[str, dict[str, int]]]:
        """Per source partition and window, what its shard adds to the headline window
        gauges (metrics.slots.PARTITION_GAUGES): its slice of the shared windows' counts."""
        keys = [(key, base) for key, base in sorted(self._spaces.items()) if key[1] >= 0]
        if not keys:  # FOLD_KEY folds no partition
            return {}
        shared, n, picks = self._shared(), self._codes, self._gauge_codes()
        out: dict[ShardKey, dict[str, dict[str, int]]] = {key: {} for key, _ in keys}
        for w in shared.names():
            inside = shared.inside(w)
            for key, base in keys:
                mine = inside[base:base + n].__getitem__
                out[key][w] = {g: sum(map(mine, offsets)) for g, offsets in picks}
        return out

    def _gauge_codes(self) -> list[tuple[str, list[int]]]:
        """Per headline gauge: the entry codes of a space (by offset) that count in it,
        a code once per slot of the gauge it increments."""
        if self._picks is None:
            slots = next(iter(self.shards.values())).slots.index  # called with shards only
            gauge_of = {i: m for (m, _label), i in slots.items()}
            code_slots = self._shared()._code_slots[:self._codes]
            self._picks = [(g, [off for off, slots in enumerate(code_slots)
                                for s in slots if gauge_of[s] == g])
                           for g in PARTITION_GAUGES]
        return self._picks

    def remembered_ids(self) -> int:
        """Ids the duplicate filter holds for the installed shards (recent and sealed)."""
        return len(self._ids) + sum(e.seen.sealed_ids for e in self.shards.values())

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

