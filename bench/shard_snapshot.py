"""State per partition (issue 17): the cost of the merged snapshot and of the fold with
N shards beside one engine holding the same state, in one run.

24 h of the double11 scenario (surge in the last hour) are decoded once, then folded into
one :class:`~metrics.engine.Engine` and into a :class:`~metrics.shards.ShardedEngine` of
N shards (each event on the shard of ``crc32(key) % N``, as a keyed producer splits the
log), ticking every minute of event time. Printed per N: the fold's CPU rate (decode
excluded) and the snapshot's median / p90 wall time, and whether the merged snapshot's
exposition equals the single engine's (it must).

    python -m bench.shard_snapshot [--rate 20] [--shards 1,6,24] [--runs 50]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import zlib
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from consumers.decode import Decoder
from core.config import load_config
from metrics.engine import Engine
from metrics.shards import ShardedEngine
from metrics.snapshot_collector import SnapshotCollector
from pulse.simulation import Simulator, scenario

DAY_MS = 86_400_000


def events(rate: float) -> tuple[list[tuple[str, int, Any, int]], int]:
    """(topic, crc32 of the key, decoded event, wall ms) of 24 h of double11; the end."""
    cfg = load_config()
    end = (int(time.time() * 1000) // 60000) * 60000
    start = end - DAY_MS
    sim = Simulator(scenario("double11", rate=rate, surge_start_s=(DAY_MS - 3600_000) / 1000,
                             surge_end_s=DAY_MS / 1000 + 600), seed=11, start_ms=start)
    dec = Decoder(regions=cfg.regions, max_message_bytes=cfg.max_message_bytes,
                  max_future_skew_s=cfg.max_future_skew_s)
    topics = {"tickets": cfg.kafka.tickets_topic, "logistics": cfg.kafka.logistics_topic}
    out, wall = [], start
    for ev in sim.until(end):
        wall = max(wall, ev.ts_ms)
        event = dec.decode(orjson.dumps(ev.value), wall)
        if hasattr(event, "event_id"):
            out.append((topics[ev.topic], zlib.crc32(ev.key.encode()), event, wall))
    return out, end


class Wall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def fold(evs: list[tuple[str, int, Any, int]], end: int,
         shards: int | None) -> tuple[Engine | ShardedEngine, float]:
    """The state after ``evs`` (``shards`` None: one engine) and the fold's CPU seconds."""
    cfg = load_config()
    wall = Wall(evs[0][3])
    engine: Engine | ShardedEngine = (Engine(cfg, wall) if shards is None
                                      else ShardedEngine(cfg, wall))
    next_tick = evs[0][3] + 60_000
    gc.collect()
    gc.freeze()  # what is already held (other states) is not scanned by this fold's GC
    t = time.process_time()
    if isinstance(engine, ShardedEngine):
        route = [engine.shard(evs[0][0], p).process for p in range(shards or 1)]
        by_topic = {topic: [engine.shard(topic, p) for p in range(shards or 1)]
                    for topic in {e[0] for e in evs}}
        for topic, h, event, w in evs:
            wall.ms = w
            by_topic[topic][h % len(route)].process(topic, event, w)
            if w >= next_tick:
                engine.tick()
                next_tick += 60_000
    else:
        for topic, _h, event, w in evs:
            wall.ms = w
            engine.process(topic, event, w)
            if w >= next_tick:
                engine.tick()
                next_tick += 60_000
    cpu = time.process_time() - t
    gc.unfreeze()
    wall.ms = end
    engine.tick()
    return engine, cpu


def exposition(engine: Engine | ShardedEngine) -> str:
    snap = engine.snapshot()
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    return generate_latest(reg).decode()


def timed(engines: list[Engine | ShardedEngine], runs: int) -> list[tuple[float, float]]:
    """Median and p90 ms of ``snapshot()`` per engine, the engines taken in turn."""
    samples: list[list[float]] = [[] for _ in engines]
    for _ in range(runs):
        for e, out in zip(engines, samples, strict=True):
            t = time.perf_counter()
            e.snapshot()
            out.append(time.perf_counter() - t)
    res = []
    for x in samples:
        s = sorted(x)
        res.append((statistics.median(s) * 1000, s[int(len(s) * 0.9)] * 1000))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=20.0, help="tickets per minute (24 h mean)")
    p.add_argument("--partitions", default="1,3,12",
                   help="per topic (two topics: 2, 6, 24 shards)")
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args(argv)
    evs, end = events(args.rate)
    print(f"{len(evs)} events, 24 h of double11 at {args.rate:g} tickets/min")
    single, _cpu = fold(evs, end, None)
    ref = single.snapshot()
    for n in (int(x) for x in args.partitions.split(",")):
        sharded, cpu = fold(evs, end, n)
        _again, cpu1 = fold(evs, end, None)  # beside it (the machine is shared)
        del _again
        same = sharded.snapshot() == ref
        (m, p90), (m1, p1) = timed([sharded, single], args.runs)
        print(f"{len(sharded.shards):3d} shards ({n} partitions per topic): fold "
              f"{len(evs) / cpu:,.0f} ev/CPU-s vs one engine's {len(evs) / cpu1:,.0f} "
              f"({cpu1 / cpu:.2f}x); snapshot median {m:.2f} ms (p90 {p90:.2f}) vs one "
              f"engine's {m1:.2f} ms (p90 {p1:.2f}): {m / m1:.1f}x; snapshot equal: {same}")
        del sharded
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
