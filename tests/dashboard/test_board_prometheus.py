"""PrometheusSource against a tiny local Prometheus API serving what two replicas exported.

The fake server evaluates the few PromQL shapes the source sends (``sum/max/min by``
over a name or ``__name__`` regex) over samples taken from the real
:class:`~metrics.snapshot_collector.SnapshotCollector`, so the test checks the queries, the sums
across replicas and the rebuilt Snapshot together: the board over Prometheus must show
what the board over one engine holding all the data shows.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from board_events import feed, traffic
from conftest import NOW_MS
from prometheus_client import CollectorRegistry

from core.config import load_config
from core.snapshot import Snapshot
from dashboard.act_now import ACT_NOW_PATH, act_now_app
from dashboard.prometheus import ARRIVALS, PrometheusSource
from dashboard.sources import EngineSource
from dashboard.view import build_view
from metrics.engine import Engine
from metrics.http_endpoints import MetricsServer
from metrics.snapshot_collector import SnapshotCollector

Sample = tuple[str, dict[str, str], float]
AGE_GAUGE = "aftersales_backlog_age_tickets"
_AGG = re.compile(r"^(sum|max|min)(?: by \(([^)]*)\))? ?\((.*)\)$", re.S)


def samples(snap: Snapshot, instance: str, ages: bool = True) -> list[Sample]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    out = [(s.name, {**s.labels, "instance": instance}, s.value)
           for fam in reg.collect() for s in fam.samples]
    if ages and not any(name == AGE_GAUGE for name, _l, _v in out):
        # the backlog-by-age gauge the board asks the collector for (see dashboard/prometheus)
        out += [(AGE_GAUGE, {"priority": p, "age": a, "instance": instance}, float(n))
                for (p, a), n in snap.backlog_by_age.items()]
    return out


def evaluate(expr: str, data: list[Sample]) -> list[dict[str, Any]]:
    m = _AGG.match(expr.strip())
    assert m, f"the fake Prometheus does not know {expr!r}"
    op, by, inner = m.group(1), m.group(2), m.group(3)
    inner = inner.split(" + ")[0]  # "x + (time() - timestamp(x))": a fresh scrape, age 0
    if inner.startswith("{"):
        pos = re.search(r'__name__=~"([^"]+)"', inner)
        neg = re.search(r'__name__!~"([^"]+)"', inner)
        assert pos
        chosen = [s for s in data if re.fullmatch(pos.group(1), s[0])
                  and not (neg and re.fullmatch(neg.group(1), s[0]))]
    else:
        chosen = [s for s in data if s[0] == inner]
    keys = [k.strip() for k in by.split(",")] if by else []
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for name, labels, value in chosen:
        full = {**labels, "__name__": name}
        key = tuple((k, full[k]) for k in keys if k in full)
        groups.setdefault(key, []).append(value)
    fn = {"sum": sum, "max": max, "min": min}[op]
    return [{"metric": dict(k), "value": [NOW_MS / 1000, str(fn(vs))]}
            for k, vs in groups.items()]


class FakePrometheus:
    def __init__(self, data: list[Sample], arrivals: tuple[tuple[int, int], ...],
                 alerts: list[dict[str, Any]], targets: list[dict[str, Any]] | None = None
                 ) -> None:
        self.data, self.arrivals, self.alerts = data, arrivals, alerts
        self.targets = targets or []
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/api/v1/query":
                    fake.queries.append(q["query"])
                    body = {"resultType": "vector", "result": evaluate(q["query"], fake.data)}
                elif url.path == "/api/v1/query_range":
                    assert q["query"] == ARRIVALS
                    by_min = dict(fake.arrivals)
                    values = [[t, str(by_min.get((t - 60) * 1000, 0))]
                              for t in range(int(q["start"]), int(q["end"]) + 1, int(q["step"]))]
                    body = {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}
                elif url.path == "/api/v1/alerts":
                    body = {"alerts": fake.alerts}
                elif url.path == "/api/v1/targets":
                    body = {"activeTargets": fake.targets, "droppedTargets": []}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps({"status": "success", "data": body}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[Snapshot, FakePrometheus]]:
    """One engine with everything, and a fake Prometheus over two replicas sharing it."""
    cfg = load_config()
    msgs = traffic(NOW_MS - 6 * 3600_000, NOW_MS, rate=15, seed=5)
    whole = Engine(cfg, lambda: NOW_MS)
    feed(whole, msgs, NOW_MS)
    parts = [Engine(cfg, lambda: NOW_MS) for _ in range(2)]
    for i, engine in enumerate(parts):  # Kafka partitions by key: one entity, one replica
        feed(engine, [m for m in msgs if zlib.crc32(m[1].encode()) % 2 == i], NOW_MS)
    for engine in (whole, *parts):  # every clock to the pinned wall time (Engine.tick)
        engine.tick()
    snaps = [e.snapshot() for e in parts]
    # each replica serves its own act-now list on a real metrics server, as `pulse run` does
    servers = [MetricsServer(CollectorRegistry(), lambda: True, "127.0.0.1", 0, routes={
        ACT_NOW_PATH: act_now_app(lambda s=s: s)}).start() for s in snaps]
    targets = [{"health": "up", "labels": {"job": "aftersales-pulse", "instance": f"r{i}"},
                "scrapeUrl": f"http://127.0.0.1:{srv.port}/metrics"}
               for i, srv in enumerate(servers)]
    data = samples(snaps[0], "r0") + samples(snaps[1], "r1") + [
        ("aftersales_build_info", {"job": "aftersales-pulse", "instance": f"r{i}"}, 1.0)
        for i in range(2)]
    arrivals: dict[int, int] = {}
    for s in snaps:
        for m, n in s.arrivals_per_minute:
            arrivals[m] = arrivals.get(m, 0) + n
    alerts = [
        {"labels": {"alertname": "RegionReturnRateHigh", "severity": "warning",
                    "region": "south"},
         "annotations": {"summary_zh": "华南退货率偏高", "summary_en": "South returns high",
                         "description_en": "<script>x</script>", "threshold": "0.15",
                         "comparison": ">="},
         "state": "firing", "activeAt": "2026-11-10T23:40:00Z", "value": "2.1e-01"},
        {"labels": {"alertname": "Pending", "severity": "critical"}, "annotations": {},
         "state": "pending", "activeAt": "2026-11-10T23:59:00Z", "value": "1"},
    ]
    fake = FakePrometheus(data, tuple(sorted(arrivals.items())), alerts, targets)
    yield whole.snapshot(), fake
    fake.close()
    for srv in servers:
        srv.stop()


def test_board_over_prometheus_equals_board_over_one_engine(replicas: Any) -> None:
    whole, fake = replicas
    cfg = load_config()
    prom = PrometheusSource(fake.url, cfg, wall=lambda: NOW_MS, min_interval_s=0).read()
    assert prom.error is None
    assert prom.snapshot is not None
    engine_view = build_view(EngineSource(lambda: whole).read(), "en")
    prom_view = build_view(prom, "en")
    for a, b in zip(engine_view.tiles, prom_view.tiles, strict=True):
        if a.key == "first_response_p90":  # quantiles do not sum: the worst replica
            continue
        assert (a.key, a.value, a.sub, a.level) == (b.key, b.value, b.sub, b.level)
    for key in ("returns", "backlog"):
        assert engine_view.figures[key]["data"] == prom_view.figures[key]["data"], key
    assert (engine_view.figures["arrivals"]["data"][0]["y"]
            == prom_view.figures["arrivals"]["data"][0]["y"])
    assert prom.snapshot.consumer_lag == whole.consumer_lag
    # the act-now list: each replica's own, fetched and merged, is the one engine's list
    assert prom_view.act_now
    assert prom_view.act_now == engine_view.act_now
    assert prom_view.act_note == ""


def test_act_now_names_a_replica_that_does_not_answer(replicas: Any) -> None:
    whole, fake = replicas
    saved = fake.targets
    fake.targets = [*saved, {"health": "up", "labels": {"job": "aftersales-pulse"},
                             "scrapeUrl": "http://127.0.0.1:9/metrics"}]
    try:
        prom = PrometheusSource(fake.url, load_config(), wall=lambda: NOW_MS,
                                min_interval_s=0, timeout_s=1).read()
    finally:
        fake.targets = saved
    view = build_view(prom, "en")
    assert view.act_now == build_view(EngineSource(lambda: whole).read(), "en").act_now
    assert view.act_note == "1 replica(s) unreadable: 127.0.0.1:9"
    assert build_view(prom, "zh").act_note == "1 个副本的工单明细无法读取：127.0.0.1:9"


def test_backlog_totals_without_the_age_gauge(replicas: Any) -> None:
    whole, fake = replicas
    saved = fake.data
    fake.data = [s for s in saved if s[0] != AGE_GAUGE]
    try:
        prom = PrometheusSource(fake.url, load_config(), wall=lambda: NOW_MS,
                                min_interval_s=0).read()
    finally:
        fake.data = saved
    bars = build_view(prom, "en").figures["backlog"]["data"]
    assert bars[0]["name"] == "all ages"
    totals: dict[str, int] = {}
    for (p, _c, _r), n in whole.backlog.items():
        totals[p] = totals.get(p, 0) + n
    assert bars[0]["y"] == [totals[p] for p in bars[0]["x"]]


def test_every_query_sums_or_bounds_across_replicas(replicas: Any) -> None:
    _whole, fake = replicas
    PrometheusSource(fake.url, load_config(), wall=lambda: NOW_MS, min_interval_s=0).read()
    for q in fake.queries:
        assert re.match(r"^(sum|max|min)[ (]", q), q


def test_alerts_from_prometheus(replicas: Any) -> None:
    _whole, fake = replicas
    data = PrometheusSource(fake.url, load_config(), wall=lambda: NOW_MS).read()
    assert [a.name for a in data.alerts] == ["RegionReturnRateHigh"]
    a = data.alerts[0]
    assert a.labels == (("region", "south"),)
    assert (a.value, a.threshold, a.comparison) == (0.21, 0.15, ">=")
    assert a.since_ms == NOW_MS - 20 * 60_000
    view = build_view(data, "zh")
    # the summary names the region already: not repeated (titles stay short, issue 16)
    assert view.alerts[0].name == "华南退货率偏高"
    assert view.alerts[0].since == "持续 20分"


def test_unreachable_prometheus_turns_the_banner_red() -> None:
    data = PrometheusSource("http://127.0.0.1:9", load_config(), timeout_s=0.5).read()
    assert data.snapshot is None
    assert data.error
    assert build_view(data, "en").banner.reasons == ("source",)


def test_pulse_dashboard_command_serves_the_board_over_prometheus(replicas: Any) -> None:
    """``pulse dashboard --source prometheus --prometheus-url URL`` until stopped."""
    import argparse

    import requests

    from dashboard.standalone import dashboard_command
    from pulse.broker import free_port

    _whole, fake = replicas
    port = free_port()
    cfg = load_config(dashboard__port=port)
    stop = threading.Event()
    args = argparse.Namespace(source="prometheus", prometheus_url=fake.url)
    t = threading.Thread(target=dashboard_command, args=(cfg, args, stop), daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the board did not start"
                time.sleep(0.1)
        assert r.status_code == 200
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()


def test_window_summary_sums_add_up_across_replicas(replicas: Any) -> None:
    """The summary's ``_sum`` is additive: the replicas' sums are the whole engine's."""
    whole, fake = replicas
    prom = PrometheusSource(fake.url, load_config(), wall=lambda: NOW_MS, min_interval_s=0).read()
    assert prom.snapshot is not None
    for name, w in whole.windows.items():
        got = prom.snapshot.windows[name]
        assert set(got.first_response_sum_s) == set(w.first_response_sum_s)
        for ch, total in w.first_response_sum_s.items():
            assert got.first_response_sum_s[ch] == pytest.approx(total, rel=1e-12, abs=1e-9)
        assert got.first_responses == w.first_responses
    assert any(v for w in whole.windows.values() for v in w.first_response_sum_s.values())
