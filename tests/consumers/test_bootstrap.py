"""The bootstrap probe and the retry delays of the connect phase (SPEC §2 "No broker yet")."""

from __future__ import annotations

import socket

from consumers.bootstrap import backoff_s, split_host_port, unreachable
from pulse.broker import free_port


def test_split_host_port() -> None:
    assert split_host_port("kafka-0.kafka:9093") == ("kafka-0.kafka", 9093)
    assert split_host_port(" 10.0.0.1:9092 ") == ("10.0.0.1", 9092)
    assert split_host_port("[::1]:19092") == ("::1", 19092)
    assert split_host_port("broker") == ("broker", 9092)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(i) for i in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_s(10_000) == 10.0


def test_unreachable_names_only_the_servers_nobody_answers_on() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        up = f"127.0.0.1:{listener.getsockname()[1]}"
        down = f"127.0.0.1:{free_port()}"
        assert unreachable([up]) == []
        got = unreachable([up, down, "no-such-host.invalid:9092"], timeout_s=2.0)
        assert len(got) == 2
        assert got[0].startswith(down + " (")
        assert got[1].startswith("no-such-host.invalid:9092 (")
    finally:
        listener.close()
