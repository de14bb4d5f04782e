"""SPEC §7 in the oracle: conversation turns, response SLA, business hours, ``today``, scores.

Plain code over full lists, like the rest of the oracle: every turn of the log is kept in a
list with its start, its answer or its closing, and every series is counted from that list
at the clock. Business time comes from ``bizhours`` (its own calendar, never the engine's).

Interpretations -- where the words of §7 (and §2/§3) allow more than one reading, this is
the reading the oracle takes:

Events and turns
 1. ``ticket.message`` is a ticket event like the others: same validation order, rejected
    for a missing/invalid ``ticket_id`` etc., no type-specific field (anything else in it is
    ignored), counted in ``events_total{topic,type="ticket.message"}``, an orphan (counted,
    no effect) when its ticket is unknown or forgotten (beyond the state horizon).
 2. Turns follow the log order of the ticket's events (one key, one partition), not their
    ``ts`` order. A reply whose ``ts`` is before the turn's start still answers it; the
    response time is then negative, not clamped (as first responses in docs/semantics.md),
    and it is within every limit. An event logged before its ticket's creation (a reply,
    a message) is an orphan; the creation then opens the first turn as usual, and that turn
    waits for the next agent reply.
 3. Only the ticket's first ``ticket.created`` opens a turn; a repeated ``ticket.created``
    of a known ticket changes no state (docs/semantics.md) and opens nothing. A ticket
    created again after it was forgotten starts afresh with a new first turn.
 4. "Open" for ``ticket.message`` is the §3 state at that moment: a reopened ticket is open,
    so a message after a reopen opens a new turn; a message before the reopen opened
    nothing. Invariant: a turn is only open on an open ticket (a resolve closes it).
 5. A resolve closes the open turn without a response (no histogram observation, no window
    response); a resolve of an already resolved ticket closes nothing.
 6. An agent reply with no open turn (after an answered turn, after a resolve) answers
    nothing. §3's first response stays "the first agent reply ever": a ticket resolved by a
    bot, reopened and then answered by an agent has a first response but no §7 response,
    so ``aftersales_response_seconds`` equals the first-response histogram plus later
    responses only when no ticket was resolved before its first agent reply.
 7. A turn belongs to the ticket's channel (the creation's, ``other`` for unknown values).

SLA and business time
 8. ``sla.response_s`` per channel; a channel not named takes that channel's first-response
    SLA (after the configured ``sla.first_response_s``); ``other`` takes email's.
 9. Within SLA = business time waited <= SLA ("≤", as §3). Overdue = business time waited
    > SLA, waited from the turn's start (response), the creation (first response,
    resolution) to the clock. Without a calendar business time is wall time, so nothing
    changes without the config.
10. A channel without its own calendar entry has none (24x7), except ``other``, which
    follows email's calendar as it takes email's SLA (unless ``channels`` names ``other``).
11. Calendar days are local dates; a span's start is inclusive, its end exclusive; "24:00"
    is allowed as an end; a span ending at or before its start runs past midnight into the
    next day (opened on the day it starts). Overlapping spans are merged (never counted
    twice). Every key optional: ``days`` missing = all seven, ``hours`` missing = all day,
    ``holidays`` missing = none, timezone missing = Asia/Shanghai.
12. ``holidays: cn``: a date is closed if in ``extra_holidays``; else open if in
    ``extra_workdays``; else closed if python-holidays lists it for China; else open if it
    is a makeup workday (derived from the library's "substituted from" labels, see
    bizhours); else by ``days``. ``extra_*`` apply only to ``cn`` calendars.
13. ``aftersales_business_hours_open{channel}`` for chat, phone, email, app and other;
    1 without a calendar; "open at the clock" is lo <= clock < hi.

Windows
14. ``today`` = local midnight (of the clock's local date) <= ts <= clock, in the
    business-hours timezone (Asia/Shanghai without config). It carries every window gauge
    with a ``window`` label: all of §3's (return rate included, absent where nothing was
    delivered; first-response quantiles too) and all of §7's; not the peak ratio (no window
    label). ``today_window: false``: no ``today`` series.
15. ``turns`` count at the turn's start, ``responses`` / ``_within_sla`` and the response
    quantiles at the answering reply's ts (even when the turn started before the window).

Scores
16. A score covers a turn when the ticket's channel is in ``channels`` (missing = all) and
    the local time of day of the turn's START is in ``hours`` (start inclusive, end
    exclusive; a range ending before it starts wraps midnight; missing = all day).
17. Deadline D: ``clock: wall`` -> start + within_s; ``clock: business`` -> the last instant
    at which business time waited (channel's calendar; wall for a channel without one) is
    still <= within_s. When the limit is used up exactly at a closing time, D is the next
    opening (waited is still exactly the limit while closed).
18. Within: the answering agent reply has ts <= D ("≤": a reply exactly at the limit is
    within); decided at the reply's ts.
19. Missed: not answered by D (answered later, or still open) -> decided at D, counted
    once D <= clock (a decision exactly at the clock counts, like ts <= clock of the
    windows) -- with no event needed.
20. Closed by a resolve at ts C: counted missed iff D < C (the limit ran out first); if
    C <= D it is not counted at all (closed before it was decided; a resolve exactly at D
    comes before the limit has run out, as a reply exactly at D is within).
21. Decisions are by event time only (reply ts, resolve ts, D, clock), never by arrival
    order, so the counters are a function of the log (§2) whatever the interleaving of
    partitions: an engine that decided "missed" on its running clock and then reads an
    answering reply with ts <= D (a late event of that ticket) is expected to count it
    within, as the oracle does.
22. A business deadline that never comes (a calendar that never opens again) never
    decides missed; such a turn counts only if answered (within).
23. Score counters count every decision in the log (like histograms); the window gauges
    count decisions whose decision ts is in the window.
24. Awaiting reply and its gauges leave out forgotten tickets (like the backlog);
    oldest awaiting age = clock - earliest open turn start, wall time, listed only when
    non-zero (0 when none). A turn of a ticket forgotten while still open is still decided
    by its deadline (a score's limit is far below the horizon); later events of that ticket
    are orphans and answer nothing.
25. Score ``hours`` are read in the business-hours timezone (Asia/Shanghai by default),
    as the ``today`` window; a score's ``channels`` match channel labels, ``other``
    included. ``title`` and ``target`` are not needed for any series.
26. Note for operators: a wait across 国庆 spans 8 wall days, beyond the default 7-day
    state horizon; the oracle forgets such a ticket like any other (the reply is an
    orphan), so a business-hours deployment needs ``state_horizon`` above its longest
    closure + SLA.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import CHANNELS, Expected, GaugeKey, Hist, _close, _inc, gauge_key, quantile
from .bizhours import BusinessHours, parse_span

RESPONSE_HIST = "aftersales_response_seconds"
RESPONSE_QUANTILE_METRIC = "aftersales_window_response_seconds"
FIRST_RESPONSE_QUANTILE_METRIC = "aftersales_window_first_response_seconds"
SCORE_TURNS = "aftersales_score_turns_total"
SCORE_WITHIN = "aftersales_score_turns_within_total"
STATE_GAUGES7 = (
    "aftersales_awaiting_reply_tickets",
    "aftersales_response_overdue_tickets",
    "aftersales_oldest_awaiting_reply_age_seconds",
    "aftersales_business_hours_open",
)
WINDOW_GAUGES7 = (
    "aftersales_window_turns",
    "aftersales_window_responses",
    "aftersales_window_responses_within_sla",
    "aftersales_window_score_turns",
    "aftersales_window_score_turns_within",
)
TODAY = "today"
CHANNEL_LABELS = (*CHANNELS, "other")
QUANTILES = ("0.5", "0.9", "0.99")

Member = Callable[[int], bool]


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    name: str
    channels: frozenset[str] | None  # None: every channel
    hours: tuple[int, int] | None  # ms of the local day, end exclusive; None: all day
    within_ms: int
    clock: str  # wall | business
    target: float | None

    def covers(self, channel: str, start_ms: int, bh: BusinessHours) -> bool:
        if self.channels is not None and channel not in self.channels:
            return False
        if self.hours is None:
            return True
        tod = bh.time_of_day_ms(start_ms)
        lo, hi = self.hours
        if hi <= 86_400_000:
            return lo <= tod < hi
        return tod >= lo or tod < hi - 86_400_000  # wraps midnight

    def deadline_ms(self, channel: str, start_ms: int, bh: BusinessHours) -> int | None:
        if self.clock == "business":
            return bh.deadline_ms(channel, start_ms, self.within_ms)
        return start_ms + self.within_ms


def scores_from_config(rules: list[dict[str, Any]] | None) -> list[Score]:
    out = []
    for r in rules or []:
        hours = r.get("hours")
        span = None
        if hours is not None:
            s, e = parse_span(str(hours))
            span = (s * 60_000, e * 60_000)
        clock = str(r.get("clock") or "wall")
        if clock not in ("wall", "business"):
            raise ValueError(f"scores.{r['name']}.clock: wall or business, not {clock!r}")
        channels = r.get("channels")
        out.append(
            Score(
                name=str(r["name"]),
                channels=None if channels is None else frozenset(map(str, channels)),
                hours=span,
                within_ms=round(float(r["within_s"]) * 1000),
                clock=clock,
                target=None if r.get("target") is None else float(r["target"]),
            )
        )
    return out


@dataclass(frozen=True)
class Settings:
    bh: BusinessHours
    response_sla: dict[str, float]
    today_window: bool
    scores: tuple[Score, ...]

    @staticmethod
    def build(
        fr_sla: dict[str, float],
        response_sla: dict[str, float] | None,
        business_hours: dict[str, Any] | None,
        today_window: bool,
        scores: list[dict[str, Any]] | None,
    ) -> Settings:
        resp = {ch: fr_sla[ch] for ch in CHANNEL_LABELS}  # other: email's (set by compute)
        if response_sla:
            resp.update(response_sla)
            if "other" not in response_sla:
                resp["other"] = resp["email"]
        return Settings(
            BusinessHours.from_config(business_hours),
            resp,
            today_window,
            tuple(scores_from_config(scores)),
        )

    def waited_s(self, channel: str, a_ms: int, b_ms: int) -> float:
        """Time waited for SLA judgements: business time of the channel, in seconds."""
        return self.bh.business_ms(channel, a_ms, b_ms) / 1000


def kwargs_from_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """``pulse`` YAML config (as a dict) -> the keyword arguments of ``compute``."""
    sla = cfg.get("sla") or {}
    out: dict[str, Any] = {}
    if cfg.get("regions") is not None:
        out["regions"] = tuple(cfg["regions"])
    if cfg.get("windows") is not None:
        out["windows"] = dict(cfg["windows"])
    for key in ("state_horizon_s", "max_future_skew_s"):
        if cfg.get(key) is not None:
            out[key] = cfg[key]
    if sla.get("first_response_s") is not None:
        out["first_response_sla"] = dict(sla["first_response_s"])
    if sla.get("resolution_s") is not None:
        out["resolution_sla"] = dict(sla["resolution_s"])
    if sla.get("response_s") is not None:
        out["response_sla"] = dict(sla["response_s"])
    if cfg.get("business_hours") is not None:
        out["business_hours"] = cfg["business_hours"]
    if cfg.get("today_window") is not None:
        out["today_window"] = bool(cfg["today_window"])
    if cfg.get("scores") is not None:
        out["scores"] = list(cfg["scores"])
    return out


# --------------------------------------------------------------------------------------
# Turns
# --------------------------------------------------------------------------------------


@dataclass
class Turn:
    channel: str
    start_ms: int
    answered_ms: int | None = None
    closed_ms: int | None = None  # closed unanswered by a resolve


class Turns:
    """Every turn of the log, in log order; the ticket dicts point at their open turn."""

    def __init__(self) -> None:
        self.all: list[Turn] = []

    def created(self, tk: dict[str, Any], ts_ms: int) -> None:
        """A new ticket: the creation is the customer's first message."""
        turn = Turn(tk["channel"], ts_ms)
        self.all.append(turn)
        tk["turn"] = turn

    def event(self, tk: dict[str, Any], etype: str, ts_ms: int, by_agent: bool) -> None:
        """A later event of a known ticket, BEFORE §3 updates its open/resolved state."""
        turn: Turn | None = tk.get("turn")
        if etype == "ticket.message":
            if tk["open"] and turn is None:
                new = Turn(tk["channel"], ts_ms)
                self.all.append(new)
                tk["turn"] = new
        elif etype == "ticket.replied":
            if by_agent and turn is not None:
                turn.answered_ms = ts_ms
                tk["turn"] = None
        elif etype == "ticket.resolved" and turn is not None:
            turn.closed_ms = ts_ms
            tk["turn"] = None
        # ticket.reopened opens nothing; transfers, escalations, ratings change no turn


