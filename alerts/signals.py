"""Named, pure signals: the expression language of the rule file.

A rule's ``expr`` names one signal with parameters, written like a PromQL selector:
``first_response_sla_attainment{window="15m", min_responses="10"}``. Each signal has two
faces that must agree: an in-process implementation over a :class:`Snapshot` (what the
evaluator runs) and a PromQL template over the SPEC §3 series (what ``pulse rules
export`` writes). A registry of small functions instead of ``eval`` keeps rule files
safe, and keeps both faces side by side where a reviewer can compare them.

Every template sums over replicas (``sum by (...)``), so the exported rules are right
for one process and for N replicas behind one Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.definitions import attainment, escalation_rate, peak_ratio
from core.snapshot import Snapshot

__all__ = [
    "SIGNALS",
    "Labels",
    "Param",
    "Series",
    "Signal",
    "SignalContext",
    "Values",
    "parse_duration",
    "parse_expr",
]

Labels = tuple[tuple[str, str], ...]
Values = dict[Labels, float]
Series = Callable[[str], str]  # SPEC §3 metric name -> the series name to query

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """``"2m"``, ``"1h30m"``, ``"45s"``, ``"0s"`` → seconds; ValueError otherwise."""
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not m or not text.strip() or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration like 30s, 2m or 1h")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def prom_duration(seconds: int) -> str:
    """Seconds → the shortest PromQL duration (``600`` → ``10m``)."""
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Param:
    """A signal parameter: ``kind`` is window (a configured window name), duration or int."""

    kind: str
    default: str


@dataclass
class SignalContext:
    """What a signal may remember between evaluations: a short history of total backlog.

    Samples are taken at evaluation times on the event-time clock, so a replay and a live
    stream see the same history.
    """

    backlog: list[tuple[int, int]] = field(default_factory=list)  # (clock_ms, total backlog)
    keep_ms: int = 3600 * 1000

    def record(self, snap: Snapshot) -> None:
        hist = self.backlog
        if hist and hist[-1][0] >= snap.clock_ms:
            hist[-1] = (snap.clock_ms, snap.total_backlog)
        else:
            hist.append((snap.clock_ms, snap.total_backlog))
        cut = snap.clock_ms - self.keep_ms
        while hist and hist[0][0] <= cut:
            hist.pop(0)


Compute = Callable[[Snapshot, SignalContext, Mapping[str, str]], Values]
Template = Callable[[Mapping[str, str], Series], str]


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    doc: str
    metrics: tuple[str, ...]  # the SPEC §3 series it reads
    labels: tuple[str, ...]  # label names of its values (one episode per label set)
    unit: str  # ratio | count | per_min | seconds | messages | factor
    params: Mapping[str, Param]
    compute: Compute
    promql: Template


_EXPR = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\{(.*)\})?\s*$")
_PARAM = re.compile(r'\s*([a-z_][a-z0-9_]*)\s*=\s*(?:"([^"]*)"|([A-Za-z0-9_.]+))\s*')


def parse_expr(text: str) -> tuple[str, dict[str, str]]:
    """``name{k="v", k2=v2}`` → (name, params); ValueError naming what is wrong."""
    m = _EXPR.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not of the form signal_name{{param=\"value\", ...}}")
    params: dict[str, str] = {}
    body = m.group(2)
    if body and body.strip():
        for part in body.split(","):
            pm = _PARAM.fullmatch(part)
            if not pm:
                raise ValueError(f"cannot read parameter {part.strip()!r}")
            key = pm.group(1)
            if key in params:
                raise ValueError(f"parameter {key} given twice")
            params[key] = pm.group(2) if pm.group(2) is not None else pm.group(3)
    return m.group(1), params


# -- the signals ------------------------------------------------------------------------
_W = "aftersales_window_"


def _sum(series: Series, metric: str, matchers: str = "", by: str = "") -> str:
    sel = f"{series(metric)}{{{matchers}}}" if matchers else series(metric)
    return f"sum by ({by}) ({sel})" if by else f"sum({sel})"


def _sla_attainment(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    w = snap.windows.get(p["window"])
    if w is None:
        return {}
    value = attainment(sum(w.first_responses_within_sla.values()),
                       sum(w.first_responses.values()), int(p["min_responses"]))
    return {} if value is None else {(): value}


def _sla_attainment_q(p: Mapping[str, str], s: Series) -> str:
    m = f'window="{p["window"]}"'
    return (f"{_sum(s, _W + 'first_responses_within_sla', m)}"
            f" / ({_sum(s, _W + 'first_responses', m)} >= {max(1, int(p['min_responses']))})")


def _overdue_2x(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    return {(("channel", ch),): float(n) for ch, n in snap.first_response_overdue_2x.items()}


def _overdue_2x_q(p: Mapping[str, str], s: Series) -> str:
    return _sum(s, "aftersales_first_response_overdue_2x_tickets", by="channel")


def _response_overdue_2x(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    return {(("channel", ch),): float(n) for ch, n in snap.response_overdue_2x.items()}


def _response_overdue_2x_q(p: Mapping[str, str], s: Series) -> str:
    return _sum(s, "aftersales_response_overdue_2x_tickets", by="channel")


def _score_shortfall(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    """Each platform score (§7) of the window minus its target (−0.05: 5 points short),
    where the window holds at least ``min_turns`` decided turns of it."""
    w = snap.windows.get(p["window"])
    if w is None:
        return {}
    out: Values = {}
    for name, turns in w.score_turns.items():
        target = snap.score_targets.get(name)
        score = attainment(w.score_turns_within.get(name, 0), turns, int(p["min_turns"]))
        if target is not None and score is not None:
            out[(("score", name),)] = score - target
    return out


def _score_shortfall_q(p: Mapping[str, str], s: Series) -> str:
    m = f'window="{p["window"]}"'
    floor = max(1, int(p["min_turns"]))
    score = (f"{_sum(s, _W + 'score_turns_within', m, 'score')}"
             f" / ({_sum(s, _W + 'score_turns', m, 'score')} >= {floor})")
    # every replica exposes the same configured target: max, not sum
    return f"({score}) - on(score) max by (score) ({s('aftersales_score_target')})"


def _backlog_growth(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    """Least-squares slope of total backlog over the range, in tickets per minute.

    Needs samples spanning at least half the range, so a fresh start is not a trend.
    """
    range_ms = parse_duration(p["range"]) * 1000
    pts = [(t, v) for t, v in ctx.backlog if t > snap.clock_ms - range_ms]
    if len(pts) < 2 or pts[-1][0] - pts[0][0] < range_ms / 2:
        return {}
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    if den == 0:
        return {}
    slope_per_ms = sum((t - mt) * (v - mv) for t, v in pts) / den
    return {(): slope_per_ms * 60000.0}


def _backlog_growth_q(p: Mapping[str, str], s: Series) -> str:
    rng = prom_duration(parse_duration(p["range"]))
    return f"deriv({_sum(s, 'aftersales_backlog_tickets')}[{rng}:]) * 60"


def _res_overdue(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    return {(): float(snap.resolution_overdue.get(p["priority"], 0))}


def _res_overdue_q(p: Mapping[str, str], s: Series) -> str:
    return _sum(s, "aftersales_resolution_overdue_tickets", f'priority="{p["priority"]}"')


def _escalation_rate(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    w = snap.windows.get(p["window"])
    if w is None:
        return {}
    value = escalation_rate(w.escalations, sum(w.tickets_created.values()),
                            int(p["min_tickets"]))
    return {} if value is None else {(): value}


def _escalation_rate_q(p: Mapping[str, str], s: Series) -> str:
    m = f'window="{p["window"]}"'
    return (f"{_sum(s, _W + 'escalations', m)}"
            f" / ({_sum(s, _W + 'tickets_created', m)} >= {max(1, int(p['min_tickets']))})")


def _return_excess(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    """A region's return rate relative to ``all`` minus 1 (0.15 = 15 % above the overall)."""
    w = snap.windows.get(p["window"])
    if w is None:
        return {}
    overall = w.return_rate.get("all")
    if not overall:
        return {}
    floor = int(p["min_deliveries"])
    return {
        (("region", r),): rate / overall - 1.0
        for r, rate in w.return_rate.items()
        if r != "all" and w.orders_delivered.get(r, 0) >= max(1, floor)
    }


