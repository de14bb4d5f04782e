"""The decoder's verdicts: one table row per rule of docs/semantics.md."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumers.decode import Decoder, Rejection, parse_ts_ms
from core.events import ShipmentDelivered, TicketCreated, TicketRated, TicketReplied

WALL = 1_762_869_600_000
DEC = Decoder(regions=("east", "south"))


def make_event(kind: str = "ticket.created", **overrides: Any) -> bytes:
    base: dict[str, Any] = {"event_id": "e1", "type": kind, "ts": WALL - 1000}
    base.update({"ticket.created": {"ticket_id": "T1", "channel": "chat", "category": "return",
                                    "priority": "P2", "region": "east"},
                 "ticket.rated": {"ticket_id": "T1", "csat": 5},
                 "shipment.delivered": {"order_id": "O1", "region": "east"},
                 "return.inspected": {"return_id": "R1", "passed": True}}.get(kind,
                                                                            {"ticket_id": "T1"}))
    base.update(overrides)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (None, "invalid_json"),
        (b"{" + b'"pad":"' + b"x" * 70_000 + b'"}', "too_large"),
        (make_event(event_id=...), "missing_field"),
        (make_event(event_id=12345), "invalid_field"),
        (make_event(event_id="x" * 129), "invalid_field"),
        (make_event(type=...), "missing_field"),
        (make_event(type="ticket.exploded"), "unknown_type"),
        (make_event(ts=...), "missing_field"),
        (make_event(ts="yesterday"), "invalid_timestamp"),
        (make_event(ts=1.5e30), "invalid_timestamp"),
        (make_event(ts=True), "invalid_timestamp"),
        (make_event(ts="2026-11-11T20:00:00"), "invalid_timestamp"),  # no offset
        (make_event(ts="0001-01-01T00:00:00Z"), "invalid_timestamp"),
        (make_event(ts=WALL + 301_000), "future_timestamp"),
        (make_event(ts="9999-12-31T23:59:59Z"), "future_timestamp"),
        (make_event(ticket_id=...), "missing_field"),
        (make_event(ticket_id=""), "invalid_field"),
        (make_event(channel=7), "invalid_field"),
        (make_event("ticket.rated", csat="five"), "invalid_field"),
        (make_event("ticket.rated", csat=6), "invalid_field"),
        (make_event("ticket.rated", csat=..., nps=11), "invalid_field"),
        (make_event("ticket.rated", csat=...), "missing_field"),
        (make_event("return.inspected", passed="yes"), "invalid_field"),
        (make_event("shipment.delivered", promised_ts="soon"), "invalid_timestamp"),
    ],
)
def test_rejections(raw: bytes | None, reason: str) -> None:
    result = DEC.decode(raw, WALL)
    assert isinstance(result, Rejection)
    assert result.reason.value == reason
    assert result.detail


def test_unknown_categories_become_other_and_missing_priority_p3() -> None:
    ev = DEC.decode(make_event(channel="fax", category="mystery", region="atlantis",
                               priority=...), WALL)
    assert ev == TicketCreated("e1", WALL - 1000, "T1", "other", "other", "P3", "other")
    ev = DEC.decode(make_event(priority="urgent"), WALL)
    assert isinstance(ev, TicketCreated)
    assert ev.priority == "other"


def test_reply_by_defaults_to_agent() -> None:
    assert DEC.decode(make_event("ticket.replied"), WALL) == TicketReplied(
        "e1", WALL - 1000, "T1", True)
    ev = DEC.decode(make_event("ticket.replied", by="bot"), WALL)
    assert isinstance(ev, TicketReplied)
    assert ev.by_agent is False


def test_valid_events() -> None:
    assert DEC.decode(make_event("ticket.rated", nps=9), WALL) == TicketRated(
        "e1", WALL - 1000, "T1", 5, 9)
    ev = DEC.decode(make_event("shipment.delivered", promised_ts="2025-11-11T21:59:00+08:00"),
                    WALL)
    assert ev == ShipmentDelivered("e1", WALL - 1000, "O1", "east", WALL - 60_000)
    assert DEC.decode(make_event(ts=WALL + 299_000), WALL).type == "ticket.created"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2025-11-11T14:00:00Z", 1_762_869_600_000),
        ("2025-11-11T22:00:00.120+08:00", 1_762_869_600_120),
        ("2025-11-11t14:00:00.1239z", 1_762_869_600_123),
        ("2025-11-11T09:00:00-05:00", 1_762_869_600_000),
        (1_762_869_600_000, 1_762_869_600_000),
        ("2025-11-11 14:00:00Z", None),
        ("2025-11-11T14:00:00+0800", None),
        ("2025-11-11", None),
        (-1, None),
    ],
)
def test_parse_ts(text: object, ms: int | None) -> None:
    assert parse_ts_ms(text) == ms
