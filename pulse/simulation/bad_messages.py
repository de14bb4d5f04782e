"""Malformed messages for the demo and the tests: one per rejection reason of SPEC §1."""

from __future__ import annotations

import json

from pulse.simulation.records import DAY_MS, LOGISTICS, TICKETS

__all__ = ["bad_messages"]


def bad_messages(seed: int, ts_ms: int) -> list[tuple[str, str, bytes]]:
    """Malformed messages ``(topic kind, key, raw value)`` for the demo and tests.

    Each one is rejected by the decoder with a distinct reason (see docs/semantics.md);
    ``ts_ms`` should be close to the wall clock so only the far-future one is in the future.
    """
    def enc(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    p = f"bad-{seed}-"
    created: dict[str, object] = {
        "type": "ticket.created", "ts": ts_ms, "channel": "chat", "category": "return",
        "priority": "P3", "region": "east",
    }
    return [
        # invalid_json: truncated JSON
        (TICKETS, p + "0", b'{"event_id":"' + (p + "0").encode() + b'","type":"ticket.created",'),
        # invalid_json: not UTF-8
        (TICKETS, p + "1",
         b'{"event_id":"' + (p + "1").encode() + b'\xff\xfe","type":"ticket.resolved","ts":'
         + str(ts_ms).encode() + b',"ticket_id":"T1"}'),
        # invalid_json: JSON but not an object
        (LOGISTICS, p + "2", b'["shipment.delivered", 1]'),
        # missing_field: no event_id
        (TICKETS, p + "3", enc({**created, "ticket_id": p + "3"})),
        # unknown_type
        (TICKETS, p + "4", enc({"event_id": p + "4", "type": "ticket.deleted", "ts": ts_ms,
                                "ticket_id": p + "4"})),
        # too_large: over 64 KiB
        (TICKETS, p + "5", enc({**created, "event_id": p + "5", "ticket_id": p + "5",
                                "note": "x" * 70_000})),
        # invalid_field: csat "five"
        (TICKETS, p + "6", enc({"event_id": p + "6", "type": "ticket.rated", "ts": ts_ms,
                                "ticket_id": p + "6", "csat": "five"})),
        # future_timestamp: a year ahead
        (LOGISTICS, p + "7", enc({"event_id": p + "7", "type": "shipment.delivered",
                                  "ts": ts_ms + 365 * DAY_MS, "order_id": p + "7",
                                  "region": "east"})),
        # invalid_timestamp
        (LOGISTICS, p + "8", enc({"event_id": p + "8", "type": "return.received",
                                  "ts": "yesterday", "return_id": p + "8"})),
    ]
