"""The act-now list across replicas: the JSON each replica serves, discovery, the merge."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from core.snapshot import ActionTicket, Snapshot
from dashboard import act_now
from metrics.http_endpoints import MetricsServer


def ticket(tid: str, age: float, sla: float = 30.0, kind: str = "unanswered",
           biz: float | None = None) -> ActionTicket:
    return ActionTicket(tid, "chat", "P2", "east", age, sla, kind, biz)


@pytest.fixture
def snap(make_snapshot: Any) -> Snapshot:
    return make_snapshot(hours=1, rate=5)  # type: ignore[no-any-return]


def test_document_round_trips_and_is_bounded(snap: Snapshot) -> None:
    acts = tuple(ticket(f"T{i}" + "x" * 300, 100.0 + i, biz=None if i % 2 else 50.0 + i)
                 for i in range(14))
    got = act_now.decode(act_now.encode(dataclasses.replace(snap, act_now=acts)))
    assert len(got) == act_now.MAX_TICKETS
    assert all(len(a.ticket_id) == 128 for a in got)
    assert [(a.age_s, a.business_age_s) for a in got] == [
        (a.age_s, a.business_age_s) for a in acts[:10]]
    assert act_now.decode(act_now.encode(None)) == ()


@pytest.mark.parametrize("body", [
    b"", b"[]", b'{"tickets": 3}', b'{"tickets": [1]}',
    b'{"tickets": [{"kind": "bogus", "age_s": 1, "sla_s": 1}]}',
    b'{"tickets": [{"kind": "awaiting", "age_s": "1", "sla_s": 1}]}',
    b'{"tickets": [{"kind": "awaiting", "age_s": 1e999, "sla_s": 1}]}',
])
def test_hostile_documents_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(ValueError):
        act_now.decode(body)


def test_merge_keeps_the_most_urgent_in_business_time() -> None:
    a = (ticket("A", 300.0), ticket("B", 90.0))
    b = (ticket("C", 7000.0, sla=86400.0, kind="awaiting", biz=200_000.0),
         ticket("B", 95.0), ticket("D", 40.0))
    merged = act_now.merge([a, b], limit=3)
    # A: 10x its SLA; B's more urgent copy 3.2x; C 2.3x in business time (wall: 0.08x)
    assert [(x.ticket_id, x.age_s) for x in merged] == [("A", 300.0), ("B", 95.0),
                                                        ("C", 7000.0)]


def test_replica_urls_from_the_targets_api() -> None:
    targets = {"activeTargets": [
        {"health": "up", "labels": {"job": "aftersales-pulse"},
         "scrapeUrl": "http://10.1.2.3:9108/metrics"},
        {"health": "down", "labels": {"job": "aftersales-pulse"},
         "scrapeUrl": "http://10.1.2.4:9108/metrics"},
        {"health": "up", "labels": {"job": "node"}, "scrapeUrl": "http://10.1.2.5:9100/metrics"},
        {"health": "up", "labels": {"job": "aftersales-pulse"}, "scrapeUrl": "file:///etc"},
    ]}
    assert act_now.replica_urls(targets, {"aftersales-pulse"}) == [
        "http://10.1.2.3:9108/act-now"]


@pytest.fixture
def replicas(snap: Snapshot) -> Iterator[list[tuple[MetricsServer, list[Snapshot]]]]:
    """Two real metrics servers, each serving its own act-now list at /act-now."""
    out = []
    for i in range(2):
        held = [dataclasses.replace(snap, act_now=(ticket(f"R{i}-a", 60.0 * (i + 2)),
                                                   ticket(f"R{i}-b", 31.0)))]
        server = MetricsServer(CollectorRegistry(), lambda: True, "127.0.0.1", 0,
                               routes={act_now.ACT_NOW_PATH: act_now.act_now_app(
                                   lambda h=held: h[0])}).start()
        out.append((server, held))
    yield out
    for server, _held in out:
        server.stop()


def test_the_board_merges_every_replica_and_names_the_silent_one(replicas: Any) -> None:
    urls = [f"http://127.0.0.1:{s.port}{act_now.ACT_NOW_PATH}" for s, _h in replicas]
    r = requests.get(urls[0], timeout=5)
    assert r.headers["Content-Type"] == "application/json"
    merged, missing = act_now.fetch_all([*urls, "http://127.0.0.1:9/act-now"],
                                        requests.Session(), timeout_s=2)
    assert [a.ticket_id for a in merged] == ["R1-a", "R0-a", "R0-b", "R1-b"]
    assert missing == ("127.0.0.1:9",)
    # a replica's list changes: the next fetch shows it (nothing is cached per replica)
    replicas[0][1][0] = dataclasses.replace(replicas[0][1][0], act_now=())
    merged, missing = act_now.fetch_all(urls, requests.Session())
    assert ([a.ticket_id for a in merged], missing) == (["R1-a", "R1-b"], ())
