"""Reference computation ("oracle") for Aftersales Pulse.

Independent of the engine: it re-implements SPEC.md §1-§3 as read by docs/semantics.md
with plain loops over full event lists.  Nothing here is incremental or clever on purpose,
so that it is easy to check by reading.

Main entry points:

* ``compute(messages, wall_ms=..., clock_ms=None, ...) -> Expected``
* ``load_conformance(path)`` / ``expected_from_conformance(expected_json)``
* ``from_exposition(text)`` -- parse a Prometheus /metrics page into an ``Expected``
* ``diff(a, b)`` -- list every mismatch between two ``Expected`` values

Shape of ``Expected`` (all times in seconds unless the name ends in ``_ms``):

* ``events_total[(topic, type)] -> int`` (accepted, orphans included)
* ``rejected[(topic, reason)] -> int`` or ``None`` when unknown;
  ``rejected_by_topic[topic] -> int``
* ``duplicates[topic] -> int``; ``late[topic] -> int`` or ``None``
* ``orphans[(topic, type)] -> int`` or ``None``; ``orphans_total -> int``
* ``produced[topic] -> int`` or ``None``
* ``histograms[(metric, label_value)] -> Hist(count, sum, values, buckets)``
  e.g. ``("aftersales_first_response_seconds", "chat")``
* ``gauges[(metric, (("label", "value"), ...))] -> float`` -- label items sorted by name;
  only non-zero series are listed, except ``aftersales_window_return_rate`` which is listed
  exactly where it is defined (delivered > 0), even when 0
* ``window_first_response_values[(window, channel)] -> sorted list`` (non-empty only)
* ``quantiles[(window, channel, "0.5"|"0.9"|"0.99")] -> float`` (only where values exist)
* ``clock_ms`` / ``watermark_ms`` -> int or ``None``

SPEC §7 (turns, business hours, ``today``, scores; see ``section7`` for the rules and the
interpretations) lives in fields of its own, so that the §3 fields above stay exactly what
they were (the conformance expected.json knows nothing of §7). ``None`` = not known, not
compared:

* ``gauges7[GaugeKey] -> float`` -- the §7 state and window gauges (every window, ``today``
  included) and the ``window="today"`` series of every §3 window gauge; non-zero only,
  return rates where defined
* ``histograms7[("aftersales_response_seconds", channel)] -> Hist``
* ``window_values7[(quantile metric, window, channel)] -> sorted list`` and
  ``quantiles7[(metric, window, channel, q)]`` -- response quantiles (every window) and the
  ``today`` first-response quantiles
* ``counters7[GaugeKey] -> int`` -- ``aftersales_score_turns_total`` / ``_within_total``

Modules: ``bizhours`` (business time, China's calendar), ``section7`` (turns, scores,
their series, the list of interpretations).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------
# Vocabularies and defaults
# --------------------------------------------------------------------------------------

DEFAULT_REGIONS = ("east", "south", "north", "central", "southwest", "northwest", "northeast")
DEFAULT_WINDOWS = {"15m": 900, "1h": 3600, "24h": 86400}

CHANNELS = ("chat", "phone", "email", "app")
CATEGORIES = ("return", "exchange", "refund", "repair", "complaint", "inquiry", "logistics")
PRIORITIES = ("P1", "P2", "P3", "P4")
RETURN_REASONS = (
    "quality",
    "size",
    "damaged",
    "not_as_described",
    "wrong_item",
    "changed_mind",
    "other",
)
RETURN_KINDS = ("return", "exchange")

TICKET_TYPES = (
    "ticket.created",
    "ticket.replied",
    "ticket.message",
    "ticket.transferred",
    "ticket.escalated",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.rated",
)
LOGISTICS_TYPES = (
    "shipment.delivered",
    "return.requested",
    "return.received",
    "return.inspected",
    "return.refunded",
    "return.exchanged",
    "return.cancelled",
)
ALL_TYPES = TICKET_TYPES + LOGISTICS_TYPES

# SLAs in seconds.
FIRST_RESPONSE_SLA = {"chat": 30, "phone": 900, "app": 1800, "email": 86400}
FIRST_RESPONSE_SLA["other"] = FIRST_RESPONSE_SLA["email"]
RESOLUTION_SLA = {"P1": 7200, "P2": 86400, "P3": 172800, "P4": 259200}
RESOLUTION_SLA["other"] = RESOLUTION_SLA["P3"]
RETURN_PROCESSING_SLA = 172800

MAX_MESSAGE_BYTES = 65536
STATE_HORIZON_S = 7 * 86400
QUANTILES = ("0.5", "0.9", "0.99")

# Metric names.
FIRST_RESPONSE_HIST = "aftersales_first_response_seconds"
RESOLUTION_HIST = "aftersales_resolution_seconds"
RETURN_PROCESSING_HIST = "aftersales_return_processing_seconds"
HISTOGRAM_LABEL = {
    FIRST_RESPONSE_HIST: "channel",
    RESOLUTION_HIST: "priority",
    RETURN_PROCESSING_HIST: "region",
}
WINDOW_QUANTILE_METRIC = "aftersales_window_first_response_seconds"
RETURN_RATE = "aftersales_window_return_rate"

STATE_GAUGES = (
    "aftersales_backlog_tickets",
    "aftersales_unanswered_tickets",
    "aftersales_first_response_overdue_tickets",
    "aftersales_resolution_overdue_tickets",
    "aftersales_oldest_unanswered_age_seconds",
    "aftersales_returns_open",
)
WINDOW_GAUGES = (
    "aftersales_window_tickets_created",
    "aftersales_window_first_responses",
    "aftersales_window_first_responses_within_sla",
    "aftersales_window_resolutions",
    "aftersales_window_resolutions_within_sla",
    "aftersales_window_resolutions_first_contact",
    "aftersales_window_resolutions_by_bot",
    "aftersales_window_escalations",
    "aftersales_window_transfers",
    "aftersales_window_reopens",
    "aftersales_window_csat_ratings",
    "aftersales_window_csat_satisfied",
    "aftersales_window_nps_ratings",
    "aftersales_window_nps_promoters",
    "aftersales_window_nps_detractors",
    "aftersales_window_orders_delivered",
    "aftersales_window_deliveries_late",
    "aftersales_window_returns_requested",
    "aftersales_window_returns_by_reason",
    RETURN_RATE,
    "aftersales_window_peak_ratio",
)
GAUGE_NAMES = STATE_GAUGES + WINDOW_GAUGES


# --------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------

GaugeKey = tuple[str, tuple[tuple[str, str], ...]]


def gauge_key(metric: str, **labels: str) -> GaugeKey:
    """``gauge_key("aftersales_returns_open", region="east")`` -> the key used in gauges."""
    return (metric, tuple(sorted(labels.items())))


@dataclass
class Hist:
    count: int
    sum: float
    values: list[float] | None = None  # sorted observations, when known
    buckets: dict[float, int] | None = None  # cumulative count per upper bound `le`


@dataclass
class Expected:
    events_total: dict[tuple[str, str], int] = field(default_factory=dict)
    rejected: dict[tuple[str, str], int] | None = field(default_factory=dict)
    rejected_by_topic: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] | None = field(default_factory=dict)
    orphans: dict[tuple[str, str], int] | None = field(default_factory=dict)
    orphans_total: int = 0
    produced: dict[str, int] | None = field(default_factory=dict)
    histograms: dict[tuple[str, str], Hist] = field(default_factory=dict)
    gauges: dict[GaugeKey, float] = field(default_factory=dict)
    window_first_response_values: dict[tuple[str, str], list[float]] | None = field(
        default_factory=dict
    )
    quantiles: dict[tuple[str, str, str], float] = field(default_factory=dict)
    clock_ms: int | None = None
    watermark_ms: int | None = None
    # SPEC §7 (section7.py); None = not known (not compared)
    gauges7: dict[GaugeKey, float] | None = None
    histograms7: dict[tuple[str, str], Hist] | None = None
    window_values7: dict[tuple[str, str, str], list[float]] | None = None
    quantiles7: dict[tuple[str, str, str, str], float] | None = None
    counters7: dict[GaugeKey, int] | None = None

    def gauge(self, metric: str, **labels: str) -> float:
        """Value of one gauge series, 0 when not listed (None for an absent return rate)."""
        key = gauge_key(metric, **labels)
        gauges = self.gauges if key in self.gauges or self.gauges7 is None else self.gauges7
        if metric == RETURN_RATE:
            return gauges.get(key)  # type: ignore[return-value]
        return gauges.get(key, 0.0)

    def counter(self, metric: str, **labels: str) -> int:
        """Value of one §7 counter series (score turns), 0 when not listed."""
        assert self.counters7 is not None
        return self.counters7.get(gauge_key(metric, **labels), 0)


# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------

MIN_TS_MS = 0  # 1970-01-01T00:00:00Z
MAX_TS_MS = 253402300799999  # 9999-12-31T23:59:59.999Z

_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def parse_ts(value: Any) -> int | None:
    """Event time in epoch milliseconds, or None when not a valid timestamp.

    Accepts an RFC 3339 string with an offset (or Z) -- fractional seconds truncated to the
    millisecond -- or a JSON integer of epoch milliseconds (not a bool, not a float).
    The instant must lie in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        m = _RFC3339.match(value)
        if m is None:
            return None
        year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
        try:
            local = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
        except ValueError:
            return None
        frac = m.group(7)
        frac_ms = int((frac[1:] + "000")[:3]) if frac else 0
        offset = m.group(8)
        if offset in ("Z", "z"):
            offset_ms = 0
        else:
            oh, om = int(offset[1:3]), int(offset[4:6])
            if oh > 23 or om > 59:
                return None
            offset_ms = (oh * 60 + om) * 60000
            if offset[0] == "-":
                offset_ms = -offset_ms
        local_ms = (local - datetime(1970, 1, 1)) // timedelta(milliseconds=1)  # noqa: DTZ001
        ms = local_ms + frac_ms - offset_ms
    else:
        return None
    if ms < MIN_TS_MS or ms > MAX_TS_MS:
        return None
    return ms


