"""A Kafka consumer that fetches in a child process, behind the consumer calls the reader uses.

kafka-python parses every record in Python: about 7 µs a record, as much as decoding
and folding it. In one process (one GIL) the two add up; with the fetch in a child
process they overlap on two cores, and the reader's thread only decodes and folds.

The child owns the real ``KafkaConsumer`` (group membership, heartbeats, fetches,
commits) and streams :class:`Batch` messages over a pipe: per partition, plain row tuples
``(offset, timestamp, key, value, headers)``, with the consumer's state after the poll
that returned them (assignment, positions, high watermarks, topic ids and when their
metadata was fetched, connection health). The pipe (and two batches queued for it,
``consumers.outbox``) is the prefetch buffer and the back-pressure: a child ahead of the
reader waits. A reader busy for long (a snapshot, a checkpoint round) does not cost the
group membership: after a second the child pauses every partition and goes on polling
for the membership alone, until the reader takes batches again.

Every message on the pipe is one of the typed records below (:data:`ToChild`,
:data:`FromChild`), dispatched on its type; only the rows stay plain tuples, as the
records are many and a tuple pickles smaller and faster than a named one.

Seeks are numbered per partition ("epochs"): batches and positions fetched before the
child applied a seek are dropped on arrival, so a seek behaves as it does in-process.
Rebalance callbacks are forwarded in order, before the batch of the poll they ran in.
A batch the child cannot decode is skipped there (``consumers.undecodable``) and reported
with the state, for the reader to count. If the child dies it is started again (the new
member's assignment triggers the reader's rebuild, as any rebalance does); if the parent
dies the child exits on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from consumers.bootstrap import backoff_s
from consumers.health import connection_healthy
from consumers.outbox import Outbox
from consumers.undecodable import SkippedBatch, SkippingConsumer
from core.logs import configure_logging, current_format

__all__ = ["FetchProcessConsumer", "Record", "metadata_ms", "refresh_metadata", "topic_id"]

log = logging.getLogger(__name__)

_POLL_MS = 200
_SLICE_MS = 40  # a poll is cut in slices, to apply the parent's commands (seeks) sooner
_REPLY_TIMEOUT_S = 30.0
_OUTBOX_BATCHES = 2  # batches queued for the pipe (one of them being sent): the prefetch
_HOLD_AFTER_S = 1.0  # no batch taken for this long: the parent is busy (see _hold)


class Record(NamedTuple):
    """The fields of kafka-python's ``ConsumerRecord`` that the reader and the DLQ use."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


Row = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]
"""One record on the pipe: ``(offset, timestamp, key, value, headers)``."""


class _State(NamedTuple):
    """The child consumer's view after one poll."""

    assignment: frozenset[TopicPartition]
    epochs: dict[TopicPartition, int]
    positions: dict[TopicPartition, int | None]
    highwater: dict[TopicPartition, int | None]
    healthy: bool
    error: str | None
    skipped: tuple[SkippedBatch, ...] = ()  # undecodable batches the child seeked past
    # topic → its id where the broker gives one (Metadata v10+): a changed id is a new log
    topic_ids: dict[str, str] = {}  # noqa: RUF012 - never mutated, replaced whole
    metadata_ms: float = 0.0  # when those ids were fetched (monotonic, as metadata_ms())
    # per partition, when the newest fetch that found it at its end was sent (monotonic,
    # system-wide); None: this kafka-python cannot tell (consumers.fetch_buffer.EndWatch)
    ended: dict[TopicPartition, float] | None = None


# -- the pipe protocol: parent → child -----------------------------------------------------
class Setup(NamedTuple):
    """The first message: how to build the consumer (never on the command line: secrets)."""

    settings: dict[str, Any]
    topics: list[str]
    session_timeout_ms: int
    parent_pid: int
    log_level: int
    kafka_log_level: int
    log_format: str


class Close(NamedTuple):
    """Leave the group and exit."""


class RefreshMetadata(NamedTuple):
    """Ask the cluster for fresh metadata now."""


class SeekTarget(NamedTuple):
    partition: TopicPartition
    offset: int | None  # None: the beginning of the log
    epoch: int  # the partition's seek number: older batches are dropped on arrival


class Seek(NamedTuple):
    targets: tuple[SeekTarget, ...]


class Committed(NamedTuple):
    """The group's committed offsets, all in one reply: the child answers between polls
    (up to ``_POLL_MS`` each), so one request per partition made every assignment wait
    that long per partition."""

    req_id: int
    partitions: tuple[TopicPartition, ...]


