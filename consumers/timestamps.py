"""Event timestamps (SPEC §1): epoch milliseconds from an integer or an RFC 3339 string.

Apart from the decoder because the rule is one of its own (docs/semantics.md): integers
and strings with an offset, 1970 to 9999, millisecond-exact; and the hot path's cached
minute parse must give the same answer (tests/consumers/test_fast_path.py).
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["MAX_MS", "MIN_MS", "fast_ts_ms", "parse_ts_ms"]

_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)\Z"
)
MIN_MS = 0  # 1970-01-01
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def parse_ts_ms(value: object) -> int | None:
    """Epoch ms from an integer or an RFC 3339 string with an offset; None if invalid."""
    if type(value) is int:
        return value if MIN_MS <= value <= MAX_MS else None
    if isinstance(value, str):
        if len(value) > 64 or _RFC3339.match(value) is None:
            return None
        try:
            dt = datetime.fromisoformat(value.upper())
        except ValueError:
            return None
        if dt.tzinfo is None:
            return None
        try:
            # integer arithmetic: float seconds * 1000 can be off by one millisecond
            ms = int(dt.replace(microsecond=0).timestamp()) * 1000 + dt.microsecond // 1000
        except (OverflowError, ValueError, OSError):
            return None
        return ms if MIN_MS <= ms <= MAX_MS else None
    return None


_MINUTES: dict[str, int | None] = {}


def fast_ts_ms(value: str) -> int | None:
    """``parse_ts_ms`` for the common shape ``YYYY-MM-DDTHH:MM:SS.fff`` + ``Z`` or
    ``±hh:mm``: the minute is parsed once and cached, seconds and millis added. Anything
    else goes the full way; the result is the same (tests/consumers pin it)."""
    n = len(value)
    if (n == 24 or n == 29) and value[16] == ":" and value[19] == "." and value.isascii():
        sec, milli = value[17:19], value[20:23]
        if sec.isdigit() and milli.isdigit() and sec < "60":
            key = value[:16] + value[23:]
            base = _MINUTES.get(key, -1)
            if base == -1:
                if len(_MINUTES) >= 65536:
                    _MINUTES.clear()
                base = _MINUTES[key] = parse_ts_ms(value[:16] + ":00" + value[23:])
            if base is None:
                return None
            ms = base + int(sec) * 1000 + int(milli)
            return ms if ms <= MAX_MS else None
    return parse_ts_ms(value)
