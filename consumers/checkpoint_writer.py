"""Checkpoints encoded in a forked copy of the process, so that the reader's loop never
waits for them (issue 17).

Why a fork: a checkpoint is the state at one offset, and encoding the shards of the large
platform's 6 M-event week takes ~12 s of Python, plus ~20 s right after a rebuild to seal
the millions of ids remembered meanwhile (``RecentIds.set_aside``). A thread would need
the state locked or copied for that long; a fork is a copy-on-write snapshot of the
whole process in milliseconds (Redis' BGSAVE, for the same reason). The loop sets the
big id dicts aside (cheap), forks, and reads on; the child seals them, encodes every due
partition and writes the bytes to a pipe; a thread of the parent reads the pipe and
writes each checkpoint with the store's producer. The loop takes the result in
(:meth:`CheckpointJob.result`): the offsets now covered, and the runs the child sealed,
installed by the loop since they change state.

The child only computes and writes to its pipe: no Kafka client, no logging, no lock
(only the forking thread exists in it; another thread may have held a lock at the fork),
its garbage collector off (it would touch every object, and so copy every page), and it
leaves with ``os._exit``. Memory: the pages it reads are copied (reading an object
writes its reference count), up to the size of the state while a checkpoint is encoded.
A child that dies writes nothing: the ids stay aside (still searched) and the next round
tries again. Where ``os.fork`` is missing, the reader writes checkpoints in its loop.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final

__all__ = ["FORKS", "CheckpointJob", "Due", "JobResult"]

FORKS: Final = hasattr(os, "fork")
_HEAD: Final = struct.Struct("<cIQ")  # kind, index of the partition, length
_SEALED, _PAYLOAD, _FAILED = b"S", b"C", b"E"


@dataclass(frozen=True, slots=True)
class Due:
    """A partition to checkpoint: its state covers the records before ``offset``."""

    tp: Any  # kafka TopicPartition
    offset: int
    topic_id: str | None


@dataclass(slots=True)
class JobResult:
    """What a job did: the checkpoints written (partition, offset, bytes), the failures
    (partition or None for the child itself, why), the runs the child sealed (None: it
    sealed nothing or died first), and how long it took."""

    written: list[tuple[Any, int, int]] = field(default_factory=list)
    failed: list[tuple[Any, str]] = field(default_factory=list)
    sealed: bytes | None = None
    seconds: float = 0.0


class CheckpointJob:
    """One round of checkpoints: a forked child encodes, a thread writes, the loop polls.

    ``seal`` (in the child) seals what the loop set aside and returns the runs as bytes;
    ``encode(tp)`` (in the child) is the partition's checkpoint; ``write(due, payload)``
    (in the thread) stores it."""

    def __init__(self, due: list[Due], seal: Callable[[], bytes],
                 encode: Callable[[Any], bytes],
                 write: Callable[[Due, bytes], object]) -> None:
        self.due = due
        self._write = write
        self._result = JobResult()
        self._done = threading.Event()
        self._t0 = time.monotonic()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(r)
            _child(w, due, seal, encode)
        os.close(w)
        self._pid = pid
        self._thread = threading.Thread(target=self._drain, args=(os.fdopen(r, "rb"),),
                                        name="pulse-checkpoint-writer", daemon=True)
        self._thread.start()

    def result(self) -> JobResult | None:
        """The result once the child has exited and every payload is written, else None."""
        return self._result if self._done.is_set() else None

    def written(self) -> list[tuple[Any, int, int]]:
        """The checkpoints written so far (after :meth:`cancel`: all the job wrote)."""
        return list(self._result.written)

    def cancel(self, timeout_s: float = 30.0) -> None:
        """Stop the child (an assignment changed, or the process stops) and wait for the
        write under way, if any; what was written stays written."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        self._thread.join(timeout_s)

    def _drain(self, pipe: IO[bytes]) -> None:
        res = self._result
        try:
            with pipe:
                while len(head := pipe.read(_HEAD.size)) == _HEAD.size:
                    kind, i, n = _HEAD.unpack(head)
                    data = pipe.read(n)
                    if len(data) != n:
                        break
                    if kind == _SEALED:
                        res.sealed = data
                    elif kind == _FAILED:
                        res.failed.append((self.due[i].tp, data.decode(errors="replace")))
                    else:
                        d = self.due[i]
                        try:
                            self._write(d, data)
                        except Exception as exc:  # retried next round; the stream goes on
                            res.failed.append((d.tp, f"{type(exc).__name__}: {exc}"))
                        else:
                            res.written.append((d.tp, d.offset, n))
        finally:
            _, status = os.waitpid(self._pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                res.failed.append((None, f"the checkpoint process ended with {code}"))
            res.seconds = time.monotonic() - self._t0
            self._done.set()


def _child(fd: int, due: list[Due], seal: Callable[[], bytes],
           encode: Callable[[Any], bytes]) -> None:
    code = 1
    try:
        gc.disable()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            sealed = seal()
            out.write(_HEAD.pack(_SEALED, 0, len(sealed)))
            out.write(sealed)
            for i, d in enumerate(due):
                try:
                    payload = encode(d.tp)
                    kind = _PAYLOAD
                except Exception as exc:
                    payload, kind = f"{type(exc).__name__}: {exc}".encode(), _FAILED
                out.write(_HEAD.pack(kind, i, len(payload)))
                out.write(payload)
                out.flush()  # the parent writes it while the next one is encoded
        code = 0
    except BaseException:
        pass
    finally:
        os._exit(code)
