"""Kafka message bytes → typed events, or a rejection with a reason.

Validation order and the exact rules are in ``docs/semantics.md``. The decoder is pure:
the wall clock (for the future-skew check) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from consumers.timestamps import MAX_MS, MIN_MS, fast_ts_ms, parse_ts_ms
from consumers.wire import (
    WireCancelled,
    WireCreated,
    WireDelivered,
    WireEscalated,
    WireExchanged,
    WireInspected,
    WireMessage,
    WireRated,
    WireReceived,
    WireRefunded,
    WireReopened,
    WireReplied,
    WireRequested,
    WireResolved,
    WireTransferred,
    wire_decoder,
)
from core.events import (
    CATEGORIES,
    CHANNELS,
    EVENT_TYPES,
    KINDS,
    OTHER,
    PRIORITIES,
    RETURN_REASONS,
    Event,
    RejectReason,
    ReturnClosed,
    ReturnInspected,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
    TicketCreated,
    TicketEscalated,
    TicketMessage,
    TicketRated,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketTransferred,
)

__all__ = ["Decoder", "Rejection", "fast_ts_ms", "parse_ts_ms"]

@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str


class _Reject(Exception):
    __slots__ = ("detail", "reason")

    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def _label(obj: Mapping[str, Any], key: str, vocab: Mapping[str, str], missing: str) -> str:
    """The canonical (shared) label string: one object per value keeps tickets small."""
    v = obj.get(key)
    if v is None:
        return missing
    if type(v) is not str:
        raise _Reject(RejectReason.INVALID_FIELD, f"{key} must be a string")
    return vocab.get(v, OTHER)


class Decoder:
    """Decodes and validates one message value; holds the configured vocabularies."""

    def __init__(
        self,
        *,
        regions: tuple[str, ...],
        max_message_bytes: int = 65536,
        max_future_skew_s: int = 300,
    ) -> None:
        self.max_bytes = max_message_bytes
        self.max_skew_ms = max_future_skew_s * 1000
        self._channels = {v: v for v in CHANNELS}
        self._categories = {v: v for v in CATEGORIES}
        self._priorities = {v: v for v in PRIORITIES}
        self._regions = {v: v for v in regions}
        self._reasons = {v: v for v in RETURN_REASONS}
        self._kinds = {v: v for v in KINDS}
        self._types = frozenset(EVENT_TYPES)
        self._wire = wire_decoder()
        self._fast_builders: dict[type, Callable[[Any, str, int], Event | None]] = {
            WireCreated: self._fast_created,
            WireReplied: lambda w, e, t: (
                TicketReplied(e, t, w.ticket_id, w.by is None or w.by == "agent")
                if w.ticket_id else None
            ),
            WireMessage: self._fast_simple(TicketMessage),
            WireTransferred: self._fast_simple(TicketTransferred),
            WireEscalated: self._fast_simple(TicketEscalated),
            WireResolved: self._fast_simple(TicketResolved),
            WireReopened: self._fast_simple(TicketReopened),
            WireRated: self._fast_rated,
            WireDelivered: self._fast_delivered,
            WireRequested: self._fast_requested,
            WireReceived: self._fast_return(lambda w, e, t: ReturnReceived(e, t, w.return_id)),
            WireInspected: self._fast_return(
                lambda w, e, t: ReturnInspected(e, t, w.return_id, w.passed)),
            WireRefunded: self._fast_return(
                lambda w, e, t: ReturnClosed(e, t, w.return_id, "refunded")),
            WireExchanged: self._fast_return(
                lambda w, e, t: ReturnClosed(e, t, w.return_id, "exchanged")),
            WireCancelled: self._fast_return(
                lambda w, e, t: ReturnClosed(e, t, w.return_id, "cancelled")),
        }
        self._builders: dict[str, Callable[[Mapping[str, Any], str, int], Event]] = {
            "ticket.created": self._created,
            "ticket.replied": self._replied,
            "ticket.message": self._simple(TicketMessage),
            "ticket.transferred": self._simple(TicketTransferred),
            "ticket.escalated": self._simple(TicketEscalated),
            "ticket.resolved": self._simple(TicketResolved),
            "ticket.reopened": self._simple(TicketReopened),
            "ticket.rated": self._rated,
            "shipment.delivered": self._delivered,
            "return.requested": self._requested,
            "return.received": self._return_simple(ReturnReceived),
            "return.inspected": self._inspected,
            "return.refunded": self._closed("refunded"),
            "return.exchanged": self._closed("exchanged"),
            "return.cancelled": self._closed("cancelled"),
        }

    def decode(self, value: bytes | None, wall_ms: int) -> Event | Rejection:
        """Decode one message value. Never raises for bad input."""
        if value is not None and len(value) <= self.max_bytes:
            event = self._fast(value, wall_ms)
            if event is not None:
                return event
        return self.decode_full(value, wall_ms)

    def decode_full(self, value: bytes | None, wall_ms: int) -> Event | Rejection:
        """The full rules alone (what ``decode`` falls back to; the tests compare them)."""
        if value is None:
            return Rejection(RejectReason.INVALID_JSON, "empty message (tombstone)")
        if len(value) > self.max_bytes:
            return Rejection(
                RejectReason.TOO_LARGE, f"{len(value)} bytes > {self.max_bytes}"
            )
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return Rejection(RejectReason.INVALID_JSON, f"not JSON: {str(exc)[:120]}")
        if type(obj) is not dict:
            return Rejection(RejectReason.INVALID_JSON, "not a JSON object")
        try:
            return self._validate(obj, wall_ms)
        except _Reject as rej:
            return Rejection(rej.reason, rej.detail)
        except RecursionError:  # pragma: no cover - orjson bounds nesting already
            return Rejection(RejectReason.INVALID_JSON, "nesting too deep")

    # -- the fast path: msgspec types the fields; None hands the message to the full rules
    def _fast(self, value: bytes, wall_ms: int) -> Event | None:
        try:
            # from str, so that invalid UTF-8 anywhere (even in ignored fields) falls back
            wire = self._wire.decode(value.decode())
        except (UnicodeDecodeError, msgspec.MsgspecError, RecursionError):
            return None
        eid = wire.event_id
        if not 0 < len(eid) <= 128:
            return None
        raw = wire.ts
        ts: int | None = (
            fast_ts_ms(raw) if isinstance(raw, str)
            else raw if MIN_MS <= raw <= MAX_MS else None
        )
        if ts is None or ts > wall_ms + self.max_skew_ms:
            return None
        return self._fast_builders[type(wire)](wire, eid, ts)

    @staticmethod
    def _fast_simple(cls: Any) -> Callable[[Any, str, int], Event | None]:
        def build(w: Any, eid: str, ts: int) -> Event | None:
            return cls(eid, ts, w.ticket_id) if w.ticket_id else None

        return build

    @staticmethod
    def _fast_return(
        make: Callable[[Any, str, int], Event],
    ) -> Callable[[Any, str, int], Event | None]:
        def build(w: Any, eid: str, ts: int) -> Event | None:
            return make(w, eid, ts) if w.return_id else None

        return build

    def _fast_created(self, w: WireCreated, eid: str, ts: int) -> Event | None:
        if not w.ticket_id:
            return None
        c, g, p, r = w.channel, w.category, w.priority, w.region
        return TicketCreated(
            eid, ts, w.ticket_id,
            OTHER if c is None else self._channels.get(c, OTHER),
            OTHER if g is None else self._categories.get(g, OTHER),
            "P3" if p is None else self._priorities.get(p, OTHER),
            OTHER if r is None else self._regions.get(r, OTHER),
        )

    def _fast_rated(self, w: WireRated, eid: str, ts: int) -> Event | None:
        csat, nps = w.csat, w.nps
        if not w.ticket_id or (csat is None and nps is None):
            return None
        if (csat is not None and not 1 <= csat <= 5) or (nps is not None and not 0 <= nps <= 10):
            return None
        return TicketRated(eid, ts, w.ticket_id, csat, nps)

    def _fast_delivered(self, w: WireDelivered, eid: str, ts: int) -> Event | None:
        if not w.order_id:
            return None
        raw = w.promised_ts
        promised = None
        if raw is not None:
            promised = fast_ts_ms(raw) if type(raw) is str else parse_ts_ms(raw)
            if promised is None:
                return None
        r = w.region
        return ShipmentDelivered(
            eid, ts, w.order_id, OTHER if r is None else self._regions.get(r, OTHER), promised
        )

    def _fast_requested(self, w: WireRequested, eid: str, ts: int) -> Event | None:
        if not w.return_id:
            return None
        r, why, k = w.region, w.reason, w.kind
        return ReturnRequested(
            eid, ts, w.return_id,
            OTHER if r is None else self._regions.get(r, OTHER),
            OTHER if why is None else self._reasons.get(why, OTHER),
            OTHER if k is None else self._kinds.get(k, OTHER),
        )

    # -- the full rules: every rejection gets its reason here
    def _validate(self, obj: dict[str, Any], wall_ms: int) -> Event:
        eid = obj.get("event_id")
        if eid is None:
            raise _Reject(RejectReason.MISSING_FIELD, "event_id is missing")
        if type(eid) is not str or not 1 <= len(eid) <= 128:
            raise _Reject(RejectReason.INVALID_FIELD, "event_id must be a string of 1-128 chars")
        etype = obj.get("type")
        if etype is None:
            raise _Reject(RejectReason.MISSING_FIELD, "type is missing")
        if type(etype) is not str:
            raise _Reject(RejectReason.INVALID_FIELD, "type must be a string")
        if etype not in self._types:
            raise _Reject(RejectReason.UNKNOWN_TYPE, f"unknown type {etype[:64]!r}")
        raw_ts = obj.get("ts")
        if raw_ts is None:
            raise _Reject(RejectReason.MISSING_FIELD, "ts is missing")
        ts = parse_ts_ms(raw_ts)
        if ts is None:
            raise _Reject(RejectReason.INVALID_TIMESTAMP, f"unparseable ts {str(raw_ts)[:64]!r}")
        if ts > wall_ms + self.max_skew_ms:
            raise _Reject(
                RejectReason.FUTURE_TIMESTAMP,
                f"ts is {(ts - wall_ms) / 1000:.0f} s ahead of the wall clock",
            )
        return self._builders[etype](obj, eid, ts)

    @staticmethod
    def _entity(obj: Mapping[str, Any], key: str) -> str:
        v = obj.get(key)
        if v is None:
            raise _Reject(RejectReason.MISSING_FIELD, f"{key} is missing")
        if type(v) is not str or not v:
            raise _Reject(RejectReason.INVALID_FIELD, f"{key} must be a non-empty string")
        return v

    def _created(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        return TicketCreated(
            eid,
            ts,
            self._entity(obj, "ticket_id"),
            _label(obj, "channel", self._channels, OTHER),
            _label(obj, "category", self._categories, OTHER),
            _label(obj, "priority", self._priorities, "P3"),
            _label(obj, "region", self._regions, OTHER),
        )

    def _replied(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        tid = self._entity(obj, "ticket_id")
        by = obj.get("by")
        if by is None:
            by = "agent"
        elif type(by) is not str:
            raise _Reject(RejectReason.INVALID_FIELD, "by must be a string")
        return TicketReplied(eid, ts, tid, by == "agent")

    def _simple(self, cls: Any) -> Callable[[Mapping[str, Any], str, int], Event]:
        def build(obj: Mapping[str, Any], eid: str, ts: int) -> Event:
            return cls(eid, ts, self._entity(obj, "ticket_id"))  # type: ignore[no-any-return]

        return build

    def _return_simple(self, cls: Any) -> Callable[[Mapping[str, Any], str, int], Event]:
        def build(obj: Mapping[str, Any], eid: str, ts: int) -> Event:
            return cls(eid, ts, self._entity(obj, "return_id"))  # type: ignore[no-any-return]

        return build

    def _closed(self, outcome: str) -> Callable[[Mapping[str, Any], str, int], Event]:
        def build(obj: Mapping[str, Any], eid: str, ts: int) -> Event:
            return ReturnClosed(eid, ts, self._entity(obj, "return_id"), outcome)

        return build

    def _rated(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        tid = self._entity(obj, "ticket_id")
        csat = obj.get("csat")
        nps = obj.get("nps")
        if csat is None and nps is None:
            raise _Reject(RejectReason.MISSING_FIELD, "csat or nps is required")
        if csat is not None and (type(csat) is not int or not 1 <= csat <= 5):
            raise _Reject(RejectReason.INVALID_FIELD, "csat must be an integer 1-5")
        if nps is not None and (type(nps) is not int or not 0 <= nps <= 10):
            raise _Reject(RejectReason.INVALID_FIELD, "nps must be an integer 0-10")
        return TicketRated(eid, ts, tid, csat, nps)

    def _delivered(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        oid = self._entity(obj, "order_id")
        region = _label(obj, "region", self._regions, OTHER)
        raw = obj.get("promised_ts")
        promised = None
        if raw is not None:
            promised = parse_ts_ms(raw)
            if promised is None:
                raise _Reject(RejectReason.INVALID_TIMESTAMP, "unparseable promised_ts")
        return ShipmentDelivered(eid, ts, oid, region, promised)

    def _requested(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        return ReturnRequested(
            eid,
            ts,
            self._entity(obj, "return_id"),
            _label(obj, "region", self._regions, OTHER),
            _label(obj, "reason", self._reasons, OTHER),
            _label(obj, "kind", self._kinds, OTHER),
        )

    def _inspected(self, obj: Mapping[str, Any], eid: str, ts: int) -> Event:
        rid = self._entity(obj, "return_id")
        passed = obj.get("passed")
        if passed is None:
            raise _Reject(RejectReason.MISSING_FIELD, "passed is missing")
        if type(passed) is not bool:
            raise _Reject(RejectReason.INVALID_FIELD, "passed must be a boolean")
        return ReturnInspected(eid, ts, rid, passed)
