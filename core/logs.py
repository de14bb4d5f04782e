"""Log set-up for the service and its fetch child: text, or one JSON object per line.

JSON lines carry ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``process``, ``message`` and
whatever a call passed as ``extra=`` (``topic``, ``partition``, ``offset``), so a log
pipeline can index them without parsing prose. kafka-python's own warnings (a broker
unreachable, a TLS handshake refused) are let through at WARNING, since they are often
the only hint of a misconfiguration; repeats of one message are held back for a while,
because during an outage the client says the same thing several times a second.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

__all__ = ["FORMATS", "LEVELS", "configure_logging", "current_format"]

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_REPEAT_S = 30.0  # a kafka-python message, repeated within this, is logged once
_format = "text"


class _KafkaRepeats(logging.Filter):
    """Passes a kafka-python message template at most once per ``interval_s``."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka") or record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            if now - self._last.get(key, -self._interval_s) < self._interval_s:
                return False
            if len(self._last) > 1000:  # templates are few; never grow without bound
                self._last.clear()
            self._last[key] = now
        return True


class _ClosedSocketRace(logging.Filter):
    """kafka-python 3.0 closes a connection on one thread while its network loop reads it
    on another; the read then fails on the socket already gone (``'NoneType' object has
    no attribute 'recv'``) and is logged at ERROR with a traceback, most often at a clean
    stop. Nothing is lost (the connection was being closed): one warning line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if (record.name.startswith("kafka.net") and isinstance(exc, AttributeError)
                and "'NoneType' object has no attribute" in str(exc)):
            record.msg = f"{record.getMessage()}: the socket was closed meanwhile ({exc})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    return int(logging.getLevelNamesMapping()[level.upper()])


def configure_logging(level: int | str = "info", fmt: str = "text") -> None:
    """Root handler on stderr in ``fmt``; kafka-python at WARNING (DEBUG when debugging)."""
    global _format
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: one of {', '.join(FORMATS)}")
    root_level = _level(level)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "%(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        ))
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    handler.addFilter(_ClosedSocketRace())
    if root_level > logging.DEBUG:
        handler.addFilter(_KafkaRepeats(_REPEAT_S))
    logging.basicConfig(level=root_level, handlers=[handler], force=True)
    kafka_level = logging.DEBUG if root_level <= logging.DEBUG else max(logging.WARNING,
                                                                        root_level)
    logging.getLogger("kafka").setLevel(kafka_level)
    _format = fmt


def current_format() -> str:
    """The format :func:`configure_logging` set, for the fetch child to use the same."""
    return _format