# --------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------


def today_member(clock_ms: int, bh: BusinessHours) -> Member:
    midnight = bh.local_midnight_ms(clock_ms)
    return lambda ts: midnight <= ts <= clock_ms


def sliding_member(clock_ms: int, seconds: float) -> Member:
    return lambda ts: clock_ms - seconds * 1000 < ts <= clock_ms


# --------------------------------------------------------------------------------------
# The §7 series
# --------------------------------------------------------------------------------------


@dataclass
class Decision:
    score: str
    ts_ms: int
    within: bool


def decisions(turns: Turns, settings: Settings, clock_ms: int) -> list[Decision]:
    """Every decided turn of every score (interpretations 16-22)."""
    out = []
    for turn in turns.all:
        for score in settings.scores:
            if not score.covers(turn.channel, turn.start_ms, settings.bh):
                continue
            deadline = score.deadline_ms(turn.channel, turn.start_ms, settings.bh)
            if turn.answered_ms is not None:
                if deadline is None or turn.answered_ms <= deadline:
                    out.append(Decision(score.name, turn.answered_ms, True))
                else:
                    out.append(Decision(score.name, deadline, False))
            elif turn.closed_ms is not None:
                if deadline is not None and deadline < turn.closed_ms:
                    out.append(Decision(score.name, deadline, False))
            elif deadline is not None and deadline <= clock_ms:
                out.append(Decision(score.name, deadline, False))
    return out


