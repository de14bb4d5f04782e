"""Where a checkpoint round's time goes, in process: 7 days of simulator events folded into
six shards (3 + 3 partitions), then the seal of the remembered ids (``RecentIds.settle``)
and each shard's encoding (``ShardedEngine.save``), under cProfile; then the load a
restart makes of those bytes into a fresh engine (``ShardedEngine.load``, what start →
ready waits for once the checkpoints are read), timed, and again under cProfile.
The collector's thresholds are ``pulse``'s; ``--no-gc`` loads with the collector off.

``--lag`` makes every period look lagging (as in a rebuild, whose partitions are read hours
apart), so the recent dicts are merged, not sealed, up to their cap: the state a rebuild
leaves for its first checkpoint. Run: ``python -m bench.checkpoint_cost [N] [--lag] [--no-gc]``.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import sys
import time
import zlib

from bench.common import sim_records
from consumers.decode import Decoder
from core.config import load_config
from metrics import dedupe
from metrics.shards import ShardedEngine


class _Wall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def main(argv: list[str]) -> int:
    gc.set_threshold(100_000, 50, 100)  # as `pulse` runs (pulse/cli.py)
    n = int(next((a for a in argv if a.isdigit()), "6000000"))
    records = sim_records(n)
    cfg = load_config()
    dec = Decoder(regions=cfg.regions, max_message_bytes=cfg.max_message_bytes,
                  max_future_skew_s=cfg.max_future_skew_s)
    topics = [cfg.kafka.tickets_topic, cfg.kafka.logistics_topic]
    now = int(time.time() * 1000)
    eng = ShardedEngine(cfg, _Wall(now))
    expire = dedupe.RecentIds.expire
    if "--lag" in argv:
        def lagging(self: dedupe.RecentIds, clock_ms: int) -> None:
            self._lagging = 1 << 40
            expire(self, clock_ms)
        dedupe.RecentIds.expire = lagging  # type: ignore[method-assign]
    t0 = time.time()
    for i, (t, key, payload) in enumerate(records):
        ev = dec.decode(payload, now)
        if hasattr(ev, "event_id"):
            eng.shard(topics[t], zlib.crc32(key) % 3).process(topics[t], ev, now)
        if i % 20_000 == 0:
            eng.tick()
    eng.tick()
    dedupe.RecentIds.expire = expire  # type: ignore[method-assign]
    print(f"fold {time.time() - t0:.1f} s; recent ids {len(eng._ids):,}, "
          f"remembered {eng.remembered_ids():,}", flush=True)
    prof = cProfile.Profile()
    t0 = time.time()
    prof.enable()
    eng._ids.settle()
    prof.disable()
    print(f"seal {time.time() - t0:.1f} s", flush=True)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(10)
    prof = cProfile.Profile()
    t0, size = time.time(), 0
    payloads = {}
    prof.enable()
    for key in sorted(eng.shards):
        t1 = time.time()
        size += len(payload := eng.save(key))
        payloads[key] = payload
        print(f"save {key}: {len(payload) / 2**20:.1f} MiB in {time.time() - t1:.2f} s")
    prof.disable()
    print(f"save, all shards: {time.time() - t0:.1f} s, {size / 2**20:.1f} MiB", flush=True)
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    # the load a restart makes of them (consumers/load_ahead.py), into a fresh process's
    # engine: what start -> ready waits for
    def load_all(say: bool) -> None:
        fresh = ShardedEngine(cfg, _Wall(now))
        for key, payload in payloads.items():
            t1 = time.time()
            fresh.load(key, payload)
            if say:
                print(f"load {key}: {time.time() - t1:.2f} s")

    if "--no-gc" in argv:
        gc.disable()
    t0 = time.time()
    load_all(True)
    took = time.time() - t0
    print(f"load, all shards: {took:.2f} s ({size / 2**20 / took:.0f} MiB/s)", flush=True)
    prof = cProfile.Profile()
    prof.runcall(load_all, False)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
