"""Is a listening port free? Asked before anything starts, so that a port in use is one
line naming it (``port 9108 on 127.0.0.1 is in use``), not a traceback from a server."""

from __future__ import annotations

import errno
import socket

from core.config import Config
from core.errors import PulseError

__all__ = ["PortInUse", "ensure_free", "ensure_service_ports"]


class PortInUse(PulseError):
    """Another process listens on a port the command was told to use."""


def ensure_free(host: str, port: int, what: str) -> None:
    """Raise :class:`PortInUse` if ``host:port`` cannot be bound (0: any port, always free).

    SO_REUSEADDR as the servers set it: a port in TIME_WAIT is free, a listener is not.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PulseError(f"{what}: cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _name, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {host} is in use ({what})") from None
            raise PulseError(f"{what}: cannot listen on {host}:{port}: {exc.strerror}") from None


def ensure_service_ports(cfg: Config) -> None:
    """The ports ``pulse run`` / ``pulse demo`` listen on: /metrics and the wall-board."""
    ensure_free(cfg.metrics_host, cfg.metrics_port, "--metrics-port / metrics_port")
    if cfg.dashboard.enabled:
        ensure_free(cfg.dashboard.host, cfg.dashboard.port, "--dashboard-port / dashboard.port")