# --------------------------------------------------------------------------------------
# Decoding and validation (docs/semantics.md, in that order)
# --------------------------------------------------------------------------------------


@dataclass
class Event:
    topic: str
    event_id: str
    type: str
    ts_ms: int
    entity_id: str
    fields: dict[str, Any]  # normalised type-specific fields (labels already mapped)


class Rejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _categorical(obj: dict[str, Any], name: str, vocabulary: tuple[str, ...] | list[str]) -> str:
    value = obj.get(name)
    if value is None:
        return "other"
    if not isinstance(value, str):
        raise Rejected("invalid_field")
    return value if value in vocabulary else "other"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode(
    topic: str,
    value: bytes | None,
    *,
    wall_ms: int,
    regions: tuple[str, ...] | list[str],
    max_future_skew_s: float = 300,
) -> Event:
    """Decode one message value; raise Rejected(reason) when it must be rejected."""
    # 1. size
    if value is not None and len(value) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large")
    # 2. UTF-8 JSON object
    if value is None:
        raise Rejected("invalid_json")
    try:
        text = value.decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejected("invalid_json") from exc
    if not isinstance(obj, dict):
        raise Rejected("invalid_json")
    # 3. event_id
    event_id = obj.get("event_id")
    if event_id is None:
        raise Rejected("missing_field")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 128:
        raise Rejected("invalid_field")
    # 4. type
    etype = obj.get("type")
    if etype is None:
        raise Rejected("missing_field")
    if not isinstance(etype, str):
        raise Rejected("invalid_field")
    if etype not in ALL_TYPES:
        raise Rejected("unknown_type")
    # 5. ts
    if obj.get("ts") is None:
        raise Rejected("missing_field")
    ts_ms = parse_ts(obj["ts"])
    if ts_ms is None:
        raise Rejected("invalid_timestamp")
    # 6. future skew
    if ts_ms - wall_ms > max_future_skew_s * 1000:
        raise Rejected("future_timestamp")
    # 7. entity id
    if etype.startswith("ticket."):
        id_field = "ticket_id"
    elif etype == "shipment.delivered":
        id_field = "order_id"
    else:
        id_field = "return_id"
    entity_id = obj.get(id_field)
    if entity_id is None:
        raise Rejected("missing_field")
    if not isinstance(entity_id, str) or entity_id == "":
        raise Rejected("invalid_field")
    # 8. type-specific fields
    f: dict[str, Any] = {}
    if etype == "ticket.created":
        f["channel"] = _categorical(obj, "channel", CHANNELS)
        f["category"] = _categorical(obj, "category", CATEGORIES)
        if obj.get("priority") is None:
            f["priority"] = "P3"
        else:
            f["priority"] = _categorical(obj, "priority", PRIORITIES)
        f["region"] = _categorical(obj, "region", regions)
    elif etype == "ticket.replied":
        by = obj.get("by")
        if by is None:
            by = "agent"
        if not isinstance(by, str):
            raise Rejected("invalid_field")
        f["by_agent"] = by == "agent"
    elif etype == "ticket.rated":
        csat = obj.get("csat")
        nps = obj.get("nps")
        if csat is None and nps is None:
            raise Rejected("invalid_field")
        if csat is not None and not (_is_int(csat) and 1 <= csat <= 5):
            raise Rejected("invalid_field")
        if nps is not None and not (_is_int(nps) and 0 <= nps <= 10):
            raise Rejected("invalid_field")
        f["csat"] = csat
        f["nps"] = nps
    elif etype == "shipment.delivered":
        f["region"] = _categorical(obj, "region", regions)
        if obj.get("promised_ts") is None:
            f["promised_ms"] = None
        else:
            promised = parse_ts(obj["promised_ts"])
            if promised is None:
                raise Rejected("invalid_timestamp")
            f["promised_ms"] = promised
    elif etype == "return.requested":
        f["region"] = _categorical(obj, "region", regions)
        f["reason"] = _categorical(obj, "reason", RETURN_REASONS)
        f["kind"] = _categorical(obj, "kind", RETURN_KINDS)
    elif etype == "return.inspected":
        passed = obj.get("passed")
        if passed is None:
            raise Rejected("missing_field")
        if not isinstance(passed, bool):
            raise Rejected("invalid_field")
        f["passed"] = passed
    return Event(topic, event_id, etype, ts_ms, entity_id, f)


