"""The pipeline: records → decoder → engine → snapshot cadence → listeners.

The one owner of the decode→fold loop. The reader (``consumers/reader.py``) knows Kafka
only and hands each batch here; this module decodes, aligns partitions in event time on a
live backlog, folds into the engine (rebuilt from empty whenever the reader says so),
and publishes snapshots that carry the reader's :class:`ConsumerHealth`. Benchmarks and
tests fold payloads through :meth:`Pipeline.fold` so they measure the loop that runs.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from consumers.alignment import EventTimeAligner
from consumers.decode import Decoder, Rejection
from consumers.reader import StreamReader
from consumers.undecodable import SkippedBatch
from core.config import Config
from core.snapshot import ConsumerHealth, Snapshot
from metrics.checkpoint import CheckpointError
from metrics.shards import FOLD_KEY, ShardedEngine

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)

BACKLOG_HOLD_MS = 3_000
"""How long (real, monotonic time) a partition fed moments ago holds the others back
while a backlog is read (the clock not live): long enough for a writer to come back to
a partition it left for others, short enough that a partition whose backlog ended costs
the rest only that. Where the consumer can tell (``consumers.fetch_buffer.EndWatch``), the
quiet is the broker's: a fetch sent this long after the partition's last records found
nothing more — not a fetch still on its way."""

BACKLOG_HOLD_MAX_MS = 30_000
"""The longest a partition waits for that answer (its fetches stuck: a broker that does
not answer) before it lets the others go on."""

DRAIN_SLICE_S = 2.0
"""The longest one call folds held-back records for (real time): the rest stay queued
and leave at the reader's next iteration. Released after a hold, hours of a backlog
could leave in one call, each snapshot of the evaluation grid taken inside it, while no
batch is read from the fetch child: the stream and its other partitions wait that long.
(The child keeps its group membership meanwhile, ``consumers.fetch_process``.)"""


class Pipeline:
    """Build one per process; ``run(stop)`` on the reader thread. ``publish`` gets every
    snapshot, the ``listeners`` (alerting, board) only those taken with the state rebuilt.
    ``tick_s`` sets the listeners' cadence in event time while a backlog is replayed."""

    def __init__(
        self,
        config: Config,
        *,
        wall: Callable[[], int] | None = None,
        publish: Callable[[Snapshot], None] = lambda snap: None,
        listeners: tuple[Callable[[Snapshot], None], ...] = (),
        tick_s: float | None = None,
        publish_interval_s: float | None = None,
        commit_interval_s: float = 5.0,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.wall = wall or (lambda: int(time.time() * 1000))
        self._publish = publish
        self._listeners = listeners
        self._tick_ms = int(tick_s * 1000) if tick_s else 0
        self._next_tick = 0
        self.decoder = Decoder(
            regions=config.regions,
            max_message_bytes=config.max_message_bytes,
            max_future_skew_s=config.max_future_skew_s,
        )
        self.engine = ShardedEngine(config, self.wall)  # a shard per source partition
        self._aligner = EventTimeAligner()
        self._positions: dict[Any, int] = {}  # tp -> next offset folded into its shard
        sn = config.snapshots
        self._min_gap_s = sn.min_interval_s
        self._cpu_share = sn.max_cpu_share
        self._publish_costs: deque[float] = deque(maxlen=5)  # the budget's measure
        self._published_at = 0.0  # time.monotonic() of the last snapshot
        self._unpublished = False  # events folded since the last snapshot
        self.reader = StreamReader(
            config, sink=self,
            publish_interval_s=sn.interval_s if publish_interval_s is None
            else publish_interval_s,
            commit_interval_s=commit_interval_s, consumer_overrides=consumer_overrides,
        )

    def run(self, stop: Any) -> None:
        """The reader's loop, until ``stop`` (a ``threading.Event``) is set."""
        self.reader.run(stop)

    # -- for benchmarks and tests: the same fold, over payloads held in memory ----------
    def fold(self, topic: str, values: Iterable[bytes | None], wall_ms: int) -> int:
        """Decode and fold payloads of one topic in order; returns how many were rejected."""
        decode = self.decoder.decode
        shard = self.engine.shard(*FOLD_KEY)
        process, reject = shard.process, shard.reject
        bad = 0
        for value in values:
            item = decode(value, wall_ms)
            if type(item) is Rejection:
                reject(topic, item.reason)
                bad += 1
            else:
                process(topic, item, wall_ms)  # type: ignore[arg-type]
        return bad

    def snapshot(self, health: ConsumerHealth | None = None) -> Snapshot:
        """Advance the engine's clock, then read it."""
        self.engine.tick()
        return self.engine.snapshot(health=health)

    # -- the reader's sink (consumers.reader.RecordSink) --------------------------------
    def rebuild(self) -> None:
        self.engine.clear()
        self._positions.clear()
        self._next_tick = 0
        self._aligner.clear()

    def position(self, tp: Any) -> int | None:
        return self._positions.get(tp)

    def drop(self, tp: Any) -> None:
        self.engine.drop((tp.topic, tp.partition))
        self._positions.pop(tp, None)

    def clear_held(self) -> None:
        self._aligner.clear()

    def checkpoint(self, tp: Any) -> bytes:
        return self.engine.save((tp.topic, tp.partition), empty=True)

    def set_aside(self) -> bool:
        return self.engine.set_aside()

    def seal_aside(self) -> bytes:
        return self.engine.seal_aside()

    def install_sealed(self, data: bytes) -> None:
        self.engine.install_sealed(data)

    def restore(self, tp: Any, payload: bytes, offset: int) -> str:
        try:
            self.engine.load((tp.topic, tp.partition), payload)
        except CheckpointError as exc:
            log.warning("checkpoint of %s[%d] refused: %s", tp.topic, tp.partition, exc)
            self.drop(tp)
            return exc.result
        # the reader seeks there; a rebalance that gives it back before any record was
        # folded keeps it as it is
        self._positions[tp] = offset
        return "loaded"

    def waiting_offset(self, tp: Any) -> int | None:
        waiting = self._aligner.first_waiting_offset(tp)
        return None if waiting is None else int(waiting)

    def skipped(self, s: SkippedBatch) -> None:
        """An undecodable batch counts like a rejection, as a function of the log: a
        rebuild reads it again into the new engine; older than the state horizon, not."""
        if not 0 <= s.max_timestamp < self.wall() - self.config.state_horizon_s * 1000:
            self.engine.batch_error(s.topic, s.partition, s.base_offset, s.reason)

    def publish(self, health: ConsumerHealth) -> None:
        t0 = time.perf_counter()
        self._unpublished = False
        snap = self.snapshot(health)
        self._publish(snap)
        if snap.ready:
            if self._tick_ms:
                self._next_tick = (snap.clock_ms // self._tick_ms + 1) * self._tick_ms
            for listener in self._listeners:
                try:
                    listener(snap)
                except Exception:  # a listener must never stop the stream
                    log.exception("snapshot listener failed")
        self._published_at = time.monotonic()
        self._publish_costs.append(time.perf_counter() - t0)

    def publish_due(self) -> float | None:
        """When (``time.monotonic()``) the events folded since the last snapshot are to be
        published: ``snapshots.min_interval_s`` after it, later when snapshots are costly
        (at most ``snapshots.max_cpu_share`` of the time); None with nothing new."""
        if not self._unpublished:
            return None
        return self._published_at + max(self._min_gap_s,
                                        self.snapshot_cost_s() / self._cpu_share)

    def snapshot_cost_s(self) -> float:
        # the median of the last five: one slow snapshot (a GC pause, a tick that sealed
        # the duplicate filter's ids) does not hold the next ones back
        costs = sorted(self._publish_costs)
        return costs[len(costs) // 2] if costs else 0.0

    def records(self, batch: dict[Any, list[Any]], reader: StreamReader) -> None:
        wall_ms = self.wall()
        horizon_ms = wall_ms - self.config.state_horizon_s * 1000
        aligner = self._aligner
        if not reader.ready and not aligner.waiting():
            self._rebuild_batch(batch, reader, wall_ms, horizon_ms)
            return
        decode = self.decoder.decode
        # the hold is a wait for a writer (real elapsed time), not event semantics: not the
        # injected wall clock, which tests freeze
        now_ms = int(time.monotonic() * 1000)
        for tp, records in batch.items():
            items = [
                None if 0 <= rec.timestamp < horizon_ms else decode(rec.value, wall_ms)
                for rec in records
            ]
            times = [
                None if item is None or isinstance(item, Rejection) else item.ts_ms
                for item in items
            ]
            aligner.add(tp, records, items, times, now_ms)
        engine = self.engine
        clock = engine.clock
        shards: dict[Any, Any] = {}
        positions = self._positions
        tick = self._tick_ms if (reader.ready and self._listeners) else 0
        # Alignment serves what is judged on the way (alerts on a replayed backlog) and
        # costs re-fetches; a rebuild only needs the end state, which does not depend on
        # how partitions interleave, so it reads at full speed.
        # While the clock is not live (a backlog), a partition fed moments ago holds the
        # others back too: the backlog may still be being written, unevenly.
        if not reader.ready:
            limit = float("inf")
        elif engine.clock.live:
            limit = aligner.limit(reader.unfetched())
        else:
            limit = aligner.limit(reader.unfetched(), wall_ms=now_ms, hold_ms=BACKLOG_HOLD_MS,
                                  ended=reader.ended_ms(), max_hold_ms=BACKLOG_HOLD_MAX_MS)
        folded = False
        for tp, rec, item in aligner.drain(limit, until=time.monotonic() + DRAIN_SLICE_S):
            folded = True
            if item is None:  # older than the state horizon
                positions[tp] = rec.offset + 1
                continue
            shard = shards.get(tp)
            if shard is None:
                shard = shards[tp] = engine.shard(tp.topic, tp.partition)
            positions[tp] = rec.offset + 1
            if isinstance(item, Rejection):
                shard.reject(tp.topic, item.reason)
                reader.dead_letter(tp, rec, item)
                continue
            shard.process(tp.topic, item, wall_ms)
            if tick and clock.clock_ms >= self._next_tick:
                reader.publish()
        if not aligner.cut:  # else the queues hold records free to leave: no re-read
            for tp, offset in aligner.overflowing():
                reader.seek(tp, offset)  # read again once the others have caught up
        if folded and reader.ready:
            self._unpublished = True  # the reader publishes it at publish_due()

    def _rebuild_batch(self, batch: dict[Any, list[Any]], reader: StreamReader,
                       wall_ms: int, horizon_ms: int) -> None:
        """Fold a batch in partition order: a rebuild only needs the end state, which does
        not depend on how partitions interleave, so it skips the aligner's queues."""
        decode = self.decoder.decode
        dead_letter = reader.dead_letter
        for tp, records in batch.items():
            topic = tp.topic
            shard = self.engine.shard(topic, tp.partition)
            process, reject = shard.process, shard.reject
            if records:
                self._positions[tp] = records[-1].offset + 1
            for rec in records:
                if 0 <= rec.timestamp < horizon_ms:
                    continue  # older than the state horizon
                item = decode(rec.value, wall_ms)
                if type(item) is Rejection:
                    reject(topic, item.reason)
                    dead_letter(tp, rec, item)
                else:
                    process(topic, item, wall_ms)  # type: ignore[arg-type]