class BeginningOffsets(NamedTuple):
    req_id: int
    partitions: list[TopicPartition]
    timeout_ms: int


class Commit(NamedTuple):
    req_id: int
    offsets: dict[TopicPartition, int]
    timeout_ms: int


ToChild = Close | RefreshMetadata | Seek | Committed | BeginningOffsets | Commit
Request = Committed | BeginningOffsets | Commit  # each answered by one Reply


# -- the pipe protocol: child → parent -----------------------------------------------------
class Batch(NamedTuple):
    """What one poll returned, and the consumer's state after it."""

    records: dict[TopicPartition, list[Row]]
    state: _State


class Rebalance(NamedTuple):
    """A rebalance callback, sent before the batch of the poll it ran in."""

    revoked: bool  # False: assigned
    partitions: list[TopicPartition]


class Reply(NamedTuple):
    """The answer to a :data:`Request` of the same ``req_id``."""

    req_id: int
    error: str | None  # "Type: message" of what the call raised
    value: Any = None


FromChild = Batch | Rebalance | Reply


# -- the child ---------------------------------------------------------------------------
class _Forward(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's IO thread: only queue; the fetch loop sends in order."""

    def __init__(self) -> None:
        self.events: deque[Rebalance] = deque()

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.events.append(Rebalance(True, list(revoked)))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.events.append(Rebalance(False, list(assigned)))


# SIGTERM sent to the whole process group (systemd, ``kill -- -PGID``) reaches the child
# too; the parent still needs it for its final commit, and closes it. Left alone that
# long, the child goes by itself.
_TERM_GRACE_S = 30.0
_terminated_at: list[float] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    if not _terminated_at:
        _terminated_at.append(time.monotonic())


def _child_signals() -> None:
    """Ctrl-C (SIGINT to the terminal's process group) is the parent's to handle: the
    child ignores it (no KeyboardInterrupt traceback) and defers SIGTERM (see above)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _terminated_long_ago() -> bool:
    return bool(_terminated_at) and time.monotonic() - _terminated_at[0] > _TERM_GRACE_S


def _connect_child(
    conn: Connection, settings: dict[str, Any], parent_pid: int
) -> KafkaConsumer | None:
    """The consumer, once a broker answers; until then the parent hears "not connected"
    every poll interval and each failure is one log line (capped backoff), not a
    traceback. None if told to close or orphaned first."""
    attempt = 0
    idle = _State(frozenset(), {}, {}, {}, False, None)
    while os.getppid() == parent_pid and not _terminated_long_ago():
        try:
            return SkippingConsumer(**settings)
        except KafkaError as exc:
            delay = backoff_s(attempt)
            attempt += 1
            log.warning("fetch process: cannot reach Kafka (%s); retrying in %.1f s", exc, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            while conn.poll(0):
                cmd = conn.recv()
                if isinstance(cmd, Close):
                    return None
                if isinstance(cmd, Committed | Commit | BeginningOffsets):
                    conn.send(Reply(cmd.req_id, "KafkaError: not connected to Kafka"))
            conn.send(Batch({}, idle))
            time.sleep(_POLL_MS / 1000)
    return None


def _child_main(conn: Connection) -> None:
    """The child's loop. Settings come over the pipe, never on the command line (secrets)."""
    _child_signals()
    setup: Setup = conn.recv()
    parent_pid = setup.parent_pid
    configure_logging(setup.log_level, setup.log_format)  # the parent's, on the same stderr
    logging.getLogger("kafka").setLevel(setup.kafka_log_level)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    try:
        consumer = _connect_child(conn, setup.settings, parent_pid)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        consumer = None
    if consumer is None:
        os._exit(0)
    forward = _Forward()
    consumer.subscribe(setup.topics, listener=forward)
    epochs: dict[TopicPartition, int] = {}
    outbox = Outbox(conn, limit=_OUTBOX_BATCHES, counted=lambda msg: isinstance(msg, Batch))
    try:
        while os.getppid() == parent_pid and not _terminated_long_ago():
            applied = _commands(conn, outbox, consumer, epochs)
            if applied is None:
                _leave(consumer)
                return
            if not outbox.wait_room(_HOLD_AFTER_S):
                if not _hold(conn, consumer, forward, outbox, epochs, setup):
                    _leave(consumer)
                    return
                continue
            error = None
            try:
                # after a command (a seek), the state that shows it goes out at once
                batch = _poll(conn, consumer, forward, _SLICE_MS if applied else _POLL_MS)
            except KafkaError as exc:
                batch, error = {}, str(exc)
            _report(outbox, consumer, forward, epochs, setup, batch, error)
            if error is not None:
                time.sleep(0.5)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass
    # The parent is gone (killed, or crashed). Leave like it would have: without a
    # LeaveGroup. One sent while the group is rebalancing leaves Tansu 0.6's group stuck
    # for the next member, and the session timeout expires this member anyway.
    os._exit(0)


def _commands(conn: Connection, outbox: Outbox, consumer: KafkaConsumer,
              epochs: dict[TopicPartition, int]) -> bool | None:
    """Apply every command the parent has sent (replies queued in order): whether any
    was, None when one asked to close."""
    applied = False
    while conn.poll(0):
        if not _command(outbox.put, consumer, epochs, conn.recv()):
            return None
        applied = True
    return applied


def _leave(consumer: KafkaConsumer) -> None:
    """Asked to close: leave the group cleanly (a fast rebalance)."""
    with contextlib.suppress(Exception):
        consumer.close(autocommit=False)


def _report(outbox: Outbox, consumer: SkippingConsumer, forward: _Forward,
            epochs: dict[TopicPartition, int], setup: Setup, batch: dict[Any, Any],
            error: str | None) -> None:
    """Queue what one poll did: its rebalance events first, then its records and state."""
    while forward.events:
        outbox.put(forward.events.popleft())
    payload: dict[TopicPartition, list[Row]] = {
        tp: [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs]
        for tp, recs in batch.items()
    }
    outbox.put(Batch(payload, _state(consumer, epochs, setup.session_timeout_ms, error)))


def _hold(conn: Connection, consumer: SkippingConsumer, forward: _Forward, outbox: Outbox,
          epochs: dict[TopicPartition, int], setup: Setup) -> bool:
    """The parent has taken no batch for ``_HOLD_AFTER_S``: it is busy. Until it takes one,
    every partition is paused and the consumer polled for its membership only: heartbeats,
    the poll interval, rebalances (their events and the state after them are queued). What
    was fetched stays in kafka-python's buffer, kept for paused partitions. False: asked
    to close."""
    log.debug("fetch process: the reader is busy; holding the fetch, keeping the group")
    try:
        while outbox.full():
            if _commands(conn, outbox, consumer, epochs) is None:
                return False
            unpaused = consumer.assignment() - consumer.paused()  # a new assignment
            if unpaused:
                consumer.pause(*unpaused)
            try:
                batch = consumer.poll(timeout_ms=_SLICE_MS)  # returns no records while paused
            except KafkaError as exc:
                _report(outbox, consumer, forward, epochs, setup, {}, str(exc))
                time.sleep(0.5)
                continue
            if batch or forward.events:
                _report(outbox, consumer, forward, epochs, setup, batch, None)
            outbox.wait_room(_SLICE_MS / 1000)
    finally:
        with contextlib.suppress(Exception):
            consumer.resume(*consumer.paused())
    return True


def _poll(conn: Connection, consumer: KafkaConsumer, forward: _Forward,
          timeout_ms: int) -> dict[Any, Any]:
    """One poll of up to ``timeout_ms``, in slices: back early with records, a rebalance,
    or a command of the parent waiting (a seek after an assignment, a commit, the
    committed offsets), so that none waits out a whole empty poll."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        batch: dict[Any, Any] = consumer.poll(timeout_ms=_SLICE_MS)
        if batch or forward.events or conn.poll(0) or time.monotonic() >= deadline:
            return batch


def _exit_with_parent(parent_pid: int) -> None:
    """Wherever the loop is blocked (a consumer that cannot bootstrap, a long poll), an
    orphaned child must go: it would hold the group's partitions until its session ends."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)


def _state(
    consumer: SkippingConsumer, epochs: dict[TopicPartition, int], session_timeout_ms: int,
    error: str | None,
) -> _State:
    assignment = frozenset(consumer.assignment())
    fetched_ms = metadata_ms(consumer)  # before the ids: never newer than what they show
    positions: dict[TopicPartition, int | None] = {}
    for tp in assignment:
        try:
            pos = consumer.position(tp, timeout_ms=100)
        except Exception:
            pos = None
        positions[tp] = None if pos is None else int(pos)
    return _State(
        assignment,
        {tp: epochs.get(tp, 0) for tp in assignment},
        positions,
        {tp: consumer.highwater(tp) for tp in assignment},
        connection_healthy(consumer, session_timeout_ms),
        error,
        tuple(consumer.take_skipped()),
        {t: i for t in {tp.topic for tp in assignment} if (i := topic_id(consumer, t))},
        fetched_ms,
        consumer.ended_at(),
    )


def metadata_ms(consumer: KafkaConsumer) -> float:
    """When the cluster metadata was last fetched, in ``time.monotonic()`` ms (a clock the
    child and the parent share on Linux); inf where kafka-python does not say."""
    try:
        return float(consumer._client.cluster._last_successful_refresh_ms)
    except Exception:
        return float("inf")


def refresh_metadata(consumer: KafkaConsumer) -> None:
    """Ask for fresh metadata now (kafka-python's refresh loop wakes up)."""
    with contextlib.suppress(Exception):
        consumer._client.cluster.request_update()


def topic_id(consumer: KafkaConsumer, topic: str) -> str | None:
    """The topic's id in the consumer's cluster metadata; None where the broker gives none
    (before Metadata v10, or the all-zero id)."""
    try:  # kafka-python 3.x internals: never fail a poll over them
        value = consumer._client.cluster.topic_id(topic)
    except Exception:
        return None
    if value is None or not getattr(value, "int", 1):
        return None
    return str(value)


def _command(
    say: Callable[[FromChild], None], consumer: KafkaConsumer,
    epochs: dict[TopicPartition, int], cmd: ToChild,
) -> bool:
    """Apply one command from the parent; False to stop."""
    if isinstance(cmd, Close):
        return False
    if isinstance(cmd, RefreshMetadata):
        refresh_metadata(consumer)
        return True
    if isinstance(cmd, Seek):
        for tp, offset, epoch in cmd.targets:
            epochs[tp] = epoch
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        return True
    try:
        if isinstance(cmd, Committed):
            value: Any = {tp: consumer.committed(tp) for tp in cmd.partitions}
        elif isinstance(cmd, BeginningOffsets):
            value = consumer.beginning_offsets(cmd.partitions, timeout_ms=cmd.timeout_ms)
        elif isinstance(cmd, Commit):
            offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in cmd.offsets.items()}
            consumer.commit(offsets, timeout_ms=cmd.timeout_ms)
            value = None
        else:
            raise TypeError(f"unknown command {cmd!r}")
    except Exception as exc:
        say(Reply(getattr(cmd, "req_id", -1), f"{type(exc).__name__}: {exc}"))
    else:
        say(Reply(cmd.req_id, None, value))
    return True