def fill(
    out: Expected,
    *,
    turns: Turns,
    tickets: dict[str, dict[str, Any]],
    forgotten: Callable[[int, int], bool],
    clock_ms: int,
    members: list[tuple[str, Member]],
    settings: Settings,
) -> None:
    """Add every §7-only series to ``out`` (gauges7, histograms7, values7, counters7)."""
    assert out.gauges7 is not None
    assert out.histograms7 is not None
    assert out.window_values7 is not None
    assert out.counters7 is not None
    g = out.gauges7
    resp_sla = settings.response_sla

    # responses: (reply ts, channel, wall seconds, within SLA by business time)
    responses = []
    for turn in turns.all:
        if turn.answered_ms is None:
            continue
        secs = (turn.answered_ms - turn.start_ms) / 1000
        waited = settings.waited_s(turn.channel, turn.start_ms, turn.answered_ms)
        responses.append((turn.answered_ms, turn.channel, secs, waited <= resp_sla[turn.channel]))
    by_channel: dict[str, list[float]] = {}
    for _ts, ch, secs, _within in responses:
        by_channel.setdefault(ch, []).append(secs)
    for ch, xs in by_channel.items():
        out.histograms7[(RESPONSE_HIST, ch)] = Hist(
            count=len(xs), sum=math.fsum(xs), values=sorted(xs)
        )

    # awaiting reply, at the clock
    oldest: dict[str, int] = {}
    for tk in tickets.values():
        turn = tk.get("turn")
        if turn is None or not tk["open"] or forgotten(tk["created_ms"], clock_ms):
            continue
        ch = tk["channel"]
        _inc(g, gauge_key("aftersales_awaiting_reply_tickets", channel=ch))
        if settings.waited_s(ch, turn.start_ms, clock_ms) > resp_sla[ch]:
            _inc(g, gauge_key("aftersales_response_overdue_tickets", channel=ch))
        oldest[ch] = min(oldest.get(ch, turn.start_ms), turn.start_ms)
    for ch, start in oldest.items():
        age = (clock_ms - start) / 1000
        if age != 0:
            g[gauge_key("aftersales_oldest_awaiting_reply_age_seconds", channel=ch)] = age
    for ch in CHANNEL_LABELS:
        if settings.bh.is_open(ch, clock_ms):
            g[gauge_key("aftersales_business_hours_open", channel=ch)] = 1.0

    # scores
    decided = decisions(turns, settings, clock_ms)
    for d in decided:
        _inc(out.counters7, gauge_key(SCORE_TURNS, score=d.score))
        if d.within:
            _inc(out.counters7, gauge_key(SCORE_WITHIN, score=d.score))

    # window gauges, every window (sliding and today)
    for wname, member in members:
        for turn in turns.all:
            if member(turn.start_ms):
                _inc(g, gauge_key("aftersales_window_turns", window=wname, channel=turn.channel))
        for ts, ch, secs, within in responses:
            if not member(ts):
                continue
            _inc(g, gauge_key("aftersales_window_responses", window=wname, channel=ch))
            if within:
                _inc(
                    g,
                    gauge_key("aftersales_window_responses_within_sla", window=wname, channel=ch),
                )
            out.window_values7.setdefault((RESPONSE_QUANTILE_METRIC, wname, ch), []).append(secs)
        for d in decided:
            if not member(d.ts_ms):
                continue
            _inc(g, gauge_key("aftersales_window_score_turns", window=wname, score=d.score))
            if d.within:
                key = gauge_key("aftersales_window_score_turns_within", window=wname, score=d.score)
                _inc(g, key)
    finish_values(out)


