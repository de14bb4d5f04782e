"""The forked checkpoint round (consumers/checkpoint_writer.py): the child encodes a
copy-on-write copy of the state while the parent goes on, the parent's thread writes
each payload, and failures anywhere are reported, never raised into the loop."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from consumers.checkpoint_writer import CheckpointJob, Due, JobResult


def _wait(job: CheckpointJob, timeout_s: float = 20.0) -> JobResult:
    deadline = time.monotonic() + timeout_s
    while (res := job.result()) is None:
        assert time.monotonic() < deadline, "the round did not end"
        time.sleep(0.01)
    return res


def test_the_child_encodes_the_state_as_it_was_at_the_fork() -> None:
    state = {"a": [1, 2], "b": [3]}
    stored: dict[str, bytes] = {}
    pids: set[int] = set()

    def seal() -> bytes:
        state["a"].append(99)  # the child's copy only
        return b"runs"

    def encode(tp: Any) -> bytes:
        pids.add(os.getpid())  # in the child: lost with it
        return repr(state[tp]).encode()

    due = [Due("a", 10, None), Due("b", 5, "id-b")]
    job = CheckpointJob(due, seal, encode, lambda d, p: stored.__setitem__(d.tp, p))
    state["b"].append(4)  # the parent goes on: the child does not see it
    res = _wait(job)
    assert res.sealed == b"runs"
    assert res.written == [("a", 10, len(b"[1, 2, 99]")), ("b", 5, len(b"[3]"))]
    assert stored == {"a": b"[1, 2, 99]", "b": b"[3]"}
    assert res.failed == []
    assert state == {"a": [1, 2], "b": [3, 4]}
    assert pids == set()


def test_a_failing_encode_or_write_is_reported_and_the_rest_is_written() -> None:
    stored: list[str] = []

    def encode(tp: Any) -> bytes:
        if tp == "bad":
            raise ValueError("no such shard")
        return tp.encode()

    def write(d: Due, payload: bytes) -> None:
        if d.tp == "unwritable":
            raise TimeoutError("broker gone")
        stored.append(d.tp)

    due = [Due(tp, 1, None) for tp in ("x", "bad", "unwritable", "y")]
    res = _wait(CheckpointJob(due, lambda: b"", encode, write))
    assert stored == ["x", "y"]
    assert [tp for tp, _, _ in res.written] == ["x", "y"]
    assert res.failed == [("bad", "ValueError: no such shard"),
                          ("unwritable", "TimeoutError: broker gone")]


def test_a_child_that_dies_writes_nothing_and_says_so() -> None:
    def seal() -> bytes:
        os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, say
        return b""

    res = _wait(CheckpointJob([Due("x", 1, None)], seal, lambda tp: b"x",
                              lambda d, p: None))
    assert res.sealed is None
    assert res.written == []
    assert res.failed == [(None, "the checkpoint process ended with -9")]


def test_cancel_stops_a_slow_child_at_once() -> None:
    def encode(tp: Any) -> bytes:
        time.sleep(60)
        return b""

    job = CheckpointJob([Due("x", 1, None)], lambda: b"s", encode, lambda d, p: None)
    t0 = time.monotonic()
    job.cancel()
    res = _wait(job, 5)
    assert time.monotonic() - t0 < 5
    assert res.written == []
