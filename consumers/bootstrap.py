"""Can any bootstrap server be reached? Asked before the Kafka clients are built.

kafka-python's constructors block for ``bootstrap_timeout_ms`` (30 s) and then raise
when no broker answers; a TCP connect answers in milliseconds for a refused port, so
the reader can retry with its own capped backoff, stay live and say which address it
cannot reach (SPEC §2 "No broker yet"). Only reachability is probed: TLS, SASL and the
Kafka protocol are left to the client, whose failures are retried the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

__all__ = ["backoff_s", "split_host_port", "unreachable"]


def split_host_port(server: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too; Kafka's default port 9092 when none is given)."""
    server = server.strip()
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 9092)
    host, sep, port = server.rpartition(":")
    if not sep or ":" in host:
        return server, 9092
    return host, int(port)


def unreachable(servers: Sequence[str], timeout_s: float = 2.0) -> list[str]:
    """``server (reason)`` for every server no TCP connection reaches; [] if all do."""
    out = []
    for server in servers:
        try:
            host, port = split_host_port(server)
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            out.append(f"{server.strip()} ({reason or type(exc).__name__})")
    return out


def backoff_s(attempt: int, first_s: float = 0.5, cap_s: float = 10.0) -> float:
    """The delay before retry ``attempt`` (0, 1, …): 0.5, 1, 2, … doubling, capped."""
    return float(min(cap_s, first_s * 2 ** min(attempt, 30)))