# --------------------------------------------------------------------------------------
# Quantiles (numpy default / R type 7), by hand
# --------------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics: h = (n-1)q."""
    if not values:
        raise ValueError("quantile of no values")
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


# --------------------------------------------------------------------------------------
# The computation
# --------------------------------------------------------------------------------------


def _inc(d: dict[Any, Any], key: Any, by: float = 1) -> None:
    d[key] = d.get(key, 0) + by


def compute(
    messages: list[tuple[str, bytes | None, bytes | None]],
    *,
    clock_ms: int | None = None,
    wall_ms: int,
    regions: tuple[str, ...] | list[str] = DEFAULT_REGIONS,
    windows: dict[str, float] | None = None,
    max_future_skew_s: float = 300,
    first_response_sla: dict[str, float] | None = None,
    resolution_sla: dict[str, float] | None = None,
    state_horizon_s: float | None = STATE_HORIZON_S,
    response_sla: dict[str, float] | None = None,
    business_hours: dict[str, Any] | None = None,
    today_window: bool = True,
    scores: list[dict[str, Any]] | None = None,
) -> Expected:
    """Everything SPEC §3 and §7 say the service reports after consuming ``messages`` in order.

    ``clock_ms`` defaults to the watermark (largest accepted ts): a replay. The §7 keywords
    are the config keys of SPEC §7 as dicts (``sla.response_s``, ``business_hours``,
    ``today_window``, ``scores``); ``section7.kwargs_from_config`` maps a whole config.
    """
    windows = dict(DEFAULT_WINDOWS if windows is None else windows)
    fr_sla = dict(FIRST_RESPONSE_SLA)
    fr_sla.update(first_response_sla or {})
    if first_response_sla and "other" not in first_response_sla:
        fr_sla["other"] = fr_sla["email"]
    res_sla = dict(RESOLUTION_SLA)
    res_sla.update(resolution_sla or {})
    if resolution_sla and "other" not in resolution_sla:
        res_sla["other"] = res_sla["P3"]
    region_labels = [*regions, "other"]
    s7 = section7.Settings.build(fr_sla, response_sla, business_hours, today_window, scores)
    turns = section7.Turns()
    largest_window_ms = max(windows.values()) * 1000
    horizon_ms = None if state_horizon_s is None else state_horizon_s * 1000

    out = Expected()
    section7.empty(out)
    assert out.rejected is not None
    assert out.late is not None
    assert out.orphans is not None
    assert out.produced is not None

    # ---- pass 1: validate, dedupe, watermark, late -----------------------------------
    accepted: list[tuple[Event, int]] = []  # (event, running clock when processed)
    seen: dict[str, int] = {}  # event_id -> running clock when it was accepted
    watermark: int | None = None
    for topic, _key, value in messages:
        _inc(out.produced, topic)
        try:
            ev = decode(
                topic, value, wall_ms=wall_ms, regions=regions, max_future_skew_s=max_future_skew_s
            )
        except Rejected as r:
            _inc(out.rejected, (topic, r.reason))
            _inc(out.rejected_by_topic, topic)
            continue
        running = watermark if watermark is not None else ev.ts_ms
        # a duplicate: its id was accepted within the state horizon (SPEC §1), or the
        # event is itself older than the horizon, where an original would be forgotten
        # (docs/semantics.md); without a horizon, ids are remembered forever
        if horizon_ms is not None and ev.ts_ms <= running - horizon_ms:
            _inc(out.duplicates, topic)
            continue
        if ev.event_id in seen and (
            horizon_ms is None or seen[ev.event_id] > running - horizon_ms
        ):
            _inc(out.duplicates, topic)
            continue
        watermark = ev.ts_ms if watermark is None else max(watermark, ev.ts_ms)
        seen[ev.event_id] = watermark
        _inc(out.events_total, (topic, ev.type))
        if ev.ts_ms <= watermark - largest_window_ms:
            _inc(out.late, topic)
        accepted.append((ev, watermark))

    out.watermark_ms = watermark
    if clock_ms is None:
        clock_ms = watermark if watermark is not None else wall_ms
    out.clock_ms = clock_ms

    # ---- pass 2: ticket / return state and dated facts --------------------------------
    tickets: dict[str, dict[str, Any]] = {}
    returns: dict[str, dict[str, Any]] = {}
    # facts: (ts_ms, what, label) -- counted in windows by their own ts
    facts: list[tuple[int, str, str]] = []
    # (reply ts, channel, seconds, seconds waited for the SLA: business time, §7)
    first_responses: list[tuple[int, str, float, float]] = []
    hist_values: dict[tuple[str, str], list[float]] = {}

    def forgotten(created_ms: int, now_ms: int) -> bool:
        return horizon_ms is not None and now_ms - created_ms > horizon_ms

    def orphan(ev: Event) -> None:
        _inc(out.orphans, (ev.topic, ev.type))
        out.orphans_total += 1

    for ev, running in accepted:
        t = ev.type
        if t == "ticket.created":
            facts.append((ev.ts_ms, "created", ev.fields["channel"]))
            known = tickets.get(ev.entity_id)
            if known is None or forgotten(known["created_ms"], running):
                tickets[ev.entity_id] = {
                    "created_ms": ev.ts_ms,
                    "channel": ev.fields["channel"],
                    "category": ev.fields["category"],
                    "priority": ev.fields["priority"],
                    "region": ev.fields["region"],
                    "open": True,
                    "agent_replied": False,
                    "transferred": False,
                    "escalated": False,
                    "reopened": False,
                }
                turns.created(tickets[ev.entity_id], ev.ts_ms)
            continue
        if t.startswith("ticket."):
            tk = tickets.get(ev.entity_id)
            if tk is None or forgotten(tk["created_ms"], running):
                orphan(ev)
                continue
            turns.event(tk, t, ev.ts_ms, bool(ev.fields.get("by_agent")))
            if t == "ticket.replied":
                if ev.fields["by_agent"] and not tk["agent_replied"]:
                    tk["agent_replied"] = True
                    secs = (ev.ts_ms - tk["created_ms"]) / 1000
                    waited = s7.waited_s(tk["channel"], tk["created_ms"], ev.ts_ms)
                    first_responses.append((ev.ts_ms, tk["channel"], secs, waited))
                    hist_values.setdefault((FIRST_RESPONSE_HIST, tk["channel"]), []).append(secs)
            elif t == "ticket.transferred":
                tk["transferred"] = True
                facts.append((ev.ts_ms, "transfer", ""))
            elif t == "ticket.escalated":
                tk["escalated"] = True
                facts.append((ev.ts_ms, "escalation", ""))
            elif t == "ticket.reopened":
                tk["reopened"] = True
                tk["open"] = True
                facts.append((ev.ts_ms, "reopen", ""))
            elif t == "ticket.resolved":
                tk["open"] = False
                secs = (ev.ts_ms - tk["created_ms"]) / 1000
                prio = tk["priority"]
                hist_values.setdefault((RESOLUTION_HIST, prio), []).append(secs)
                facts.append((ev.ts_ms, "resolution", prio))
                if s7.waited_s(tk["channel"], tk["created_ms"], ev.ts_ms) <= res_sla[prio]:
                    facts.append((ev.ts_ms, "resolution_within_sla", prio))
                if not (tk["transferred"] or tk["escalated"] or tk["reopened"]):
                    facts.append((ev.ts_ms, "first_contact", ""))
                if not tk["agent_replied"]:
                    facts.append((ev.ts_ms, "by_bot", ""))
            elif t == "ticket.rated":
                csat, nps = ev.fields["csat"], ev.fields["nps"]
                if csat is not None:
                    facts.append((ev.ts_ms, "csat", ""))
                    if csat >= 4:
                        facts.append((ev.ts_ms, "csat_satisfied", ""))
                if nps is not None:
                    facts.append((ev.ts_ms, "nps", ""))
                    if nps >= 9:
                        facts.append((ev.ts_ms, "nps_promoter", ""))
                    if nps <= 6:
                        facts.append((ev.ts_ms, "nps_detractor", ""))
            continue
        if t == "shipment.delivered":
            region = ev.fields["region"]
            facts.append((ev.ts_ms, "delivered", region))
            promised = ev.fields["promised_ms"]
            if promised is not None and ev.ts_ms > promised:
                facts.append((ev.ts_ms, "delivered_late", region))
            continue
        if t == "return.requested":
            facts.append((ev.ts_ms, "return_requested", ev.fields["region"]))
            facts.append((ev.ts_ms, "return_reason", ev.fields["reason"]))
            known = returns.get(ev.entity_id)
            if known is None or forgotten(known["requested_ms"], running):
                returns[ev.entity_id] = {
                    "requested_ms": ev.ts_ms,
                    "region": ev.fields["region"],
                    "open": True,
                }
            continue
        # return.received / inspected / refunded / exchanged / cancelled
        rt = returns.get(ev.entity_id)
        if rt is None or forgotten(rt["requested_ms"], running):
            orphan(ev)
            continue
        if t in ("return.refunded", "return.exchanged", "return.cancelled") and rt["open"]:
            rt["open"] = False
            if t != "return.cancelled":
                secs = (ev.ts_ms - rt["requested_ms"]) / 1000
                hist_values.setdefault((RETURN_PROCESSING_HIST, rt["region"]), []).append(secs)

    # ---- histograms --------------------------------------------------------------------
    for key, values in hist_values.items():
        out.histograms[key] = Hist(count=len(values), sum=math.fsum(values), values=sorted(values))

    # ---- state gauges at the clock -----------------------------------------------------
    g: dict[GaugeKey, float] = {}
    unanswered_created: dict[str, list[int]] = {}
    for tk in tickets.values():
        if forgotten(tk["created_ms"], clock_ms) or not tk["open"]:
            continue
        _inc(
            g,
            gauge_key(
                "aftersales_backlog_tickets",
                priority=tk["priority"],
                category=tk["category"],
                region=tk["region"],
            ),
        )
        waited_s = s7.waited_s(tk["channel"], tk["created_ms"], clock_ms)
        if waited_s > res_sla[tk["priority"]]:
            _inc(g, gauge_key("aftersales_resolution_overdue_tickets", priority=tk["priority"]))
        if not tk["agent_replied"]:
            ch = tk["channel"]
            _inc(g, gauge_key("aftersales_unanswered_tickets", channel=ch))
            unanswered_created.setdefault(ch, []).append(tk["created_ms"])
            if waited_s > fr_sla[ch]:
                _inc(g, gauge_key("aftersales_first_response_overdue_tickets", channel=ch))
    for ch, created in unanswered_created.items():
        age = (clock_ms - min(created)) / 1000
        if age != 0:
            g[gauge_key("aftersales_oldest_unanswered_age_seconds", channel=ch)] = age
    for rt in returns.values():
        if forgotten(rt["requested_ms"], clock_ms) or not rt["open"]:
            continue
        _inc(g, gauge_key("aftersales_returns_open", region=rt["region"]))

    # ---- window gauges at the clock ----------------------------------------------------
    simple = {
        "created": ("aftersales_window_tickets_created", "channel"),
        "resolution": ("aftersales_window_resolutions", "priority"),
        "resolution_within_sla": ("aftersales_window_resolutions_within_sla", "priority"),
        "first_contact": ("aftersales_window_resolutions_first_contact", None),
        "by_bot": ("aftersales_window_resolutions_by_bot", None),
        "escalation": ("aftersales_window_escalations", None),
        "transfer": ("aftersales_window_transfers", None),
        "reopen": ("aftersales_window_reopens", None),
        "csat": ("aftersales_window_csat_ratings", None),
        "csat_satisfied": ("aftersales_window_csat_satisfied", None),
        "nps": ("aftersales_window_nps_ratings", None),
        "nps_promoter": ("aftersales_window_nps_promoters", None),
        "nps_detractor": ("aftersales_window_nps_detractors", None),
        "delivered": ("aftersales_window_orders_delivered", "region"),
        "delivered_late": ("aftersales_window_deliveries_late", "region"),
        "return_requested": ("aftersales_window_returns_requested", "region"),
        "return_reason": ("aftersales_window_returns_by_reason", "reason"),
    }
    wfr: dict[tuple[str, str], list[float]] = {}

    def in_window(ts_ms: int, seconds: float) -> bool:
        return clock_ms - seconds * 1000 < ts_ms <= clock_ms

    # sliding windows into the §3 fields; `today` (§7) into the §7 fields
    assert out.gauges7 is not None
    wfr_today: dict[tuple[str, str], list[float]] = {}
    targets: list[tuple[str, section7.Member, dict[GaugeKey, float], dict[Any, list[float]]]]
    targets = [(w, section7.sliding_member(clock_ms, sec), g, wfr) for w, sec in windows.items()]
    if s7.today_window:
        targets.append(
            (section7.TODAY, section7.today_member(clock_ms, s7.bh), out.gauges7, wfr_today)
        )
    for wname, member, gw, wvals in targets:
        for ts_ms, what, label in facts:
            if not member(ts_ms):
                continue
            metric, label_name = simple[what]
            if label_name is None:
                _inc(gw, gauge_key(metric, window=wname))
            else:
                _inc(gw, gauge_key(metric, window=wname, **{label_name: label}))
        for ts_ms, ch, secs, waited in first_responses:
            if not member(ts_ms):
                continue
            _inc(gw, gauge_key("aftersales_window_first_responses", window=wname, channel=ch))
            if waited <= fr_sla[ch]:
                _inc(
                    gw,
                    gauge_key(
                        "aftersales_window_first_responses_within_sla", window=wname, channel=ch
                    ),
                )
            wvals.setdefault((wname, ch), []).append(secs)
        # return rates: defined where something was delivered
        delivered_all = 0.0
        requested_all = 0.0
        for region in region_labels:
            delivered = gw.get(
                gauge_key("aftersales_window_orders_delivered", window=wname, region=region), 0
            )
            requested = gw.get(
                gauge_key("aftersales_window_returns_requested", window=wname, region=region), 0
            )
            delivered_all += delivered
            requested_all += requested
            if delivered > 0:
                gw[gauge_key(RETURN_RATE, window=wname, region=region)] = requested / delivered
        if delivered_all > 0:
            gw[gauge_key(RETURN_RATE, window=wname, region="all")] = requested_all / delivered_all

    # peak ratio: tickets created per minute over 15m / per minute over 24h
    w15 = windows.get("15m", 900)
    w24 = windows.get("24h", 86400)
    created15 = sum(1 for ts, what, _ in facts if what == "created" and in_window(ts, w15))
    created24 = sum(1 for ts, what, _ in facts if what == "created" and in_window(ts, w24))
    peak = 0.0 if created24 == 0 else (created15 / (w15 / 60)) / (created24 / (w24 / 60))
    if peak != 0:
        g[gauge_key("aftersales_window_peak_ratio")] = peak

    out.gauges = g
    out.window_first_response_values = {k: sorted(v) for k, v in wfr.items()}
    out.quantiles = quantiles_from_values(out.window_first_response_values)

    # ---- §7: turns, awaiting reply, business hours, scores (section7.py) ----------------
    assert out.window_values7 is not None
    for (wname, ch), xs in wfr_today.items():
        out.window_values7[(section7.FIRST_RESPONSE_QUANTILE_METRIC, wname, ch)] = xs
    section7.fill(
        out,
        turns=turns,
        tickets=tickets,
        forgotten=forgotten,
        clock_ms=clock_ms,
        members=[(w, m) for w, m, _g, _v in targets],
        settings=s7,
    )
    return out