def finish_values(out: Expected) -> None:
    """Sort the window value lists and derive their quantiles (exact)."""
    assert out.window_values7 is not None
    out.window_values7 = {k: sorted(v) for k, v in out.window_values7.items() if v}
    out.quantiles7 = quantiles7_from_values(out.window_values7)


def quantiles7_from_values(
    values: dict[tuple[str, str, str], list[float]],
) -> dict[tuple[str, str, str, str], float]:
    result = {}
    for (metric, window, channel), xs in values.items():
        if xs:
            for q in QUANTILES:
                result[(metric, window, channel, q)] = quantile(xs, float(q))
    return result


def empty(out: Expected) -> None:
    """Give ``out`` empty §7 fields (compared: "nothing of §7" is a claim)."""
    out.gauges7 = {}
    out.histograms7 = {}
    out.window_values7 = {}
    out.quantiles7 = {}
    out.counters7 = {}


# --------------------------------------------------------------------------------------
# Exposition and comparison
# --------------------------------------------------------------------------------------


def is_section7_sample(name: str, labels: dict[str, str]) -> bool:
    if name == "aftersales_partition_window_events":
        return False  # per source partition: what the window gauges add up from
    if labels.get("window") == TODAY:
        return True
    return name in STATE_GAUGES7 or name in WINDOW_GAUGES7 or name in (
        SCORE_TURNS,
        SCORE_WITHIN,
        RESPONSE_QUANTILE_METRIC,
    ) or name.startswith(RESPONSE_HIST + "_")


