"""Wall-board refresh cost with a full 24 h state: server time per refresh, bytes per refresh.

Builds one engine from 24 h of simulator traffic (a normal day, then a 3× surge with a
regional return spike in the last hour), with the real alert evaluator run over the last
half hour, then times the board's refresh callback three ways and posts it through the
Dash endpoint to count the bytes a browser receives:

* ``first load``: a new screen, every output sent (empty digest store);
* ``quiet``: nothing changed since the last refresh (only clock and banner are sent);
* ``typical``: three more seconds of traffic since the last refresh.

    python bench/dashboard_bench.py [--rate 20] [--runs 200]

Target (issue 4): ≤ 100 ms server time for one refresh.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dash import no_update
from plotly.io.json import to_json_plotly

from alerts.alerting import Alerting
from consumers.decode import Decoder
from core.config import load_config
from core.snapshot import Snapshot
from dashboard.callbacks import OUTPUTS, Refresher
from dashboard.server import build_app, settings_of
from dashboard.sources import EngineSource
from dashboard.view import build_view
from metrics.engine import Engine
from pulse.simulation import Simulator, scenario

DAY_MS = 86_400_000


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def build_state(rate: float) -> tuple[Engine, Alerting, Clock, Simulator, int]:
    """24 h of traffic folded into an engine, the evaluator run over the last 30 min."""
    cfg = load_config()
    end = (int(time.time() * 1000) // 60000) * 60000
    start = end - DAY_MS
    sim = Simulator(scenario("double11", rate=rate, surge_start_s=(DAY_MS - 3600_000) / 1000,
                             surge_end_s=DAY_MS / 1000 + 600), seed=11, start_ms=start)
    wall = Clock(start)
    engine = Engine(cfg, wall)
    alerting = Alerting.from_config(cfg)
    dec = Decoder(regions=cfg.regions, max_message_bytes=cfg.max_message_bytes,
                  max_future_skew_s=cfg.max_future_skew_s)
    topics = {"tickets": cfg.kafka.tickets_topic, "logistics": cfg.kafka.logistics_topic}
    n = 0
    next_eval = end - 30 * 60_000
    for ev in sim.until(end):
        wall.ms = max(wall.ms, ev.ts_ms)
        event = dec.decode(orjson.dumps(ev.value), wall.ms)
        if hasattr(event, "event_id"):
            engine.process(topics[ev.topic], event, wall.ms)  # type: ignore[arg-type]
            n += 1
        if ev.ts_ms >= next_eval:
            engine.tick()
            alerting.evaluate(engine.snapshot())
            next_eval += 60_000
    wall.ms = end
    return engine, alerting, wall, sim, n


def stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def post(client: Any, key: str, sent: dict[str, str] | None, n: int) -> tuple[int, Any]:
    """One refresh through Dash's HTTP endpoint: (response bytes, the new digest store)."""
    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1]}
               for part in key.strip(".").split("...")]
    body = {
        "output": key, "outputs": outputs,
        "inputs": [{"id": "tick", "property": "n_intervals", "value": n},
                   {"id": "url", "property": "search", "value": ""}],
        "changedPropIds": ["tick.n_intervals"],
        "state": [{"id": "sent", "property": "data", "value": sent or {}}],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code in (200, 204), (r.status_code, r.data[:300])
    if r.status_code == 204:
        return 0, sent
    data = orjson.loads(r.data)
    new = data.get("response", {}).get("sent", {}).get("data", sent)
    return len(r.data), new


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=20.0, help="tickets per minute (24 h mean)")
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    engine, alerting, wall, sim, n = build_state(args.rate)
    engine.tick()
    snap: Snapshot = engine.snapshot()
    built = time.perf_counter() - t0
    cfg = load_config()
    latest = {"snap": snap}
    source = EngineSource(lambda: latest["snap"], alerting)
    refresher = Refresher(source, settings_of(cfg.dashboard))
    print(f"state: {n:,} events in 24 h, backlog {snap.total_backlog:,}, "
          f"{len(alerting.active_alerts())} alerts firing, built in {built:.1f} s")

    timings: dict[str, list[float]] = {"view model only": [], "first load": [], "quiet": [],
                                       "typical (+3 s traffic)": []}
    sent = refresher(0, "", {})[-1]
    for i in range(args.runs):
        t = time.perf_counter()
        build_view(source.read(), "zh", refresher.settings)
        timings["view model only"].append(time.perf_counter() - t)
        t = time.perf_counter()
        refresher(i, "", {})
        timings["first load"].append(time.perf_counter() - t)
        t = time.perf_counter()
        refresher(i, "", sent)
        timings["quiet"].append(time.perf_counter() - t)

    # typical: the engine moves on by 3 s of traffic between refreshes
    dec = Decoder(regions=cfg.regions, max_message_bytes=cfg.max_message_bytes,
                  max_future_skew_s=cfg.max_future_skew_s)
    topics = {"tickets": cfg.kafka.tickets_topic, "logistics": cfg.kafka.logistics_topic}
    app = build_app(cfg.dashboard, source)
    client = app.server.test_client()
    key = next(iter(app.callback_map))
    first_bytes, store = post(client, key, None, 0)
    quiet_bytes, store = post(client, key, store, 1)
    typical_bytes: list[int] = []
    per_output: dict[str, list[int]] = {}
    typical_runs = min(args.runs, 60)
    for i in range(typical_runs):
        wall.ms += 3000
        for ev in sim.until(wall.ms):
            event = dec.decode(orjson.dumps(ev.value), wall.ms)
            if hasattr(event, "event_id"):
                engine.process(topics[ev.topic], event, wall.ms)  # type: ignore[arg-type]
        engine.tick()
        latest["snap"] = engine.snapshot()
        t = time.perf_counter()
        out = refresher(i, "", sent)
        timings["typical (+3 s traffic)"].append(time.perf_counter() - t)
        for spec, value in zip(OUTPUTS, out, strict=False):
            if value is not no_update:
                per_output.setdefault(f"{spec.component}.{spec.prop}", []).append(
                    len(to_json_plotly(value)))
        if not isinstance(out[-1], dict):
            out[-1] = sent
        sent = out[-1]
        size, store = post(client, key, store, i + 2)
        typical_bytes.append(size)

    print(f"\n{'refresh callback (server side)':<34}{'median ms':>10}{'p99 ms':>10}{'runs':>7}")
    for name, samples in timings.items():
        med, p99 = stats(samples)
        print(f"{name:<34}{med:>10.2f}{p99:>10.2f}{len(samples):>7}")
    print(f"\n{'payload per refresh (HTTP body)':<34}{'bytes':>10}")
    print(f"{'first load':<34}{first_bytes:>10,}")
    print(f"{'quiet':<34}{quiet_bytes:>10,}")
    print(f"{'typical (+3 s traffic), median':<34}{int(statistics.median(typical_bytes)):>10,}")
    print(f"{'typical (+3 s traffic), max':<34}{max(typical_bytes):>10,}")
    print("largest outputs in a typical refresh (bytes, mean over the refreshes):")
    ranked = sorted(per_output.items(), key=lambda kv: -sum(kv[1]) / typical_runs)
    for name, sizes in ranked[:6]:
        print(f"  {name:<32}{sum(sizes) // typical_runs:>10,}  (sent in {len(sizes)} of "
              f"{typical_runs})")
    worst = max(stats(s)[1] for s in timings.values())
    print(f"\ntarget ≤ 100 ms per refresh: {'met' if worst <= 100 else 'MISSED'} "
          f"(worst p99 {worst:.1f} ms)")
    alerting.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