def _return_excess_q(p: Mapping[str, str], s: Series) -> str:
    m = f'window="{p["window"]}"'
    floor = max(1, int(p["min_deliveries"]))
    rr, od = _W + "returns_requested", _W + "orders_delivered"
    region = (f"{_sum(s, rr, m, 'region')} / ({_sum(s, od, m, 'region')} >= {floor})")
    overall = f"{_sum(s, rr, m)} / ({_sum(s, od, m)} > 0)"
    return f"({region}) / on() group_left() ({overall}) - 1"


def _peak_ratio(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    """Arrivals per minute over the short window ÷ per minute over the long one.

    The baseline is divided by the history the engine really holds (at most the long
    window), so a fresh start — 15 minutes of data in a 24 h window — is not a 96× peak.
    Absent until ``min_history`` of arrivals exists.
    """
    short, long_ = snap.windows.get(p["short"]), snap.windows.get(p["long"])
    if short is None or long_ is None:
        return {}
    since = snap.arrivals_since_ms
    if since is None:
        return {}
    covered_s = min(long_.seconds, (snap.clock_ms - since) / 1000.0)
    if covered_s < parse_duration(p["min_history"]):
        return {}
    n_long = sum(long_.tickets_created.values())
    if n_long <= 0:
        return {}
    return {(): peak_ratio(sum(short.tickets_created.values()), short.seconds, n_long,
                           long_.seconds, covered_s)}


def _peak_ratio_q(p: Mapping[str, str], s: Series) -> str:
    tc = _W + "tickets_created"
    short = _sum(s, tc, 'window="' + p["short"] + '"')
    long_ = _sum(s, tc, 'window="' + p["long"] + '"')
    return (f"({short} / {_window_minutes(p['short'])})"
            f" / (({long_} / {_window_minutes(p['long'])}) > 0)")


def _window_minutes(name: str) -> str:
    """Window names are durations (``15m``, ``24h``); PromQL needs their minutes."""
    return f"{parse_duration(name) / 60:g}"


def _event_age(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    age = snap.last_event_age_s
    if not snap.live or age is None:
        return {}
    return {(): age}


def _event_age_q(p: Mapping[str, str], s: Series) -> str:
    return "min(aftersales_last_event_age_seconds) and on() (max(aftersales_live) == 1)"


def _lag(snap: Snapshot, ctx: SignalContext, p: Mapping[str, str]) -> Values:
    return {(): float(sum(snap.consumer_lag.values()))}


def _lag_q(p: Mapping[str, str], s: Series) -> str:
    return "sum(aftersales_consumer_lag_messages)"


def _sig(name: str, doc: str, metrics: tuple[str, ...], labels: tuple[str, ...], unit: str,
         params: dict[str, Param], compute: Compute, promql: Template) -> Signal:
    return Signal(name, doc, metrics, labels, unit, MappingProxyType(params), compute, promql)


_WIN, _DUR, _INT = "window", "duration", "int"

SIGNALS: Mapping[str, Signal] = MappingProxyType({s.name: s for s in (
    _sig("first_response_sla_attainment",
         "First responses within the channel SLA ÷ all first responses in the window.",
         (_W + "first_responses_within_sla", _W + "first_responses"), (), "ratio",
         {"window": Param(_WIN, "15m"), "min_responses": Param(_INT, "1")},
         _sla_attainment, _sla_attainment_q),
    _sig("first_response_overdue_2x",
         "Unanswered tickets older than twice their channel's first-response SLA.",
         ("aftersales_first_response_overdue_2x_tickets",), ("channel",), "count", {},
         _overdue_2x, _overdue_2x_q),
    _sig("response_overdue_2x",
         "Open tickets whose customer has waited (a later turn included) longer than twice "
         "the channel's response SLA.",
         ("aftersales_response_overdue_2x_tickets",), ("channel",), "count", {},
         _response_overdue_2x, _response_overdue_2x_q),
    _sig("score_below_target",
         "A platform score (§7) of the window minus its target, once the window holds "
         "min_turns decided turns of it.",
         (_W + "score_turns", _W + "score_turns_within", "aftersales_score_target"),
         ("score",), "ratio", {"window": Param(_WIN, "today"), "min_turns": Param(_INT, "50")},
         _score_shortfall, _score_shortfall_q),
    _sig("backlog_growth_per_min",
         "Slope of the total open backlog over the range, tickets per minute.",
         ("aftersales_backlog_tickets",), (), "per_min", {"range": Param(_DUR, "10m")},
         _backlog_growth, _backlog_growth_q),
    _sig("resolution_overdue",
         "Open tickets of one priority older than its resolution SLA.",
         ("aftersales_resolution_overdue_tickets",), (), "count",
         {"priority": Param("priority", "P1")}, _res_overdue, _res_overdue_q),
    _sig("escalation_rate", "Escalations ÷ tickets created in the window.",
         (_W + "escalations", _W + "tickets_created"), (), "ratio",
         {"window": Param(_WIN, "1h"), "min_tickets": Param(_INT, "1")},
         _escalation_rate, _escalation_rate_q),
    _sig("region_return_rate_excess",
         "A region's return rate ÷ the overall (`all`) rate − 1, where it had enough deliveries.",
         (_W + "return_rate", _W + "returns_requested", _W + "orders_delivered"), ("region",),
         "ratio", {"window": Param(_WIN, "24h"), "min_deliveries": Param(_INT, "200")},
         _return_excess, _return_excess_q),
    _sig("peak_ratio", "Tickets created per minute over the short window ÷ over the long one.",
         (_W + "peak_ratio", _W + "tickets_created"), (), "factor",
         {"short": Param(_WIN, "15m"), "long": Param(_WIN, "24h"),
          "min_history": Param(_DUR, "1h")}, _peak_ratio, _peak_ratio_q),
    _sig("last_event_age_seconds",
         "Wall time since the last accepted event, only while the stream is live.",
         ("aftersales_last_event_age_seconds",), (), "seconds", {}, _event_age, _event_age_q),
    _sig("consumer_lag_messages", "Messages behind, summed over every partition.",
         ("aftersales_consumer_lag_messages",), (), "messages", {}, _lag, _lag_q),
)})
