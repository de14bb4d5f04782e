"""The act-now list across replicas: each replica serves its own as JSON, the board merges.

Prometheus carries no ticket ids, and must not: a label per ticket would be unbounded
cardinality. So every replica answers ``GET /act-now`` on its metrics port with the at
most ten tickets of its own snapshot (:func:`act_now_app`, wired by ``pulse``), and the
Prometheus-mode board finds the replicas from what Prometheus scrapes (the targets API,
``health == "up"`` targets whose job exposes ``aftersales_build_info``), fetches every
list in parallel with a short timeout, and keeps the ten most urgent. A replica that does
not answer is named on the board, never silently left out. The document is bounded (ten
tickets, ids cut at 128 characters) whatever the replica holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from core.snapshot import ActionTicket, Snapshot

if TYPE_CHECKING:  # imported where used: ``pulse run`` serves the list, never fetches one
    import requests

__all__ = [
    "ACT_NOW_PATH",
    "MAX_TICKETS",
    "act_now_app",
    "decode",
    "encode",
    "fetch_all",
    "merge",
    "replica_urls",
]

ACT_NOW_PATH = "/act-now"
MAX_TICKETS = 10
_KINDS = ("unanswered", "awaiting", "overdue")


def encode(snap: Snapshot | None) -> bytes:
    """The replica's document: its clock and its most urgent tickets, engine order."""
    tickets = () if snap is None else snap.act_now[:MAX_TICKETS]
    return orjson.dumps({
        "clock_ms": None if snap is None else snap.clock_ms,
        "tickets": [{
            "ticket_id": a.ticket_id[:128], "channel": a.channel, "priority": a.priority,
            "region": a.region, "age_s": a.age_s, "sla_s": a.sla_s, "kind": a.kind,
            "business_age_s": a.business_age_s,
        } for a in tickets],
    })


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"not a number: {x!r}")
    return float(x)


def decode(body: bytes) -> tuple[ActionTicket, ...]:
    """A replica's document back into tickets; ValueError naming what is wrong."""
    doc = orjson.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("tickets"), list):
        raise ValueError("act-now: no tickets list")
    out = []
    for item in doc["tickets"][:MAX_TICKETS]:
        if not isinstance(item, dict):
            raise ValueError("act-now: a ticket is not an object")
        kind = str(item.get("kind", ""))
        if kind not in _KINDS:
            raise ValueError(f"act-now: unknown kind {kind!r}")
        biz = item.get("business_age_s")
        out.append(ActionTicket(
            ticket_id=str(item.get("ticket_id", ""))[:128], channel=str(item.get("channel", "")),
            priority=str(item.get("priority", "")), region=str(item.get("region", "")),
            age_s=_num(item.get("age_s")), sla_s=_num(item.get("sla_s")), kind=kind,
            business_age_s=None if biz is None else _num(biz)))
    return tuple(out)


def urgency(a: ActionTicket) -> float:
    """How far past its SLA a ticket is, in the time the SLA counts."""
    age = a.age_s if a.business_age_s is None else a.business_age_s
    return age / a.sla_s if a.sla_s > 0 else math.inf


def merge(lists: Iterable[tuple[ActionTicket, ...]], limit: int = MAX_TICKETS
          ) -> tuple[ActionTicket, ...]:
    """The ``limit`` most urgent of every replica's list (a ticket lives on one replica;
    a repeat during a rebalance keeps its most urgent copy)."""
    best: dict[str, ActionTicket] = {}
    for tickets in lists:
        for a in tickets:
            seen = best.get(a.ticket_id)
            if seen is None or urgency(a) > urgency(seen):
                best[a.ticket_id] = a
    # the engine's own order (worst age ÷ SLA first, then id): one replica or many, the
    # same list
    return tuple(sorted(best.values(), key=lambda a: (-urgency(a), a.ticket_id))[:limit])


def act_now_app(latest: Callable[[], Snapshot | None]
                ) -> Callable[[Mapping[str, Any], Callable[..., Any]], list[bytes]]:
    """The WSGI route a replica serves at :data:`ACT_NOW_PATH` (on its metrics port)."""

    def app(environ: Mapping[str, Any], start: Callable[..., Any]) -> list[bytes]:
        body = encode(latest())
        start("200 OK", [("Content-Type", "application/json"),
                         ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body]

    return app


def replica_urls(targets: Mapping[str, Any], jobs: set[str] | None = None) -> list[str]:
    """``/act-now`` URLs of the scraped replicas, from Prometheus' ``/api/v1/targets``
    answer (its ``data``): active targets that are up, of ``jobs`` when given."""
    urls = []
    for target in targets.get("activeTargets", []) or []:
        if target.get("health") != "up":
            continue
        job = (target.get("labels") or {}).get("job", "")
        if jobs is not None and job not in jobs:
            continue
        parts = urlsplit(str(target.get("scrapeUrl", "")))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        urls.append(urlunsplit((parts.scheme, parts.netloc, ACT_NOW_PATH, "", "")))
    return sorted(set(urls))


def fetch_all(urls: list[str], session: requests.Session, timeout_s: float = 2.0
              ) -> tuple[tuple[ActionTicket, ...], tuple[str, ...]]:
    """Every replica's list fetched in parallel, merged; and the replicas that failed."""
    import requests

    if not urls:
        return (), ()

    def one(url: str) -> tuple[ActionTicket, ...] | None:
        try:
            r = session.get(url, timeout=timeout_s)
            r.raise_for_status()
            return decode(r.content)
        except (requests.RequestException, ValueError):
            return None

    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        got = list(pool.map(one, urls))
    missing = tuple(urlsplit(u).netloc for u, g in zip(urls, got, strict=True) if g is None)
    return merge(g for g in got if g is not None), missing