def quantiles_from_values(
    values: dict[tuple[str, str], list[float]],
) -> dict[tuple[str, str, str], float]:
    result = {}
    for (window, channel), xs in values.items():
        if xs:
            for q in QUANTILES:
                result[(window, channel, q)] = quantile(xs, float(q))
    return result


# --------------------------------------------------------------------------------------
# Conformance files
# --------------------------------------------------------------------------------------


def load_conformance(path: str | Path) -> list[tuple[str, str | None, bytes]]:
    """messages.jsonl -> [(topic, key, value bytes)] in file order."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "value_b64" in rec:
                value = base64.b64decode(rec["value_b64"])
            else:
                value = rec["value"].encode("utf-8")
            out.append((rec["topic"], rec.get("key"), value))
    return out


_HIST_TITLE = re.compile(r"^(\w+)")


def expected_from_conformance(expected_json: dict[str, Any] | str | Path) -> Expected:
    """Normalise expected.json (a dict, or a path to it) into an Expected.

    expected.json only gives rejected per topic and the total of orphans, and no late
    counts: those detailed fields are None (not compared).
    """
    if not isinstance(expected_json, dict):
        expected_json = json.loads(Path(expected_json).read_text(encoding="utf-8"))
    e = expected_json
    out = Expected(rejected=None, late=None, orphans=None)
    out.produced = dict(e["produced"])
    out.rejected_by_topic = dict(e["rejected"])
    out.duplicates = dict(e["duplicates"])
    orphans = e["orphans"]
    if isinstance(orphans, dict):
        out.orphans_total = sum(orphans.values())
    else:
        out.orphans_total = int(orphans)
    out.events_total = {(r["topic"], r["type"]): int(r["count"]) for r in e["accepted_by_type"]}
    for gauge in e["gauges"]:
        out.gauges[gauge_key(gauge["metric"], **gauge["labels"])] = float(gauge["value"])
    out.window_first_response_values = {
        (r["window"], r["channel"]): sorted(r["first_response_seconds_sorted"])
        for r in e["window_first_response_values"]
        if r["first_response_seconds_sorted"]
    }
    out.quantiles = quantiles_from_values(out.window_first_response_values)
    for title, by_label in e["histogram_observations"].items():
        m = _HIST_TITLE.match(title)
        assert m is not None, title
        metric = m.group(1)
        for label_value, h in by_label.items():
            values = sorted(h["values"])
            out.histograms[(metric, label_value)] = Hist(
                count=int(h["count"]), sum=float(h["sum"]), values=values
            )
    out.clock_ms = round(float(e["clock_seconds"]) * 1000)
    return out


# --------------------------------------------------------------------------------------
# Prometheus exposition
# --------------------------------------------------------------------------------------


def from_exposition(text: str) -> Expected:
    """Parse a /metrics page into an Expected (counters, histograms, gauges, quantiles).

    Quantile samples that are NaN are treated as absent. Window first-response value lists
    are not available from an exposition (None).
    """
    from prometheus_client.parser import text_string_to_metric_families

    out = Expected(window_first_response_values=None)
    assert out.rejected is not None
    assert out.late is not None
    assert out.orphans is not None
    hist_parts: dict[tuple[str, str], dict[str, Any]] = {}
    section7.empty(out)
    hist_parts7: dict[tuple[str, str], dict[str, Any]] = {}
    seen7 = False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, s.value
            if section7.read_sample(out, name, labels, value, hist_parts7):
                seen7 = True
            elif name == "aftersales_events_total":
                _inc(out.events_total, (labels["topic"], labels["type"]), int(value))
            elif name == "aftersales_events_rejected_total":
                _inc(out.rejected, (labels["topic"], labels["reason"]), int(value))
                _inc(out.rejected_by_topic, labels["topic"], int(value))
            elif name == "aftersales_events_duplicate_total":
                _inc(out.duplicates, labels["topic"], int(value))
            elif name == "aftersales_events_late_total":
                _inc(out.late, labels["topic"], int(value))
            elif name == "aftersales_events_orphan_total":
                _inc(out.orphans, (labels["topic"], labels["type"]), int(value))
                out.orphans_total += int(value)
            elif name == WINDOW_QUANTILE_METRIC:
                if not math.isnan(value):
                    out.quantiles[(labels["window"], labels["channel"], labels["quantile"])] = value
            elif name in GAUGE_NAMES:
                out.gauges[gauge_key(name, **labels)] = value
            elif name == "aftersales_clock_timestamp_seconds":
                out.clock_ms = round(value * 1000)
            elif name == "aftersales_watermark_timestamp_seconds":
                out.watermark_ms = round(value * 1000)
            else:
                for metric, label_name in HISTOGRAM_LABEL.items():
                    if not name.startswith(metric) or label_name not in labels:
                        continue
                    part = hist_parts.setdefault((metric, labels[label_name]), {"buckets": {}})
                    if name == metric + "_bucket":
                        part["buckets"][float(labels["le"])] = int(value)
                    elif name == metric + "_count":
                        part["count"] = int(value)
                    elif name == metric + "_sum":
                        part["sum"] = value
    for key, part in hist_parts.items():
        out.histograms[key] = Hist(
            count=part.get("count", 0), sum=part.get("sum", 0.0), buckets=part["buckets"] or None
        )
    # produced = accepted + rejected + duplicate
    produced: dict[str, int] = {}
    for (topic, _type), n in out.events_total.items():
        _inc(produced, topic, n)
    for topic, n in out.rejected_by_topic.items():
        _inc(produced, topic, n)
    for topic, n in out.duplicates.items():
        _inc(produced, topic, n)
    out.produced = produced
    # drop zero gauges (missing == 0), but keep every return rate as given
    out.gauges = {k: v for k, v in out.gauges.items() if k[0] == RETURN_RATE or v != 0}
    section7.finish_exposition(out, hist_parts7, seen7)
    return out


def buckets_from_values(values: list[float], bounds: list[float]) -> dict[float, int]:
    """Cumulative bucket counts (Prometheus `le`: value <= bound)."""
    return {b: sum(1 for v in values if v <= b) for b in bounds}


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def _close(x: float, y: float, rel_tol: float, abs_tol: float = 1e-9) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)


def _diff_counts(
    what: str, a: dict[Any, Any] | None, b: dict[Any, Any] | None, problems: list[str]
) -> None:
    if a is None or b is None:
        return
    for key in sorted(set(a) | set(b), key=repr):
        if a.get(key, 0) != b.get(key, 0):
            problems.append(f"{what}{key!r}: {a.get(key, 0)} != {b.get(key, 0)}")


def diff(
    a: Expected,
    b: Expected,
    rel_tol: float = 1e-9,
    quantile_rel_tol: float = 0.02,
    bounds: list[float] | None = None,
) -> list[str]:
    """Every mismatch between a and b, as readable lines ([] when they agree).

    Missing counters and gauge series count as 0, except return rates, which must be
    absent/present identically. Fields that are None on either side are not compared.
    Histograms: count and sum per label; cumulative buckets where one side has buckets and
    the other observations (or both have buckets); observations where both have them.
    ``bounds``: bucket bounds to compare when both sides only have observations.
    """
    p: list[str] = []
    if a.clock_ms is not None and b.clock_ms is not None and a.clock_ms != b.clock_ms:
        p.append(f"clock_ms: {a.clock_ms} != {b.clock_ms}")
    _diff_counts("produced", a.produced, b.produced, p)
    _diff_counts("events_total", a.events_total, b.events_total, p)
    _diff_counts("rejected", a.rejected, b.rejected, p)
    _diff_counts("rejected_by_topic", a.rejected_by_topic, b.rejected_by_topic, p)
    _diff_counts("duplicates", a.duplicates, b.duplicates, p)
    _diff_counts("late", a.late, b.late, p)
    _diff_counts("orphans", a.orphans, b.orphans, p)
    if a.orphans_total != b.orphans_total:
        p.append(f"orphans_total: {a.orphans_total} != {b.orphans_total}")

    # histograms
    empty = Hist(count=0, sum=0.0, values=[])
    for key in sorted(set(a.histograms) | set(b.histograms)):
        ha, hb = a.histograms.get(key, empty), b.histograms.get(key, empty)
        if ha.count != hb.count:
            p.append(f"histogram {key} count: {ha.count} != {hb.count}")
        if not _close(ha.sum, hb.sum, rel_tol, abs_tol=1e-6):
            p.append(f"histogram {key} sum: {ha.sum!r} != {hb.sum!r}")
        if ha.values is not None and hb.values is not None:
            va, vb = sorted(ha.values), sorted(hb.values)
            if len(va) != len(vb) or not all(
                _close(x, y, rel_tol, 1e-9) for x, y in zip(va, vb, strict=True)
            ):
                p.append(f"histogram {key} observations differ: {va} != {vb}")
        ba, bb = ha.buckets, hb.buckets
        if ba is None and bb is None and bounds is not None:
            ba = buckets_from_values(ha.values or [], bounds)
            bb = buckets_from_values(hb.values or [], bounds)
        elif ba is None and bb is not None and ha.values is not None:
            ba = buckets_from_values(ha.values, list(bb))
        elif bb is None and ba is not None and hb.values is not None:
            bb = buckets_from_values(hb.values, list(ba))
        if ba is not None and bb is not None:
            for le in sorted(set(ba) | set(bb)):
                if le in ba and le in bb and ba[le] != bb[le]:
                    p.append(f"histogram {key} bucket le={le}: {ba[le]} != {bb[le]}")

    # gauges
    for key in sorted(set(a.gauges) | set(b.gauges)):
        metric = key[0]
        if metric == RETURN_RATE and (key in a.gauges) != (key in b.gauges):
            where = "a" if key in a.gauges else "b"
            p.append(
                f"gauge {key}: present only in {where} ({a.gauges.get(key, b.gauges.get(key))})"
            )
            continue
        va, vb = a.gauges.get(key, 0.0), b.gauges.get(key, 0.0)
        if not _close(va, vb, rel_tol):
            p.append(f"gauge {key}: {va!r} != {vb!r}")

    # window first-response values and quantiles
    wa, wb = a.window_first_response_values, b.window_first_response_values
    if wa is not None and wb is not None:
        for key in sorted(set(wa) | set(wb)):
            xa, xb = sorted(wa.get(key, [])), sorted(wb.get(key, []))
            if len(xa) != len(xb) or not all(
                _close(x, y, rel_tol, 1e-9) for x, y in zip(xa, xb, strict=True)
            ):
                p.append(f"window first-response values {key}: {xa} != {xb}")
    for key in sorted(set(a.quantiles) | set(b.quantiles)):
        if key not in a.quantiles or key not in b.quantiles:
            p.append(f"quantile {key}: present only in {'a' if key in a.quantiles else 'b'}")
            continue
        if not _close(a.quantiles[key], b.quantiles[key], quantile_rel_tol, 1e-6):
            p.append(f"quantile {key}: {a.quantiles[key]!r} != {b.quantiles[key]!r}")
    p.extend(section7.diff7(a, b, rel_tol, quantile_rel_tol))
    return p


# the §7 module reads the names above: imported last, on purpose
from . import section7  # noqa: E402
