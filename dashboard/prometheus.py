"""The board over Prometheus: PromQL summed across replicas, rebuilt into a Snapshot.

With several replicas in one consumer group each holds a share of the partitions, so the
additive series (counts, backlog, window counts) are summed; ratios (return rate, peak
ratio, SLA attainment) are recomputed here from the sums exactly as the engine computes
them; quantiles cannot be summed and take the worst replica (``max``); a channel is open
only while every replica says so (``min``). Prometheus has no ticket ids (it must not: a
label per ticket is unbounded), so the "act now" table comes from the replicas
themselves: see :mod:`dashboard.act_now`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import requests

from core.alerting import ActiveAlert
from core.config import Config
from core.definitions import peak_ratio, return_rates
from core.snapshot import ActionTicket, ConsumerHealth, Snapshot, WindowSnapshot
from dashboard import act_now
from dashboard.sources import (
    BoardData,
    BoardSettings,
    Threshold,
    active_promotion,
    profile_of,
)

__all__ = ["QUERIES", "PrometheusSource", "snapshot_from_results"]

log = logging.getLogger(__name__)

_W = "aftersales_window_"
_STATE = ("backlog_tickets", "unanswered_tickets", "first_response_overdue_tickets",
          "first_response_overdue_2x_tickets", "resolution_overdue_tickets", "returns_open",
          "awaiting_reply_tickets", "response_overdue_tickets",
          "response_overdue_2x_tickets")
_AGE = "(time() - timestamp({m}))"
QUERIES: Mapping[str, str] = {
    "window": f'sum by (__name__, window, channel, priority, region, reason, score) '
              f'({{__name__=~"{_W}.+", __name__!~"{_W}(return_rate|(first_)?response_seconds'
              f'(_count)?|peak_ratio)"}})',
    "state": f'sum by (__name__, channel, priority, category, region) '
             f'({{__name__=~"aftersales_({"|".join(_STATE)})"}})',
    "backlog_age": "sum by (priority, age) (aftersales_backlog_age_tickets)",
    "oldest": "max by (channel) (aftersales_oldest_unanswered_age_seconds)",
    "oldest_awaiting": "max by (channel) (aftersales_oldest_awaiting_reply_age_seconds)",
    "hours_open": "min by (channel) (aftersales_business_hours_open)",
    "score_target": "max by (score) (aftersales_score_target)",
    "quantiles": f"max by (window, channel, quantile) ({_W}first_response_seconds)",
    "lag": "max by (topic, partition) (aftersales_consumer_lag_messages)",
    "clock": "max(aftersales_clock_timestamp_seconds)",
    "watermark": "max(aftersales_watermark_timestamp_seconds)",
    "last_event_age": "min(aftersales_last_event_age_seconds + "
                      + _AGE.format(m="aftersales_last_event_age_seconds") + ")",
    "ready": "min(aftersales_ready)",
    "live": "max(aftersales_live)",
    "broker_up": "min(aftersales_broker_up)",
}
ARRIVALS = 'sum(increase(aftersales_events_total{type="ticket.created"}[1m]))'

Result = list[tuple[dict[str, str], float]]


def _by(res: Result, metric: str, label: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for labels, v in res:
        if labels.get("__name__") == metric:
            key = labels.get(label, "")
            out[key] = out.get(key, 0) + round(v)
    return out


def _window(name: str, seconds: int, res: Result,
            quantiles: Mapping[str, Mapping[float, float]]) -> WindowSnapshot:
    mine = [(lab, v) for lab, v in res if lab.get("window") == name]

    def by(metric: str, label: str) -> dict[str, int]:
        return _by(mine, _W + metric, label)

    def one(metric: str) -> int:
        return sum(by(metric, "").values())

    requested, delivered = by("returns_requested", "region"), by("orders_delivered", "region")
    return WindowSnapshot(
        name=name, seconds=seconds,
        tickets_created=by("tickets_created", "channel"),
        first_responses=by("first_responses", "channel"),
        first_responses_within_sla=by("first_responses_within_sla", "channel"),
        first_response_quantiles=quantiles,
        resolutions=by("resolutions", "priority"),
        resolutions_within_sla=by("resolutions_within_sla", "priority"),
        resolutions_first_contact=one("resolutions_first_contact"),
        resolutions_by_bot=one("resolutions_by_bot"),
        escalations=one("escalations"), transfers=one("transfers"), reopens=one("reopens"),
        csat_ratings=one("csat_ratings"), csat_satisfied=one("csat_satisfied"),
        nps_ratings=one("nps_ratings"), nps_promoters=one("nps_promoters"),
        nps_detractors=one("nps_detractors"),
        orders_delivered=delivered, deliveries_late=by("deliveries_late", "region"),
        returns_requested=requested, returns_by_reason=by("returns_by_reason", "reason"),
        return_rate=return_rates(requested, delivered),
        # the summary's _sum adds up across replicas (its _count is first_responses)
        first_response_sum_s={lab.get("channel", ""): v for lab, v in mine
                              if lab.get("__name__") == _W + "first_response_seconds_sum"},
        turns=by("turns", "channel"), responses=by("responses", "channel"),
        responses_within_sla=by("responses_within_sla", "channel"),
        score_turns=by("score_turns", "score"),
        score_turns_within=by("score_turns_within", "score"),
    )


def snapshot_from_results(results: Mapping[str, Result], windows: Mapping[str, int],
                          wall_ms: int, arrivals: tuple[tuple[int, int], ...] = (),
                          score_targets: Mapping[str, float] | None = None,
                          act_now: tuple[ActionTicket, ...] = ()) -> Snapshot | None:
    """The Snapshot the engine(s) behind Prometheus would have published (None: no data)."""
    def scalar(key: str) -> float | None:
        res = results.get(key) or []
        return res[0][1] if res and not math.isnan(res[0][1]) else None

    clock_s = scalar("clock")
    if clock_s is None:
        return None
    quantiles: dict[str, dict[str, dict[float, float]]] = {}
    for lab, v in results.get("quantiles", []):
        try:
            q = float(lab.get("quantile", ""))
        except ValueError:
            continue
        quantiles.setdefault(lab.get("window", ""), {}).setdefault(
            lab.get("channel", ""), {})[q] = v
    wres = results.get("window", [])
    ws = {name: _window(name, secs, wres, quantiles.get(name, {}))
          for name, secs in windows.items()}
    if any(lab.get("window") == "today" for lab, _v in wres):
        # the calendar window: its length is clock - local midnight, unknown here; the
        # board reads only its counts
        ws["today"] = _window("today", 0, wres, quantiles.get("today", {}))
    (short, short_s), (long_, long_s) = (min(windows.items(), key=lambda kv: kv[1]),
                                         max(windows.items(), key=lambda kv: kv[1]))
    state = results.get("state", [])
    backlog = {(lab.get("priority", ""), lab.get("category", ""), lab.get("region", "")):
               round(v) for lab, v in state
               if lab.get("__name__") == "aftersales_backlog_tickets"}
    age = scalar("last_event_age")
    wm = scalar("watermark")
    return Snapshot(
        clock_ms=round(clock_s * 1000), wall_ms=wall_ms,
        watermark_ms=None if wm is None else round(wm * 1000),
        live=(scalar("live") or 0.0) >= 1.0,
        last_event_wall_ms=None if age is None else wall_ms - int(age * 1000),
        events_total={}, rejected_total={}, duplicate_total={}, late_total={},
        orphan_total={}, first_response_seconds={}, resolution_seconds={},
        return_processing_seconds={},
        backlog=backlog,
        unanswered=_by(state, "aftersales_unanswered_tickets", "channel"),
        first_response_overdue=_by(state, "aftersales_first_response_overdue_tickets",
                                   "channel"),
        first_response_overdue_2x=_by(state, "aftersales_first_response_overdue_2x_tickets",
                                      "channel"),
        resolution_overdue=_by(state, "aftersales_resolution_overdue_tickets", "priority"),
        oldest_unanswered_age_s={lab.get("channel", ""): v
                                 for lab, v in results.get("oldest", [])},
        returns_open=_by(state, "aftersales_returns_open", "region"),
        windows=ws,
        peak_ratio=peak_ratio(sum(ws[short].tickets_created.values()), short_s,
                              sum(ws[long_].tickets_created.values()), long_s),
        health=ConsumerHealth(
            ready=(scalar("ready") or 0.0) >= 1.0,
            lag={(lab.get("topic", ""), int(lab.get("partition", "0") or 0)): int(v)
                 for lab, v in results.get("lag", [])},
            broker_up=scalar("broker_up") in (None, 1.0)),
        arrivals_per_minute=arrivals,
        backlog_by_age={(lab.get("priority", ""), lab.get("age", "")): round(v)
                        for lab, v in results.get("backlog_age", [])},
        awaiting_reply=_by(state, "aftersales_awaiting_reply_tickets", "channel"),
        response_overdue=_by(state, "aftersales_response_overdue_tickets", "channel"),
        response_overdue_2x=_by(state, "aftersales_response_overdue_2x_tickets", "channel"),
        oldest_awaiting_reply_age_s={lab.get("channel", ""): v
                                     for lab, v in results.get("oldest_awaiting", [])},
        business_hours_open={lab.get("channel", ""): v >= 1.0
                             for lab, v in results.get("hours_open", [])},
        # what the replicas judge against; the board's own config where they say nothing
        score_targets={**(score_targets or {}),
                       **{lab.get("score", ""): v for lab, v in results.get("score_target", [])
                          if lab.get("score")}},
        act_now=act_now,
    )


def _alert(a: Mapping[str, Any]) -> ActiveAlert | None:
    """One firing alert of ``/api/v1/alerts`` (annotations per language when present)."""
    if a.get("state") != "firing":
        return None
    labels = dict(a.get("labels") or {})
    ann = dict(a.get("annotations") or {})
    name = labels.pop("alertname", "alert")
    severity = labels.pop("severity", "warning")
    profile = labels.pop("profile", "normal")

    def text(key: str, lang: str) -> str:
        return str(ann.get(f"{key}_{lang}") or ann.get(key) or "")

    def num(value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    try:
        since = datetime.fromisoformat(str(a.get("activeAt", "")).replace("Z", "+00:00"))
        since_ms = int(since.timestamp() * 1000)
    except ValueError:
        since_ms = 0
    return ActiveAlert(
        name=name, severity=severity, labels=tuple(sorted(labels.items())),
        summary_zh=text("summary", "zh") or name, summary_en=text("summary", "en") or name,
        description_zh=text("description", "zh"), description_en=text("description", "en"),
        since_ms=since_ms, value=num(a.get("value")), threshold=num(ann.get("threshold")),
        comparison=str(ann.get("comparison", "")), profile=profile,
    )


class PrometheusSource:
    """Polls Prometheus at most every ``min_interval_s`` however many screens are open.

    ``thresholds(profile)`` gives the tile bounds of the rule file the wiring loaded (the
    rules Prometheus itself evaluates); without it the tiles have no lights. ``jobs``:
    the scrape jobs whose targets serve ``/act-now`` (None: every job with an
    ``aftersales_build_info`` series).
    """

    def __init__(self, url: str, config: Config, *,
                 thresholds: Callable[[str], Mapping[str, Threshold]] | None = None,
                 settings: BoardSettings | None = None, jobs: set[str] | None = None,
                 wall: Callable[[], int] | None = None, timeout_s: float = 3.0,
                 min_interval_s: float = 1.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.config = config
        self._thresholds = thresholds
        self._settings = settings or BoardSettings.from_config(config)
        self._jobs = jobs
        self._wall = wall or (lambda: int(time.time() * 1000))
        self._timeout = timeout_s
        self._min_interval = min_interval_s
        self._http = session or requests.Session()
        self._lock = threading.Lock()
        self._cached: tuple[float, BoardData] | None = None

    def _get(self, path: str, **params: Any) -> Any:
        r = self._http.get(f"{self.url}{path}", params=params, timeout=self._timeout)
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(body.get("error") or "query failed")
        return body["data"]

    def query(self, expr: str) -> Result:
        data = self._get("/api/v1/query", query=expr)
        return [(dict(s.get("metric") or {}), float(s["value"][1]))
                for s in data.get("result", [])]

    def arrivals(self, wall_ms: int, minutes: int = 360) -> tuple[tuple[int, int], ...]:
        """Tickets created per minute, the current (partial) minute last, as the engine has.

        The value at ``t`` is the increase over ``(t - 1m, t]``: the minute starting at
        ``t - 60``; the current minute is read at its end, which Prometheus evaluates
        over the samples scraped so far.
        """
        cur = wall_ms // 60000 * 60
        first = cur - (minutes - 1) * 60
        data = self._get("/api/v1/query_range", query=ARRIVALS, start=first + 60,
                         end=cur + 60, step=60)
        got: dict[int, int] = {}
        for s in data.get("result", []):
            for ts, v in s.get("values", []):
                x = float(v)
                got[int(float(ts)) - 60] = 0 if math.isnan(x) else round(x)
        return tuple((t * 1000, got.get(t, 0)) for t in range(first, cur + 60, 60))

    def alerts(self) -> tuple[ActiveAlert, ...] | None:
        try:
            data = self._get("/api/v1/alerts")
        except (requests.RequestException, RuntimeError, ValueError):
            return None
        return tuple(a for a in map(_alert, data.get("alerts", [])) if a is not None)

    def replicas(self) -> list[str]:
        """The ``/act-now`` URLs of the replicas Prometheus scrapes and finds up."""
        jobs = self._jobs
        if jobs is None:
            jobs = {lab.get("job", "") for lab, _v in
                    self.query("max by (job) (aftersales_build_info)")}
        return act_now.replica_urls(self._get("/api/v1/targets", state="active"), jobs)

    def act_now(self) -> tuple[tuple[ActionTicket, ...], tuple[str, ...], int]:
        """The merged act-now list of every replica, the replicas that did not answer, and
        how many replicas were asked (0: Prometheus scrapes none, which the board says)."""
        try:
            urls = self.replicas()
        except (requests.RequestException, RuntimeError, ValueError, KeyError) as exc:
            log.warning("prometheus targets not read: %s", exc)
            return (), ("targets",), 0
        tickets, missing = act_now.fetch_all(urls, self._http, self._timeout)
        return tickets, missing, len(urls)

    def read(self) -> BoardData:
        now = time.monotonic()
        with self._lock:
            if self._cached and now - self._cached[0] < self._min_interval:
                return self._cached[1]
            data = self._read()
            self._cached = (now, data)
            return data

    def _read(self) -> BoardData:
        wall = self._wall()
        st = self._settings
        try:
            results = {k: self.query(q) for k, q in QUERIES.items()}
            tickets, missing, asked = self.act_now()
            snap = snapshot_from_results(
                results, self.config.windows, wall, self.arrivals(wall),
                score_targets={sc.name: sc.target for sc in st.scores}, act_now=tickets)
        except (requests.RequestException, RuntimeError, ValueError, KeyError) as exc:
            log.warning("prometheus query failed: %s", exc)
            prev = self._cached[1].snapshot if self._cached else None
            return BoardData(prev, error=f"Prometheus: {type(exc).__name__}",
                             has_ticket_details=False, settings=st)
        if snap is None:
            return BoardData(None, error="Prometheus: no aftersales_* series",
                             has_ticket_details=False, settings=st)
        a = self.config.alerting
        promotion = active_promotion(a.promotions, a.timezone, snap.clock_ms)
        profile = profile_of(snap, promotion)
        alerts = self.alerts()
        th = dict(self._thresholds(profile)) if self._thresholds else {}
        return BoardData(snap, alerts=alerts or (), profile=profile, promotion=promotion,
                         thresholds=th, has_alerts=alerts is not None, settings=st,
                         act_now_missing=missing, act_now_replicas=asked)
