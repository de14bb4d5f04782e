"""The event schema of SPEC §1: vocabularies, typed events and rejection reasons.

Labels are only ever drawn from these fixed vocabularies (plus ``other``), so no event
field can create a new Prometheus series.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DEFAULT_REGIONS",
    "EVENT_TYPES",
    "KINDS",
    "LOGISTICS_TYPES",
    "OTHER",
    "PRIORITIES",
    "RETURN_REASONS",
    "TICKET_TYPES",
    "Event",
    "RejectReason",
    "ReturnClosed",
    "ReturnInspected",
    "ReturnReceived",
    "ReturnRequested",
    "ShipmentDelivered",
    "TicketCreated",
    "TicketEscalated",
    "TicketRated",
    "TicketReopened",
    "TicketReplied",
    "TicketResolved",
    "TicketTransferred",
]

OTHER = "other"
CHANNELS: tuple[str, ...] = ("chat", "phone", "email", "app")
CATEGORIES: tuple[str, ...] = (
    "return", "exchange", "refund", "repair", "complaint", "inquiry", "logistics",
)
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
RETURN_REASONS: tuple[str, ...] = (
    "quality", "size", "damaged", "not_as_described", "wrong_item", "changed_mind", "other",
)
KINDS: tuple[str, ...] = ("return", "exchange")
DEFAULT_REGIONS: tuple[str, ...] = (
    "east", "south", "north", "central", "southwest", "northwest", "northeast",
)

TICKET_TYPES: tuple[str, ...] = (
    "ticket.created", "ticket.replied", "ticket.transferred", "ticket.escalated",
    "ticket.resolved", "ticket.reopened", "ticket.rated",
)
LOGISTICS_TYPES: tuple[str, ...] = (
    "shipment.delivered", "return.requested", "return.received", "return.inspected",
    "return.refunded", "return.exchanged", "return.cancelled",
)
EVENT_TYPES: tuple[str, ...] = TICKET_TYPES + LOGISTICS_TYPES


class RejectReason(enum.Enum):
    """Why a message was rejected; the value is the ``reason`` label of SPEC §3."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_TYPE = "unknown_type"


@dataclass(frozen=True, slots=True)
class Event:
    """Fields every accepted event has. ``ts_ms`` is event time in epoch milliseconds."""

    event_id: str
    ts_ms: int

    @property
    def type(self) -> str:
        return _TYPE_OF[type(self)]


@dataclass(frozen=True, slots=True)
class TicketCreated(Event):
    ticket_id: str
    channel: str
    category: str
    priority: str
    region: str


@dataclass(frozen=True, slots=True)
class TicketReplied(Event):
    ticket_id: str
    by_agent: bool


@dataclass(frozen=True, slots=True)
class TicketTransferred(Event):
    ticket_id: str


@dataclass(frozen=True, slots=True)
class TicketEscalated(Event):
    ticket_id: str


@dataclass(frozen=True, slots=True)
class TicketResolved(Event):
    ticket_id: str


@dataclass(frozen=True, slots=True)
class TicketReopened(Event):
    ticket_id: str


@dataclass(frozen=True, slots=True)
class TicketRated(Event):
    ticket_id: str
    csat: int | None
    nps: int | None


@dataclass(frozen=True, slots=True)
class ShipmentDelivered(Event):
    order_id: str
    region: str
    promised_ms: int | None


@dataclass(frozen=True, slots=True)
class ReturnRequested(Event):
    return_id: str
    region: str
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class ReturnReceived(Event):
    return_id: str


@dataclass(frozen=True, slots=True)
class ReturnInspected(Event):
    return_id: str
    passed: bool


@dataclass(frozen=True, slots=True)
class ReturnClosed(Event):
    """``return.refunded`` / ``return.exchanged`` (measured) or ``return.cancelled`` (not)."""

    return_id: str
    outcome: str  # "refunded" | "exchanged" | "cancelled"

    @property
    def type(self) -> str:
        return "return." + self.outcome


_TYPE_OF: dict[type, str] = {
    TicketCreated: "ticket.created",
    TicketReplied: "ticket.replied",
    TicketTransferred: "ticket.transferred",
    TicketEscalated: "ticket.escalated",
    TicketResolved: "ticket.resolved",
    TicketReopened: "ticket.reopened",
    TicketRated: "ticket.rated",
    ShipmentDelivered: "shipment.delivered",
    ReturnRequested: "return.requested",
    ReturnReceived: "return.received",
    ReturnInspected: "return.inspected",
}
