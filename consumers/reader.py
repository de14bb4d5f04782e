"""The consumer loop: Kafka records and positions → a :class:`RecordSink`, with rebuild,
DLQ and commits.

The reader knows Kafka, not metrics: it hands each polled batch to its sink (in
``pulse/pipeline.py``: decoder → engine → snapshots), tells it when to start again from
empty state, and keeps the consumer's health (lag, offsets, readiness, broker, rebuilds,
log resets, DLQ failures) in a :class:`core.snapshot.ConsumerHealth` for the sink to
attach to what it publishes.

State is a function of the log: on every partition assignment the engine is rebuilt from
the beginning of each partition new to this member, or from its checkpoint (records older
than the state horizon by their Kafka timestamp are skipped), and ``ready`` turns true
once every assigned partition has reached its fetch high watermark. An assignment that
gives back every partition as it was (a member kicked out and back, the fetch child
restarted) rebuilds nothing: it is ready again as soon as the topics' ids are checked,
and the backlog gathered meanwhile is judged on the way like any other. Rejected records
are copied to the dead-letter topic only past the group's committed offset, so a rebuild
never copies them twice.

When a partition's log no longer holds what was read (:mod:`consumers.log_watch`: a
topic recreated, a partition truncated, a broker restarted empty) the same rebuild runs
from the log as it is now; the reader counts it per topic in ``log_resets``, which lives
here, not in the rebuilt engine, and reaches every surface through the snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaError

from consumers.bootstrap import backoff_s, unreachable
from consumers.checkpoint_writer import FORKS, CheckpointJob, Due
from consumers.checkpoints import CheckpointStore, Stored
from consumers.dead_letter import DeadLetterQueue
from consumers.decode import Rejection
from consumers.fetch_process import (
    FetchProcessConsumer,
    metadata_ms,
    refresh_metadata,
    topic_id,
)
from consumers.health import connection_healthy
from consumers.kafka_settings import client_settings
from consumers.load_ahead import LoadAhead
from consumers.log_watch import LogReset, LogWatch
from consumers.undecodable import SkippedBatch, SkippingConsumer
from core.config import Config
from core.snapshot import CHECKPOINT_RESULTS, ConsumerHealth

__all__ = ["RecordSink", "StreamReader"]

log = logging.getLogger(__name__)
_RESET_EPISODE_S = 60.0  # resets of one topic closer than this are one (counted once)
# While not ready, snapshots (the rebuild's progress: lag, the board's partial view) take
# at most this share of the reader's time: each walks the whole state, and at the regular
# 0.5 s they were 12 % of it during a 1.5 M-event rebuild. Readiness changes still publish
# at once, and a small state keeps the regular cadence.
REBUILD_SNAPSHOT_SHARE = 0.03
FETCH_MAX_WAIT_MS = 100  # the reader's default (kafka.consumer.fetch_max_wait_ms overrides)


class RecordSink(Protocol):
    """Where the reader's records go (``pulse.pipeline.Pipeline``); called on the reader's
    thread, one call at a time."""

    def rebuild(self) -> None:
        """Drop all state: the assigned partitions are read again from the beginning."""

    def records(self, batch: dict[TopicPartition, list[Any]], reader: StreamReader) -> None:
        """Fold a polled batch in (the reader offers ``ready``, ``unfetched()``, ``ended_ms()``,
        ``dead_letter()``, ``seek()`` and ``publish()``)."""

    def skipped(self, batch: SkippedBatch) -> None:
        """A record batch that could not be decoded was skipped."""

    def waiting_offset(self, tp: TopicPartition) -> int | None:
        """The first offset received but not folded in yet (held back), or None."""

    def publish(self, health: ConsumerHealth) -> None:
        """Take a snapshot now, with this health."""

    # state per partition (issue 17): the reader keeps, drops and loads shards
    def position(self, tp: TopicPartition) -> int | None:
        """The next offset of ``tp`` the partition's state has not folded in (None: no
        state for it)."""

    def drop(self, tp: TopicPartition) -> None:
        """Forget the partition's state (revoked, or read again from its beginning)."""

    def clear_held(self) -> None:
        """Forget records received but not folded in yet (they are fetched again)."""

    def checkpoint(self, tp: TopicPartition) -> bytes:
        """The partition's state as checkpoint bytes (empty state if none)."""

    def restore(self, tp: TopicPartition, payload: bytes, offset: int) -> str:
        """Install the partition's state from checkpoint bytes covering the log up to
        ``offset`` (its ``position`` then): ``loaded``, or why not (the
        ``aftersales_checkpoint_loads_total`` result; then nothing is installed)."""

    def set_aside(self) -> bool:
        """Before a checkpoint round: set aside what ``seal_aside`` will seal (cheap)."""

    def seal_aside(self) -> bytes:
        """In the checkpoint round's forked copy: seal what was set aside, as bytes for
        ``install_sealed`` (consumers/checkpoint_writer.py)."""

    def install_sealed(self, data: bytes) -> None:
        """Take in what the forked copy sealed."""

    def publish_due(self) -> float | None:
        """When (``time.monotonic()``) to publish what was folded since the last snapshot,
        before the regular cadence; None with nothing new."""

    def snapshot_cost_s(self) -> float:
        """What a snapshot costs now (seconds, a recent median; 0 before the first)."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, reader: StreamReader) -> None:
        self._reader = reader

    # kafka-python runs these on its IO thread, where blocking calls are refused: only
    # flag the rebuild here; the loop does it right after poll() returns.
    def on_partitions_revoked(self, revoked: Any) -> None:
        # an (eager) revocation is always followed by an assignment, which rebuilds what
        # is new to this member; one that keeps every partition resumes (_start_rebuild)
        reader = self._reader
        reader._resumable = reader._resumable or reader.ready or reader._resuming
        reader.ready = False
        reader._last_publish = 0.0  # /readyz says so at the next loop, not a cadence later

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._reader._rebuild_pending = True


class StreamReader:
    """Runs in its own thread; hands batches to ``sink`` and asks it for a snapshot every
    ``publish_interval_s``, whenever readiness changes, and when the sink says new events
    are due (``publish_due``)."""

    def __init__(
        self,
        config: Config,
        *,
        sink: RecordSink,
        publish_interval_s: float = 0.5,
        commit_interval_s: float = 5.0,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self._sink = sink
        self._publish_interval = publish_interval_s
        self._commit_interval = commit_interval_s
        self._overrides = consumer_overrides or {}
        self.ready = False
        self.broker_up = False
        self.rebuilds = 0
        self._consumer: Any = None  # SkippingConsumer or FetchProcessConsumer
        self._dlq: DeadLetterQueue | None = None
        self._assigned: set[TopicPartition] = set()
        self._dlq_from: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._lag: dict[tuple[str, int], int] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._last_commit = 0.0
        self._last_publish = 0.0
        self._rebuild_pending = False
        # revoked while ready: an assignment that keeps every partition as it was (no
        # partition new, none read further by another member) resumes instead of
        # rebuilding, ready again once the topics' ids are checked, so judgement goes on
        # through the backlog that gathered meanwhile instead of resuming at its end
        self._resumable = False
        self._resuming = False
        self.started = threading.Event()
        # liveness (pulse/service.py): the loop's last iteration, the last progress
        # through the log, and the bootstrap servers that could not be reached
        self.beat_at = time.monotonic()
        self.progress_at = time.monotonic()
        self._progress_mark = -1
        self.unreachable = ""
        self.connected = False  # a broker connection answers (poll errors aside)
        # log resets per topic, for the whole process (the engine is rebuilt on each)
        self.log_resets: dict[str, int] = dict.fromkeys(config.kafka.topics, 0)
        self._watch = LogWatch()
        self._resetting: set[str] = set()  # topics counted since the service was last ready
        self._resets_view = MappingProxyType(dict(self.log_resets))  # what snapshots carry
        self._log_start_checked = 0.0
        self._ids_wanted_ms = 0.0  # a rebuild is ready once topic ids this new were checked
        self._reset_at: dict[str, float] = {}  # topic -> when its last reset was counted
        # checkpoints of the partitions' state (issue 17), and how loading them went
        cp = config.checkpoints
        self._store = (CheckpointStore(config.kafka, config.checkpoint_topic,
                                       max_part_bytes=cp.max_part_bytes,
                                       read_timeout_s=cp.read_timeout_s,
                                       replication=cp.replication)
                       if cp.enabled else None)
        self._checkpoint_every_s = float(cp.interval_s)
        self._checkpoint_due = False
        self._last_checkpoint = time.monotonic()
        self._checkpointed: dict[TopicPartition, int] = {}  # offset of the last one written
        self._job: CheckpointJob | None = None  # the round being written by a forked copy
        self.checkpoint_loads: dict[str, int] = dict.fromkeys(CHECKPOINT_RESULTS, 0)
        self._loads_view = MappingProxyType(dict(self.checkpoint_loads))
        # the checkpoints decoded while the first group join runs (consumers/load_ahead.py)
        self._ahead = (LoadAhead(self._store, sink, config.kafka.topics)
                       if self._store is not None else None)

    # -- lifecycle ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        kc = self.config.kafka
        settings = client_settings(kc, "consumer")
        settings.update(
            group_id=kc.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=5000,
            max_poll_interval_ms=kc.max_poll_interval_ms,
            session_timeout_ms=kc.session_timeout_ms,
            heartbeat_interval_ms=max(500, kc.session_timeout_ms // 4),
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        # topic ids come with metadata: refreshed often enough to notice a recreated topic
        settings.setdefault("metadata_max_age_ms", 30_000)
        # sticky first: a rebalance moves as few partitions as it can, so a member keeps
        # the shards it has (docs/operations.md); range while an older replica of the
        # group knows no other (a rolling upgrade agrees on the common one)
        settings.setdefault("partition_assignment_strategy",
                            (StickyPartitionAssignor, RangePartitionAssignor))

        # a broker may hold a fetch this long before answering with what it has (Tansu
        # does; Apache Kafka answers at fetch_min_bytes): kafka-python's 500 ms would be
        # most of send → /metrics; this costs only empty fetches while idle
        settings.setdefault("fetch_max_wait_ms", FETCH_MAX_WAIT_MS)
        settings.update(self._overrides)
        self.beat_at = time.monotonic()
        self.publish()  # before any connection: /metrics says ready 0, broker_up 0
        if self._store is not None:
            self._store.prefetch()  # read while the group join waits (load_ahead.py)
        try:
            if not self._connect(settings, stop):
                return
            self.started.set()
            while not stop.is_set():
                self.beat_at = time.monotonic()
                self._poll_once()
        finally:
            self._shutdown()

    def _connect(self, settings: dict[str, Any], stop: threading.Event) -> bool:
        """Build the clients once a bootstrap server answers; until then retry with capped
        backoff, one line per failure, and keep publishing (SPEC §2 "No broker yet").
        False if asked to stop first."""
        kc = self.config.kafka
        servers = [str(s) for s in settings["bootstrap_servers"]]
        attempt = 0
        while not stop.is_set():
            down = unreachable(servers)
            if len(down) < len(servers):
                dlq = None
                try:
                    dlq = DeadLetterQueue(kc)
                    consumer: Any = (FetchProcessConsumer(stopping=stop, **settings)
                                     if kc.fetch_process else SkippingConsumer(**settings))
                    consumer.subscribe(list(kc.topics), listener=_Rebalance(self))
                except (KafkaError, OSError) as exc:
                    if dlq is not None:
                        dlq.close()
                    down = [f"{', '.join(servers)} ({type(exc).__name__}: {exc})"]
                else:
                    self._dlq, self._consumer = dlq, consumer
                    self.unreachable = ""
                    if attempt:
                        log.info("connected to Kafka at %s", ", ".join(servers))
                    return True
            self.unreachable = "; ".join(down)
            delay = backoff_s(attempt)
            attempt += 1
            log.warning("cannot reach Kafka at %s; retrying in %.1f s", self.unreachable, delay)
            deadline = time.monotonic() + delay
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                self.beat_at = time.monotonic()
                self.publish()
                stop.wait(min(left, self._publish_interval, 1.0))
        return False

    def not_ready_reason(self) -> str | None:
        """Why ``/readyz`` says 503 (None once ready)."""
        if self.ready:
            return None
        if self.unreachable:
            return f"cannot reach the Kafka bootstrap servers: {self.unreachable}"
        if self._consumer is None:
            return "connecting to Kafka"
        if not self.rebuilds:
            return "waiting for a partition assignment"
        if self._resumable:
            return "rebalancing: waiting for the group's new assignment"
        if self._resuming:
            return "rebalanced with every partition kept: checking the topics' ids"
        lag = sum(self._lag.values())
        return (f"rebuilding state from the log ({len(self._assigned)} partitions, "
                f"{lag} messages to go)")

    def _shutdown(self) -> None:
        try:
            self._commit(force=True)
        except Exception as exc:
            log.warning("final commit failed: %s", exc)
        self._cancel_job()
        if self.ready and self._store is not None:
            self._write_checkpoints(fork=False)  # the next start replays from here
        if self._store is not None:
            self._store.close()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
        if self._dlq is not None:
            self._dlq.close()

    # -- the loop ----------------------------------------------------------------------
    def _poll_once(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        due = self._sink.publish_due()
        wait_ms = 200 if due is None else min(200, max(0, int((due - time.monotonic()) * 1000)))
        ahead = None if self.rebuilds else self._ahead  # until the first assignment
        if ahead is not None and ahead.pending():
            wait_ms = 0  # decoding checkpoints ahead: one per iteration, back to back
        try:
            batch = consumer.poll(timeout_ms=wait_ms)  # back in time to publish what is new
            self.broker_up = True
        except KafkaError as exc:
            log.warning("poll failed: %s", exc)
            self.broker_up = False
            batch = {}
            time.sleep(0.5)
        for skipped in consumer.take_skipped():
            self._sink.skipped(skipped)
        if self._rebuild_pending:
            # records fetched for the old assignment or from committed offsets are read
            # again from the beginning: drop them and rebuild
            self._rebuild_pending = False
            self._start_rebuild()
        elif batch and self._resuming:
            # resuming after a rebalance, the topics' ids not yet checked: what was fetched
            # is read again once they are (judged then), or the reset rebuilds instead
            for tp, records in batch.items():
                if records:
                    self.seek(tp, records[0].offset)
            time.sleep(0.02)  # the metadata answer is a round trip away
        elif batch:
            self._process(batch)
        elif any(self._sink.waiting_offset(tp) is not None for tp in self._assigned):
            self._sink.records({}, self)  # held back records may leave by now
        elif ahead is not None and ahead.open:
            ahead.step()  # no assignment yet: decode the next checkpoint read meanwhile
        self._update_progress()
        now = time.monotonic()
        due = self._sink.publish_due()
        every = (self._publish_interval if self.ready else max(
            self._publish_interval, self._sink.snapshot_cost_s() / REBUILD_SNAPSHOT_SHARE))
        if now - self._last_publish >= every or (due is not None and now >= due):
            self.publish()
        if now - self._last_commit >= self._commit_interval:
            self._commit()
        if self._job is not None:
            self._take_job()
        if self._store is not None and self.ready and self._job is None and (
                self._checkpoint_due or now - self._last_checkpoint >= self._checkpoint_every_s):
            self._write_checkpoints(fork=FORKS)

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        if self._watch_fetched(batch):
            return  # from a log that went back: a rebuild started instead
        self._sink.records(batch, self)

    def dead_letter(self, tp: TopicPartition, record: Any, rejection: Rejection) -> None:
        """Copy a rejected record to the DLQ, only past the group's committed offset (a
        rebuild reads it again and must not copy it twice)."""
        if self._dlq is not None and record.offset >= self._dlq_from.get(tp, 0):
            self._dlq.send(record, rejection)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Fetch a partition again from ``offset`` (held-back records dropped by the sink)."""
        consumer = self._consumer
        assert consumer is not None
        consumer.seek(tp, offset)
        self._watch.seeked(tp, offset)

    def unfetched(self) -> list[TopicPartition]:
        """Partitions with records in Kafka beyond what has been fetched: as far as the
        consumer has been told, including fetch responses still waiting in its buffer
        (``consumers.fetch_buffer``)."""
        consumer = self._consumer
        assert consumer is not None
        out = []
        for tp in self._assigned:
            hw = consumer.highwater(tp)
            pos = self._fetch_position(tp)
            if hw is None or pos is None or pos < hw:
                out.append(tp)
        return out

    def ended_ms(self) -> dict[TopicPartition, int] | None:
        """Per partition, when the newest fetch that found it at its end was sent
        (``time.monotonic()`` in ms, the same clock in the fetch process); None when the
        consumer cannot tell (``consumers.fetch_buffer.EndWatch``)."""
        consumer = self._consumer
        assert consumer is not None
        ended = consumer.ended_at()
        return None if ended is None else {tp: int(t * 1000) for tp, t in ended.items()}

    def _fetch_position(self, tp: TopicPartition) -> int | None:
        """The next offset kafka-python will fetch (None right after a seek)."""
        consumer = self._consumer
        assert consumer is not None
        try:
            pos = consumer.position(tp, timeout_ms=100)
        except Exception:
            return None
        return None if pos is None else int(pos)

    def _processed_position(self, tp: TopicPartition) -> int | None:
        """The next offset whose record has not been folded in yet."""
        waiting = self._sink.waiting_offset(tp)
        return int(waiting) if waiting is not None else self._fetch_position(tp)

    def health(self) -> ConsumerHealth:
        """The consumer's side of the next snapshot."""
        return ConsumerHealth(
            ready=self.ready, broker_up=self._broker_up(), lag=self._lag,
            offsets=self._offsets,
            dead_letter_failures=MappingProxyType(
                self._dlq.failures() if self._dlq is not None else {}),
            rebuilds=self.rebuilds, log_resets=self._resets_view,
            checkpoint_loads=self._loads_view,
        )

    def publish(self) -> None:
        """Ask the sink for a snapshot now."""
        self._last_publish = time.monotonic()
        self._sink.publish(self.health())

    def _broker_up(self) -> bool:
        """Connected to a broker that answers (kafka-python's client keeps reconnecting)."""
        consumer = self._consumer
        if consumer is None:
            return False
        if isinstance(consumer, FetchProcessConsumer):
            self.connected = consumer.healthy()
        else:
            self.connected = connection_healthy(consumer, self.config.kafka.session_timeout_ms)
        return self.connected and self.broker_up

    def fetcher(self) -> FetchProcessConsumer | None:
        """The fetch process's proxy, when records are fetched in a child."""
        consumer = self._consumer
        return consumer if isinstance(consumer, FetchProcessConsumer) else None

    # -- rebuild, readiness, lag -------------------------------------------------------
    def _start_rebuild(self, reset: Iterable[LogReset] = ()) -> None:
        consumer = self._consumer
        assert consumer is not None
        assigned = set(consumer.assignment())
        gone = {r.tp for r in reset}
        self._watch.new_generation(gone, {tp.topic for tp in gone})
        self._ids_wanted_ms = time.monotonic() * 1000
        if isinstance(consumer, FetchProcessConsumer):
            consumer.refresh_metadata()
        else:
            refresh_metadata(consumer)
        resumable, self._resumable = self._resumable, False
        self._cancel_job()  # its partitions or its state may go: the next round redoes it
        previous, sink = self._assigned, self._sink
        sink.clear_held()
        if reset:  # the log went back: all state from the log as it is now
            sink.rebuild()
            self._checkpointed.clear()
        else:
            for tp in previous - assigned:  # revoked: its state goes with it
                log.info("partition %s[%d] revoked, its state dropped", tp.topic,
                         tp.partition, extra={"topic": tp.topic, "partition": tp.partition,
                                              "offset": sink.position(tp)})
                sink.drop(tp)
                self._checkpointed.pop(tp, None)
        self.ready = False
        self._assigned = assigned
        self._lag = {}
        self._offsets = {}
        self._dlq_from = {}
        kept: dict[TopicPartition, int] = {}
        commits = (consumer.committed_many(sorted(assigned - gone))
                   if isinstance(consumer, FetchProcessConsumer) else {})
        for tp in assigned:
            if tp in gone:
                self._forget_commit(tp)
                sink.drop(tp)
                continue
            committed = commits[tp] if tp in commits else consumer.committed(tp)
            self._dlq_from[tp] = committed or 0
            self._committed[tp] = committed or 0
            pos = None if reset or tp not in previous else sink.position(tp)
            # kept only where nobody else read further meanwhile (its commit says so)
            if pos is not None and (committed is None or committed <= pos):
                kept[tp] = pos
        fresh = sorted(assigned - set(kept))
        self._resuming = resumable and not reset and not fresh
        if self._resuming:
            log.info("rebalanced: all %d partitions kept as they were; reading on",
                     len(kept))
        else:
            self.rebuilds += 1
            log.info("rebuilding state from the log for %d partitions (%d kept as they "
                     "were)", len(fresh), len(kept))
        loaded = self._load_checkpoints(fresh) if self._store is not None and not reset else {}
        from_start = []
        for tp in fresh:
            if tp in loaded:
                continue
            sink.drop(tp)
            from_start.append(tp)
            log.info("partition %s[%d] assigned, read again from the beginning", tp.topic,
                     tp.partition, extra={"topic": tp.topic, "partition": tp.partition,
                                          "offset": self._committed.get(tp)})
        for tp, offset in {**kept, **loaded}.items():
            consumer.seek(tp, offset)
            self._watch.seeked(tp, offset)
        if from_start:
            consumer.seek_to_beginning(*from_start)
        self.publish()  # not ready: /readyz and aftersales_ready say so at once

    # -- checkpoints (issue 17) ------------------------------------------------------------
    def _topic_id(self, topic: str) -> str | None:
        consumer = self._consumer
        try:
            tid = (consumer.topic_id(topic) if isinstance(consumer, FetchProcessConsumer)
                   else topic_id(consumer, topic))
        except Exception:
            return None
        return str(tid) if tid else None

    def _count_load(self, result: str) -> None:
        self.checkpoint_loads[result] = self.checkpoint_loads.get(result, 0) + 1
        self._loads_view = MappingProxyType(dict(self.checkpoint_loads))

    def _load_checkpoints(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Install the newest valid checkpoint of each partition; the offsets to read on
        from. A partition without one is rebuilt from its beginning (counted, logged)."""
        store, ahead, self._ahead = self._store, self._ahead, None
        if not tps or store is None:
            if ahead is not None and ahead.installed():
                self._sink.rebuild()  # decoded ahead for partitions this member did not get
            if store is not None:
                store.forget_prefetch()
            return {}
        t0 = time.monotonic()
        try:
            found: dict[tuple[str, int], list[Stored] | str] = store.read(
                [(tp.topic, tp.partition) for tp in tps])
        except Exception as exc:  # the topic cannot be read: rebuild, say why
            log.warning("checkpoints unreadable (%s: %s); rebuilding %d partitions from "
                        "the log", type(exc).__name__, exc, len(tps))
            found = {}
        kept = {} if ahead is None else ahead.settle(tps, found, self._topic_id)
        if kept is None:
            self._sink.rebuild()  # drop all decoded ahead: the assignment loads afresh
            kept = {}
        out: dict[TopicPartition, int] = {}
        for tp in tps:
            got = found.get((tp.topic, tp.partition), "unreadable")
            if (done := kept.get(tp)) is not None:  # decoded ahead: as it was then
                result = done.result
                if done.offset is not None:
                    out[tp] = done.offset
                    self._checkpointed[tp] = done.offset
            elif isinstance(got, str):
                result = got
            else:  # newest first; an older one where the newest is refused
                tid = self._topic_id(tp.topic)
                for cand in got:
                    if cand.topic_id and tid and cand.topic_id != tid:
                        result = "other_log"
                    else:
                        result = self._sink.restore(tp, cand.payload, cand.offset)
                    if result == "loaded":
                        out[tp] = cand.offset
                        self._checkpointed[tp] = cand.offset
                        break
            self._count_load(result)
            extra = {"topic": tp.topic, "partition": tp.partition, "result": result,
                     "offset": out.get(tp)}
            if result == "loaded":
                log.info("partition %s[%d]: state loaded from its checkpoint, reading on "
                         "from offset %d", tp.topic, tp.partition, out[tp], extra=extra)
            else:
                log.warning("partition %s[%d]: no usable checkpoint (%s); rebuilding it "
                            "from the log", tp.topic, tp.partition, result, extra=extra)
        log.info("checkpoints of %d partitions read in %.2f s (%d loaded)", len(tps),
                 time.monotonic() - t0, len(out))
        return out

    def _write_checkpoints(self, fork: bool) -> None:
        """Write the state of every assigned partition that moved since its last one:
        encoded by a forked copy of the process while the loop reads on (``fork``,
        consumers/checkpoint_writer.py), or here (at the stop, or without ``os.fork``)."""
        store = self._store
        assert store is not None
        self._checkpoint_due = False
        self._last_checkpoint = t0 = time.monotonic()
        due = []
        for tp in sorted(self._assigned):
            pos = self._sink.position(tp)
            if pos is None:
                pos = self._processed_position(tp)
            if pos is not None and self._checkpointed.get(tp) != pos:
                due.append(Due(tp, pos, self._topic_id(tp.topic)))
        if not due:
            return
        try:
            store.ensure_topic()
        except Exception as exc:  # retried at the next interval; the stream goes on
            log.warning("checkpoint topic unavailable (%s: %s)", type(exc).__name__, exc)
            return
        sink = self._sink
        if fork:
            sink.set_aside()
            try:
                self._job = CheckpointJob(due, sink.seal_aside, sink.checkpoint, self._store_one)
            except OSError as exc:  # no memory for the fork, say: written here instead
                log.warning("checkpoint process not started (%s); writing in the loop", exc)
            else:
                log.debug("checkpoint round of %d partitions forked in %.3f s", len(due),
                          time.monotonic() - t0)
                return
        written, size = 0, 0
        for d in due:
            try:
                payload = sink.checkpoint(d.tp)
                self._store_one(d, payload)
            except Exception as exc:  # retried at the next interval; the stream goes on
                log.warning("checkpoint of %s[%d] failed (%s: %s)", d.tp.topic,
                            d.tp.partition, type(exc).__name__, exc)
                continue
            self._checkpointed[d.tp] = d.offset
            written += 1
            size += len(payload)
        if written:
            log.info("checkpoints of %d partitions written (%d bytes) in %.2f s", written,
                     size, time.monotonic() - t0)

    def _store_one(self, d: Due, payload: bytes) -> None:
        store = self._store
        assert store is not None
        store.write((d.tp.topic, d.tp.partition), d.offset, d.topic_id, payload)

    def _take_job(self) -> None:
        """The forked round's result, once it is complete: the offsets covered, and the
        ids its copy sealed (installed here: they change the state)."""
        job = self._job
        assert job is not None
        res = job.result()
        if res is None:
            return
        self._job = None
        if res.sealed is not None:
            self._sink.install_sealed(res.sealed)
        for tp, why in res.failed:
            if tp is None:
                log.warning("checkpoint round failed: %s", why)
            else:
                log.warning("checkpoint of %s[%d] failed (%s)", tp.topic, tp.partition, why)
        self._note_written(res.written)
        if res.written:
            log.info("checkpoints of %d partitions written (%d bytes) in %.2f s (encoded by "
                     "a forked copy: the stream went on)", len(res.written),
                     sum(n for _, _, n in res.written), res.seconds)

    def _note_written(self, written: list[tuple[TopicPartition, int, int]]) -> None:
        """Offsets a round's checkpoints cover, for the partitions still assigned."""
        for tp, offset, _n in written:
            if tp in self._assigned:
                self._checkpointed[tp] = offset

    def _cancel_job(self) -> None:
        """Stop a forked round (the process stops, or the assignment or the state is about
        to change): its sealed ids are not applied and stay aside until the next round
        seals them. What it wrote before it was stopped stays written and is noted for
        the partitions still assigned: written again (at the stop, or after a rebalance),
        a partition would take the other slot and the older checkpoint with it."""
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
            self._note_written(job.written())

    def _update_progress(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        ids_fresh = self._metadata_ms() >= self._ids_wanted_ms
        self._check_log()
        lag: dict[tuple[str, int], int] = {}
        caught_up = True
        mark = 0
        offsets: dict[tuple[str, int], int] = {}
        for tp in self._assigned:
            try:
                hw = consumer.highwater(tp)
            except KafkaError:  # revoked, not yet assigned again: kafka-python refuses
                hw = None
            pos = self._processed_position(tp)
            if hw is None or pos is None:
                caught_up = False
                continue
            mark += pos
            offsets[(tp.topic, tp.partition)] = pos
            lag[(tp.topic, tp.partition)] = max(0, hw - pos)
            if pos < hw:
                caught_up = False
        self._lag = lag
        self._offsets = offsets
        if mark != self._progress_mark or not any(lag.values()):
            self._progress_mark = mark  # moved through the log, or nothing to read
            self.progress_at = time.monotonic()
        if (self._resuming and not self.ready and ids_fresh
                and consumer.assignment() == self._assigned):
            self.ready = True  # the state is whole: no catch-up to wait for
            self._resuming = False
            log.info("rebalanced with every partition kept; ready")
            self.publish()
        elif (caught_up and not self.ready and self.rebuilds and ids_fresh
                and consumer.assignment() == self._assigned):
            self.ready = True
            self._checkpoint_due = True  # a checkpoint right after every rebuild
            self._resetting.clear()
            log.info("state rebuilt; ready")
            self.publish()

    def _commit(self, force: bool = False) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        self._last_commit = time.monotonic()
        offsets = {}
        for tp in self._assigned:
            pos = self._processed_position(tp)
            if pos is not None and pos > self._committed.get(tp, 0):
                offsets[tp] = OffsetAndMetadata(pos, "", -1)
        if not offsets:
            return
        if not force and not self._broker_up():
            return  # it would only wait out its timeout, the snapshots frozen meanwhile
        # bounded while running: a frozen broker must not block the loop (and with it the
        # snapshots, broker_up and staleness) for request_timeout_ms; retried next interval
        timeout_s = 30.0 if force else 2.0
        try:
            if self._dlq is not None:
                self._dlq.flush(timeout_s)
            if not force and isinstance(consumer, FetchProcessConsumer):
                # not waited for: the fold and the snapshots go on (freshness); until
                # a final commit these offsets are sent again with the next ones
                consumer.commit_async(offsets, timeout_ms=int(timeout_s * 1000))
                return
            consumer.commit(offsets, timeout_ms=int(timeout_s * 1000))
            for tp, om in offsets.items():
                self._committed[tp] = om.offset
        except KafkaError as exc:
            log.warning("offset commit failed (will retry): %s", exc)

    # -- the log going back (SPEC §2) --------------------------------------------------
    def _watch_fetched(self, batch: dict[TopicPartition, list[Any]]) -> bool:
        """Check what a poll returned against what was read; True if a rebuild started."""
        watch = self._watch
        found = [r for tp, records in batch.items() if records
                 if (r := watch.fetched(tp, records[0].offset, records[-1].offset))]
        return self._on_resets(found)

    def _check_log(self) -> None:
        """Positions, high watermarks, topic ids and (after a forward jump) log starts."""
        consumer = self._consumer
        assert consumer is not None
        watch = self._watch
        found: list[LogReset] = []
        held = self._assigned & set(consumer.assignment())  # none while rejoining
        for tp in sorted(held):
            try:
                hw = consumer.highwater(tp)
            except KafkaError:  # revoked meanwhile (kafka-python's IO thread)
                continue
            r = watch.progress(tp, self._fetch_position(tp), hw)
            if r is not None:
                found.append(r)
        for topic in sorted({tp.topic for tp in held}):
            tid = (consumer.topic_id(topic) if isinstance(consumer, FetchProcessConsumer)
                   else topic_id(consumer, topic))
            found += watch.topic_id(topic, tid, held)
        gaps = [tp for tp in watch.gaps() if tp in held]
        now = time.monotonic()
        if gaps and not found and now - self._log_start_checked >= 1.0:
            self._log_start_checked = now
            try:
                starts = consumer.beginning_offsets(gaps, timeout_ms=2000)
            except Exception as exc:  # asked again on the next check
                log.debug("log start offsets unavailable: %s", exc)
                starts = {}
            for tp, start in starts.items():
                if (r := watch.log_start(tp, int(start))) is not None:
                    found.append(r)
        self._on_resets(found)

    def _on_resets(self, found: list[LogReset]) -> bool:
        """Warn and count (once per topic), then rebuild from the log as it is now."""
        if not found:
            return False
        for r in found:
            log.warning("log reset on %s[%d]: %s; %s", r.tp.topic, r.tp.partition, r.detail,
                        "already rebuilding from the log as it is now" if r.echo
                        else "rebuilding the state from the log as it is now")
        # one reset of a topic is seen in several ways and partitions (a smaller high
        # watermark first, the new topic id with the next metadata): counted once until
        # the service is ready again, and once a minute at most
        now = time.monotonic()
        for topic in sorted({r.tp.topic for r in found} - self._resetting):
            self._resetting.add(topic)
            if now - self._reset_at.get(topic, -_RESET_EPISODE_S) >= _RESET_EPISODE_S:
                self._reset_at[topic] = now
                self.log_resets[topic] = self.log_resets.get(topic, 0) + 1
                self._resets_view = MappingProxyType(dict(self.log_resets))
        fresh = [r for r in found if not r.echo]
        if not fresh:  # the rebuild under way already reads the new log: fix the DLQ mark
            for r in found:
                self._forget_commit(r.tp)
            return False
        self._start_rebuild(fresh)
        self.publish()  # not ready: readiness and lag say so at once
        return True

    def _metadata_ms(self) -> float:
        consumer = self._consumer
        if isinstance(consumer, FetchProcessConsumer):
            return consumer.metadata_ms()
        return metadata_ms(consumer) if consumer is not None else 0.0

    def _forget_commit(self, tp: TopicPartition) -> None:
        """The committed offset belongs to the old log: every record of the new one may be
        dead-lettered, and the new position is committed even if it is lower."""
        self._dlq_from[tp] = 0
        self._committed[tp] = -1