def diff7(a: Expected, b: Expected, rel_tol: float, quantile_rel_tol: float) -> list[str]:
    """Mismatches of the §7 fields; none compared where either side does not know them."""
    p: list[str] = []
    if a.counters7 is not None and b.counters7 is not None:
        for key in sorted(set(a.counters7) | set(b.counters7)):
            if a.counters7.get(key, 0) != b.counters7.get(key, 0):
                p.append(f"counter {key}: {a.counters7.get(key, 0)} != {b.counters7.get(key, 0)}")
    if a.gauges7 is not None and b.gauges7 is not None:
        for key in sorted(set(a.gauges7) | set(b.gauges7)):
            if key[0] == "aftersales_window_return_rate" and (key in a.gauges7) != (
                key in b.gauges7
            ):
                p.append(f"gauge {key}: present only in {'a' if key in a.gauges7 else 'b'}")
                continue
            va, vb = a.gauges7.get(key, 0.0), b.gauges7.get(key, 0.0)
            if not _close(va, vb, rel_tol):
                p.append(f"gauge {key}: {va!r} != {vb!r}")
    if a.histograms7 is not None and b.histograms7 is not None:
        none = Hist(count=0, sum=0.0, values=[])
        for key in sorted(set(a.histograms7) | set(b.histograms7)):
            ha, hb = a.histograms7.get(key, none), b.histograms7.get(key, none)
            if ha.count != hb.count:
                p.append(f"histogram {key} count: {ha.count} != {hb.count}")
            if not _close(ha.sum, hb.sum, rel_tol, abs_tol=1e-6):
                p.append(f"histogram {key} sum: {ha.sum!r} != {hb.sum!r}")
            if ha.values is not None and hb.values is not None and not _same(
                ha.values, hb.values, rel_tol
            ):
                p.append(f"histogram {key} observations differ")
            for bounds, values in ((ha.buckets, hb.values), (hb.buckets, ha.values)):
                if bounds is not None and values is not None:
                    for le, n in bounds.items():
                        if sum(1 for v in values if v <= le) != n:
                            p.append(f"histogram {key} bucket le={le} differs")
    va7, vb7 = a.window_values7, b.window_values7
    if va7 is not None and vb7 is not None:
        for key in sorted(set(va7) | set(vb7)):
            if not _same(va7.get(key, []), vb7.get(key, []), rel_tol):
                p.append(f"window values {key} differ")
    if a.quantiles7 is not None and b.quantiles7 is not None:
        for key in sorted(set(a.quantiles7) | set(b.quantiles7)):
            if key not in a.quantiles7 or key not in b.quantiles7:
                p.append(f"quantile {key}: present only in {'a' if key in a.quantiles7 else 'b'}")
            elif not _close(a.quantiles7[key], b.quantiles7[key], quantile_rel_tol, 1e-6):
                p.append(f"quantile {key}: {a.quantiles7[key]!r} != {b.quantiles7[key]!r}")
    return p


