"""The fetch process's outbox (consumers/outbox.py) over a real socket pair: messages leave
in order, only counted ones fill it, and a reader gone is raised, not waited on."""

from __future__ import annotations

import socket
import time
from multiprocessing.connection import Connection

import pytest

from consumers.outbox import Outbox

BIG = b"x" * (4 << 20)  # far more than a socket buffer: its send blocks until read


def _pair() -> tuple[Connection, Connection]:
    a, b = socket.socketpair()
    return Connection(a.detach()), Connection(b.detach())


def _batch(msg: object) -> bool:
    return isinstance(msg, tuple) and msg[0] == "batch"


def test_messages_leave_in_order_and_only_batches_fill_it() -> None:
    mine, theirs = _pair()
    box = Outbox(mine, limit=2, counted=_batch)
    box.put(("batch", 1, BIG))  # being sent: blocked until the other end reads
    box.put(("reply", 1))
    assert not box.full()
    box.put(("batch", 2, b""))
    assert box.full()
    assert not box.wait_room(0.2)  # nobody reads
    box.put(("rebalance", 1))  # never refused: not counted
    got = [theirs.recv()[:2] for _ in range(4)]
    assert got == [("batch", 1), ("reply", 1), ("batch", 2), ("rebalance", 1)]
    assert box.wait_room(5.0)
    assert not box.full()


def _refused(box: Outbox, timeout_s: float) -> BaseException | None:
    """What ``put`` raised once the sender found the other end gone (None: nothing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            box.put(("reply", 2))
        except OSError as exc:
            return exc
        time.sleep(0.01)
    return None


def test_a_reader_gone_is_raised() -> None:
    mine, theirs = _pair()
    box = Outbox(mine, limit=2, counted=_batch)
    theirs.close()
    box.put(("batch", 1, BIG))
    assert isinstance(_refused(box, 5.0), BrokenPipeError | ConnectionResetError)
    with pytest.raises(OSError):
        box.wait_room(1.0)
