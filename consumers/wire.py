"""The event schema of SPEC §1 as msgspec structs: JSON → typed fields in one C pass.

This is the decoder's fast path for well-formed events. It only *types* fields; the
rules that give a rejection its reason (missing vs invalid, vocabularies, ranges,
timestamps, clock skew) stay in :mod:`consumers.decode`, which takes over whenever
these structs do not fit, so every rejection is explained the same way.

Fields absent from a struct are ignored, as the schema allows extra fields.
"""

from __future__ import annotations

import msgspec

__all__ = ["WIRE_TYPES", "WireEvent", "wire_decoder"]


class _Wire(msgspec.Struct, tag_field="type", frozen=True, gc=False):
    event_id: str
    ts: str | int


class WireCreated(_Wire, tag="ticket.created", frozen=True, gc=False):
    ticket_id: str
    channel: str | None = None
    category: str | None = None
    priority: str | None = None
    region: str | None = None


class WireReplied(_Wire, tag="ticket.replied", frozen=True, gc=False):
    ticket_id: str
    by: str | None = None


class WireMessage(_Wire, tag="ticket.message", frozen=True, gc=False):
    ticket_id: str


class WireTransferred(_Wire, tag="ticket.transferred", frozen=True, gc=False):
    ticket_id: str


class WireEscalated(_Wire, tag="ticket.escalated", frozen=True, gc=False):
    ticket_id: str


class WireResolved(_Wire, tag="ticket.resolved", frozen=True, gc=False):
    ticket_id: str


class WireReopened(_Wire, tag="ticket.reopened", frozen=True, gc=False):
    ticket_id: str


class WireRated(_Wire, tag="ticket.rated", frozen=True, gc=False):
    ticket_id: str
    csat: int | None = None
    nps: int | None = None


class WireDelivered(_Wire, tag="shipment.delivered", frozen=True, gc=False):
    order_id: str
    region: str | None = None
    promised_ts: str | int | None = None


class WireRequested(_Wire, tag="return.requested", frozen=True, gc=False):
    return_id: str
    region: str | None = None
    reason: str | None = None
    kind: str | None = None


class WireReceived(_Wire, tag="return.received", frozen=True, gc=False):
    return_id: str


class WireInspected(_Wire, tag="return.inspected", frozen=True, gc=False):
    return_id: str
    passed: bool


class WireRefunded(_Wire, tag="return.refunded", frozen=True, gc=False):
    return_id: str


class WireExchanged(_Wire, tag="return.exchanged", frozen=True, gc=False):
    return_id: str


class WireCancelled(_Wire, tag="return.cancelled", frozen=True, gc=False):
    return_id: str


WireEvent = (
    WireCreated | WireReplied | WireMessage | WireTransferred | WireEscalated | WireResolved
    | WireReopened | WireRated | WireDelivered | WireRequested | WireReceived | WireInspected
    | WireRefunded | WireExchanged | WireCancelled
)
WIRE_TYPES: tuple[type[_Wire], ...] = (
    WireCreated, WireReplied, WireMessage, WireTransferred, WireEscalated, WireResolved,
    WireReopened,
    WireRated, WireDelivered, WireRequested, WireReceived, WireInspected, WireRefunded,
    WireExchanged, WireCancelled,
)


def wire_decoder() -> msgspec.json.Decoder[WireEvent]:
    """A strict decoder (no str → int coercion, bool is not an int) of the tagged union."""
    return msgspec.json.Decoder(WireEvent)