def _same(xa: list[float], xb: list[float], rel_tol: float) -> bool:
    ya, yb = sorted(xa), sorted(xb)
    return len(ya) == len(yb) and all(
        _close(x, y, rel_tol, 1e-9) for x, y in zip(ya, yb, strict=True)
    )


__all__ = [
    "RESPONSE_HIST",
    "RESPONSE_QUANTILE_METRIC",
    "SCORE_TURNS",
    "SCORE_WITHIN",
    "STATE_GAUGES7",
    "TODAY",
    "WINDOW_GAUGES7",
    "Decision",
    "GaugeKey",
    "Score",
    "Settings",
    "Turn",
    "Turns",
    "decisions",
    "diff7",
    "fill",
    "kwargs_from_config",
    "scores_from_config",
    "sliding_member",
    "today_member",
]


def read_sample(
    out: Expected,
    name: str,
    labels: dict[str, str],
    value: float,
    hist_parts: dict[tuple[str, str], dict[str, Any]],
) -> bool:
    """Take one /metrics sample into the §7 fields; False when it is not a §7 sample."""
    if not is_section7_sample(name, labels):
        return False
    assert out.gauges7 is not None
    assert out.quantiles7 is not None
    assert out.counters7 is not None
    if name in (SCORE_TURNS, SCORE_WITHIN):
        _inc(out.counters7, gauge_key(name, **labels), int(value))
    elif name in (RESPONSE_QUANTILE_METRIC, FIRST_RESPONSE_QUANTILE_METRIC):
        if not math.isnan(value):
            key = (name, labels["window"], labels["channel"], labels["quantile"])
            out.quantiles7[key] = value
    elif name.startswith(RESPONSE_HIST + "_") and "channel" in labels:
        part = hist_parts.setdefault((RESPONSE_HIST, labels["channel"]), {"buckets": {}})
        if name == RESPONSE_HIST + "_bucket":
            part["buckets"][float(labels["le"])] = int(value)
        elif name == RESPONSE_HIST + "_count":
            part["count"] = int(value)
        elif name == RESPONSE_HIST + "_sum":
            part["sum"] = value
    elif name.startswith((RESPONSE_QUANTILE_METRIC, FIRST_RESPONSE_QUANTILE_METRIC)) and (
        name.endswith(("_count", "_sum", "_created"))
    ):
        pass  # summary parts of the window quantiles: not compared (as for §3); not
        # aftersales_window_tickets_created, a gauge whose name ends in _created too
    elif value != 0 or name == "aftersales_window_return_rate":
        out.gauges7[gauge_key(name, **labels)] = value
    return True


def finish_exposition(
    out: Expected, hist_parts: dict[tuple[str, str], dict[str, Any]], seen: bool
) -> None:
    """Histograms from their parts; every §7 field None when the page has no §7 sample."""
    if not seen:
        out.gauges7 = out.histograms7 = out.window_values7 = None
        out.quantiles7 = out.counters7 = None
        return
    assert out.histograms7 is not None
    for key, part in hist_parts.items():
        out.histograms7[key] = Hist(
            count=part.get("count", 0), sum=part.get("sum", 0.0), buckets=part["buckets"] or None
        )
    out.window_values7 = None  # an exposition has no value lists