# -- the parent --------------------------------------------------------------------------
class FetchProcessConsumer:
    """The subset of ``KafkaConsumer`` the reader calls, served by a fetching child."""

    def __init__(self, *, stopping: threading.Event | None = None, **settings: Any) -> None:
        self._settings = settings
        self._stopping = stopping  # set: the service stops, a child gone is not restarted
        self._restarting = False
        self._gone_since: float | None = None
        self._session_timeout_ms = int(settings.get("session_timeout_ms", 10000))
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._topics: list[str] = []
        self._listener: ConsumerRebalanceListener | None = None
        self._inbox: deque[FromChild] = deque()
        self._epochs: dict[TopicPartition, int] = {}
        self._state = _State(frozenset(), {}, {}, {}, False, None)
        self._positions: dict[TopicPartition, int | None] = {}
        self._skipped: list[SkippedBatch] = []
        self._last_message = time.monotonic()
        self._next_req = 0
        self._pending_commits: set[int] = set()  # commit_async requests not answered yet
        self._lock = threading.Lock()  # health is read from snapshot listeners too
        self.restarts = 0

    # -- lifecycle -----------------------------------------------------------------------
    def subscribe(self, topics: Iterable[str], listener: ConsumerRebalanceListener) -> None:
        self._topics = list(topics)
        self._listener = listener
        self._start()

    def _start(self) -> None:
        # a plain interpreter running this module, not multiprocessing: its spawn would
        # re-import the caller's __main__, which embedding scripts rarely guard
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-c",
             "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
             f"import {__name__} as m; m.child_main({child_sock.fileno()})"],
            pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL, env=env,
        )
        child_sock.close()
        self._conn = Connection(parent_sock.detach())
        self._conn.send(Setup(self._settings, self._topics, self._session_timeout_ms,
                              os.getpid(), logging.getLogger().getEffectiveLevel(),
                              logging.getLogger("kafka").getEffectiveLevel(),
                              current_format()))
        self._inbox.clear()
        self._pending_commits.clear()  # a new child answers none of the old one's
        self._state = _State(frozenset(), {}, {}, {}, False, None)
        self._positions = {}
        self._last_message = time.monotonic()

    def _restart(self, why: str) -> None:
        log.error("fetch process lost (%s); starting it again", why)
        self.restarts += 1
        self._restarting = True
        try:
            self._stop(timeout_s=2.0)
            if self._listener is not None:  # the partitions went with the child
                self._listener.on_partitions_revoked(set(self._state.assignment))
            time.sleep(min(5.0, 0.5 * self.restarts))
            self._start()
        finally:
            self._restarting = False

    def close(self, autocommit: bool = False) -> None:
        self._stop(timeout_s=10.0)

    def _stop(self, timeout_s: float) -> None:
        conn, proc = self._conn, self._proc
        self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(Close())
        if proc is not None:
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2.0)
        if conn is not None:
            conn.close()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else int(self._proc.pid)

    # -- receiving -----------------------------------------------------------------------
    def _next(self, timeout_s: float) -> FromChild | None:
        if self._inbox:
            return self._inbox.popleft()
        conn = self._conn
        if conn is None:
            raise KafkaError("consumer is closed")
        try:
            if not conn.poll(timeout_s):
                if self._proc is not None and self._proc.poll() is not None:
                    raise EOFError
                return None
            msg: FromChild = conn.recv()
        except (EOFError, OSError) as exc:
            if self._stopping is not None and self._stopping.is_set():
                log.info("fetch process exited while stopping")
                self._stop(timeout_s=2.0)
                return None
            self._restart(f"{type(exc).__name__}: {exc}" if str(exc) else "exited")
            return None
        self._last_message = time.monotonic()
        return msg

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            msg = self._next(max(0.0, deadline - time.monotonic()))
            if msg is None:
                return {}
            if isinstance(msg, Rebalance):
                self._rebalance(msg)
                return {}
            if isinstance(msg, Batch):
                records = self._batch(msg)
                if records or time.monotonic() >= deadline:
                    return records
            if isinstance(msg, Reply):
                self._async_reply(msg)  # or a stray reply (its caller timed out)

    def _rebalance(self, msg: Rebalance) -> None:
        # the assignment changes here, before the state that follows reports it: a
        # rebuild started by the listener must see the partitions it rebuilds
        tps = msg.partitions
        with self._lock:
            current = self._state.assignment
            changed = current - set(tps) if msg.revoked else frozenset(tps)
            self._state = self._state._replace(assignment=changed)
        if self._listener is None:
            return
        if msg.revoked:
            self._listener.on_partitions_revoked(set(tps))
        else:
            self._listener.on_partitions_assigned(set(tps))

    def _batch(self, msg: Batch) -> dict[TopicPartition, list[Record]]:
        payload, state = msg
        with self._lock:
            self._state = state
        epochs = self._epochs
        for tp, pos in state.positions.items():
            if state.epochs.get(tp, 0) == epochs.get(tp, 0):
                self._positions[tp] = pos
        for s in state.skipped:  # skipped before a seek the child had not applied: read again
            tp = TopicPartition(s.topic, s.partition)
            if state.epochs.get(tp, 0) == epochs.get(tp, 0):
                self._skipped.append(s)
        if state.error is not None:
            raise KafkaError(state.error)
        out: dict[TopicPartition, list[Record]] = {}
        for tp, rows in payload.items():
            if state.epochs.get(tp, 0) != epochs.get(tp, 0):
                continue  # fetched before a seek the child had not applied yet
            topic, part = tp.topic, tp.partition
            out[tp] = [Record(topic, part, *row) for row in rows]
        return out

    # -- the consumer calls the reader makes --------------------------------------------
    def assignment(self) -> set[TopicPartition]:
        return set(self._state.assignment)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._state.highwater.get(tp)

    def ended_at(self) -> dict[TopicPartition, float] | None:
        return self._state.ended

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self._positions.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._seek([(tp, offset)])

    def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self._seek([(tp, None) for tp in tps])

    def _seek(self, targets: list[tuple[TopicPartition, int | None]]) -> None:
        cmd = []
        for tp, offset in targets:
            epoch = self._epochs[tp] = self._epochs.get(tp, 0) + 1
            self._positions[tp] = None  # unknown until the child reports it after the seek
            cmd.append(SeekTarget(tp, offset, epoch))
        self._send(Seek(tuple(cmd)))

    def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_many([tp]).get(tp)

    def committed_many(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The committed offset of each partition (None: none), in one request."""
        value = self._call(Committed(self._request_id(), tuple(tps)))
        return {tp: None if off is None else int(off) for tp, off in value.items()}

    def refresh_metadata(self) -> None:
        self._send(RefreshMetadata())

    def metadata_ms(self) -> float:
        return self._state.metadata_ms

    def topic_id(self, topic: str) -> str | None:
        """The topic's id as the child's metadata last had it (None: the broker gives none)."""
        return self._state.topic_ids.get(topic)

    def beginning_offsets(self, tps: list[TopicPartition],
                          timeout_ms: int = 2000) -> dict[TopicPartition, int]:
        value = self._call(BeginningOffsets(self._request_id(), list(tps), timeout_ms),
                           timeout_s=timeout_ms / 1000 + 5)
        return {tp: int(off) for tp, off in value.items()}

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata],
                     timeout_ms: int = 30000) -> None:
        """Send a commit and return at once: the reader's loop does not wait for the child
        to finish its poll and the broker to answer (a failure is logged when its reply
        comes, and the next commit carries the offsets again). One at a time: while the
        last one is unanswered (the child rejoining a group, a broker gone) none is queued
        behind it, so the child never works through a backlog of stale commits."""
        if self._pending_commits:
            return
        req = Commit(self._request_id(), {tp: om.offset for tp, om in offsets.items()},
                     timeout_ms)
        self._pending_commits.add(req.req_id)
        self._send(req)

    def _async_reply(self, msg: Reply) -> None:
        if msg.req_id in self._pending_commits:
            self._pending_commits.discard(msg.req_id)
            if msg.error is not None:
                log.warning("offset commit failed (will retry): %s", msg.error)

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata],
               timeout_ms: int = 30000) -> None:
        plain = {tp: om.offset for tp, om in offsets.items()}
        self._call(Commit(self._request_id(), plain, timeout_ms),
                   timeout_s=timeout_ms / 1000 + 5)

    def take_skipped(self) -> list[SkippedBatch]:
        """Undecodable batches the child skipped since the last call."""
        out, self._skipped = self._skipped, []
        return out

    def silent_s(self) -> float:
        """Seconds since the child last said anything (it reports every poll, ~0.2 s,
        whether or not a broker answers): long silence means a stalled child."""
        return time.monotonic() - self._last_message

    def lost(self) -> tuple[str, float] | None:
        """(why, for how many seconds) when the child is gone and not started again; None
        while it runs or is being started again."""
        proc = self._proc
        why = None
        if self._restarting:
            why = None
        elif self._conn is None:
            why = "fetch process closed"
        elif proc is not None and proc.poll() is not None:
            why = f"fetch process {proc.pid} exited with {proc.returncode}"
        if why is None:
            self._gone_since = None
            return None
        if self._gone_since is None:
            self._gone_since = time.monotonic()
        return why, time.monotonic() - self._gone_since

    def healthy(self) -> bool:
        """The child reports a healthy connection and is itself answering."""
        with self._lock:
            state = self._state
        quiet_s = time.monotonic() - self._last_message
        return state.healthy and quiet_s < max(2.0, self._session_timeout_ms / 1000)

    def _send(self, cmd: ToChild) -> None:
        conn = self._conn
        if conn is None:
            raise KafkaError("consumer is closed")
        try:
            conn.send(cmd)
        except OSError as exc:
            raise KafkaError(f"fetch process unreachable: {exc}") from exc

    def _request_id(self) -> int:
        self._next_req += 1
        return self._next_req

    def _call(self, request: Request, timeout_s: float = _REPLY_TIMEOUT_S) -> Any:
        """Send a request and wait for its reply, keeping what arrives meanwhile in order."""
        op = type(request).__name__
        self._send(request)
        conn = self._conn
        assert conn is not None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                if not conn.poll(left):
                    break
                msg: FromChild = conn.recv()
            except (EOFError, OSError) as exc:
                raise KafkaError(f"fetch process lost during {op}: {exc}") from exc
            self._last_message = time.monotonic()
            if isinstance(msg, Reply):
                if msg.req_id != request.req_id:
                    self._async_reply(msg)  # or a stray reply (its caller timed out)
                    continue
                if msg.error is not None:
                    raise KafkaError(msg.error)
                return msg.value
            self._inbox.append(msg)
        raise KafkaError(f"{op}: no answer from the fetch process in {timeout_s:.0f} s")


def child_main(fd: int) -> None:
    """Entry point of the child process (``fd``: its end of the socket pair)."""
    _child_main(Connection(fd))
