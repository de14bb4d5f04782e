"""State per partition (metrics/shards.py): the shards' merged snapshot is exactly the
single engine's, on the simulator's log split by key as Kafka's partitioner splits it."""

from __future__ import annotations

import random
import zlib
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from consumers.decode import Decoder, Rejection
from core.config import Config, load_config
from metrics.engine import Engine
from metrics.shards import ShardedEngine
from metrics.slots import PARTITION_GAUGES
from metrics.snapshot_collector import SnapshotCollector
from tests.integration.helpers import Message, simulated

CFG = load_config()
HOUR = 3_600_000


def exposition(engine: Engine | ShardedEngine) -> str:
    snap = engine.snapshot()
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    return generate_latest(reg).decode()


PER_PARTITION = "aftersales_partition_window_events"


def partition_of(key: str | None, n: int) -> int:
    return zlib.crc32((key or "").encode()) % n


def feed(engine: ShardedEngine, msgs: list[Message], wall_ms: int, parts: int = 3) -> None:
    """Fold ``msgs`` into the shards of ``parts`` partitions per topic, ticking on the way."""
    dec = Decoder(regions=engine.config.regions)
    for i, (topic, key, value) in enumerate(msgs):
        shard = engine.shard(topic, partition_of(key, parts))
        item = dec.decode(value, wall_ms)
        if isinstance(item, Rejection):
            shard.reject(topic, item.reason)
        else:
            shard.process(topic, item, wall_ms)
        if i % 400 == 399:
            engine.tick()
    engine.tick()


def fold(cfg: Config, messages: list[Message], wall_ms: int, partitions: int,
         order_seed: int | None = None, every: int = 500) -> tuple[str, str]:
    """(single engine, shards) expositions after folding ``messages``; ``order_seed``:
    both read the partitions interleaved at random (as a rebuild's fetches do), in the
    same order."""
    single = Engine(cfg, lambda: wall_ms)
    sharded = ShardedEngine(cfg, lambda: wall_ms)
    dec = Decoder(regions=cfg.regions)
    routed = [(topic, partition_of(key, partitions), value) for topic, key, value in messages]
    if order_seed is not None:
        queues: dict[tuple[str, int], list[tuple[str, int, bytes]]] = {}
        for m in routed:
            queues.setdefault(m[:2], []).append(m)
        rnd, routed = random.Random(order_seed), []
        while queues:
            k = rnd.choice(sorted(queues))
            take, queues[k] = queues[k][:rnd.randint(1, 300)], queues[k][rnd.randint(1, 300):]
            routed += take
            if not queues[k]:
                del queues[k]
    for i, (topic, part, value) in enumerate(routed):
        item = dec.decode(value, wall_ms)
        if isinstance(item, Rejection):
            single.reject(topic, item.reason)
            sharded.shard(topic, part).reject(topic, item.reason)
        else:
            single.process(topic, item, wall_ms)
            sharded.shard(topic, part).process(topic, item, wall_ms)
        if i % every == every - 1:
            single.tick()
            sharded.tick()
    single.tick()
    sharded.tick()
    return exposition(single), exposition(sharded)


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_shards_merge_to_the_single_engine(partitions: int) -> None:
    start = 1_790_000_000_000
    msgs = simulated(CFG, hours=30, seed=5, rate=3.0, start_ms=start, bad_every=97,
                     customer_messages=True)
    msgs += msgs[::40]  # re-deliveries: same key, so the same partition …
    # … and copies re-sent by a client with another partitioner: another partition
    msgs += [(topic, f"{key}~", value) for topic, key, value in msgs[::60]]
    one, many = fold(CFG, msgs, start + 31 * HOUR, partitions)
    assert "aftersales_window_first_response_seconds{" in one
    assert one == many


def test_the_partitions_window_counts_add_up_to_the_window_gauges() -> None:
    start = 1_790_000_000_000
    msgs = simulated(CFG, hours=26, seed=9, rate=3.0, start_ms=start, customer_messages=True)
    wall = start + 27 * HOUR
    sharded = ShardedEngine(replace(CFG, partition_window_series=True), lambda: wall)
    feed(sharded, msgs, wall)
    snap = sharded.snapshot()
    assert set(snap.partition_windows) == {(t, p) for t in CFG.kafka.topics for p in range(3)}
    for name, w in snap.windows.items():
        for gauge in PARTITION_GAUGES:
            parts = [snap.partition_windows[key][name][gauge] for key in snap.partition_windows]
            assert sum(parts) == sum(getattr(w, gauge).values()), (name, gauge)
    tickets, logistics = CFG.kafka.tickets_topic, CFG.kafka.logistics_topic
    day = {(t, g): [snap.partition_windows[(t, p)]["24h"][g] for p in range(3)]
           for t in (tickets, logistics) for g in PARTITION_GAUGES}
    assert all(day[(tickets, "tickets_created")])
    assert all(day[(logistics, "orders_delivered")])
    assert not any(day[(logistics, "tickets_created")])
    # and exposed with the partition's labels
    text = exposition(sharded)
    assert PER_PARTITION + "{" not in exposition(ShardedEngine(CFG, lambda: wall))  # opt-in
    line = (f'{PER_PARTITION}{{gauge="tickets_created",partition="1",topic="{tickets}",'
            f'window="24h"}} {float(day[(tickets, "tickets_created")][1])}')
    assert line in text.splitlines()


def test_shards_merge_exactly_when_partitions_interleave_at_random() -> None:
    start = 1_790_000_000_000
    msgs = simulated(CFG, hours=26, seed=9, rate=3.0, start_ms=start, customer_messages=True)
    one, many = fold(CFG, msgs, start + 27 * HOUR, 4, order_seed=3)
    assert one == many


def test_a_single_shard_reads_as_the_engine() -> None:
    sharded = ShardedEngine(CFG, lambda: 0)
    assert len(sharded.tickets) == 0  # none: an empty engine
    sharded.shard("t", 0)
    assert len(sharded.tickets) == 0
    sharded.shard("t", 1)
    with pytest.raises(AttributeError, match="2 shards"):
        _ = sharded.tickets


def test_saving_a_partition_without_state_keeps_nothing() -> None:
    sharded = ShardedEngine(CFG, lambda: 0)
    sharded.shard("t", 0)
    for _ in range(3):
        assert sharded.save(("t", 1), empty=True)
    assert sharded._ids.attached == 1
    with pytest.raises(KeyError):
        sharded.save(("t", 2))


def test_a_shards_part_of_the_shared_value_series_is_read_back_from_its_entries() -> None:
    """The shards share their windows (one sorted list per window and value series, a
    space of entry codes per shard); a shard's part, for
    its checkpoint and for its drop, is read from its entries: on one engine (its own
    lists) that reading equals the lists, and after a drop the shared lists hold exactly
    the other shards' parts."""
    start = 1_790_000_000_000
    wall = start + 27 * HOUR
    msgs = simulated(CFG, hours=26, seed=4, rate=3.0, start_ms=start, customer_messages=True)
    single = Engine(CFG, lambda: wall)
    sharded = ShardedEngine(CFG, lambda: wall)
    dec = Decoder(regions=CFG.regions)
    for i, (topic, key, value) in enumerate(msgs):
        item = dec.decode(value, wall)
        if not isinstance(item, Rejection):
            single.process(topic, item, wall)
            sharded.shard(topic, partition_of(key, 3)).process(topic, item, wall)
        if i % 700 == 699:
            single.tick()
            sharded.tick()
    values = single.windows.window_values()
    held = 0
    for w in single.windows._windows:
        for mine, lst in zip(values[w.name], w.series, strict=True):
            assert sorted(mine) == list(lst)
            held += len(lst)
    assert held > 100

    def union(keys: list[tuple[str, int]]) -> dict[str, list[list[float]]]:
        parts = [sharded.own_windows(k).window_values() for k in keys]
        return {name: [sorted(v for p in parts for v in p[name][i])
                       for i in range(len(parts[0][name]))] for name in parts[0]}

    snap = single.snapshot()
    assert snap.act_now
    assert sharded.snapshot() == snap  # every field, the act-now list included
    keys = sorted(sharded.shards)
    assert union(keys) == {n: [list(x) for x in s] for n, s in sharded._series.items()}
    gone = sharded.shards[keys[0]]
    sharded.drop(keys[0])
    assert union(keys[1:]) == {n: [list(x) for x in s] for n, s in sharded._series.items()}
    kept = gone.windows.window_values()  # the dropped shard keeps its own part
    assert {n: [sorted(v) for v in s] for n, s in kept.items()} == {
        w.name: [list(x) for x in w.series] for w in gone.windows._windows}


def test_a_shards_own_windows_are_what_windows_of_its_own_would_hold() -> None:
    """The shards write into one SlidingWindows, each under its space of entry codes
    (metrics/window_spaces.py): a shard's part read back is, count for count and value
    for value, what an engine folding only its partition on the same clock holds; the
    shared windows' counts are the parts' added; a shard dropped and put back (its
    part merged again) leaves every count as it was."""
    start = 1_790_000_000_000
    wall = start + 27 * HOUR
    msgs = simulated(CFG, hours=26, seed=5, rate=3.0, start_ms=start, customer_messages=True)
    sharded = ShardedEngine(CFG, lambda: wall)
    alone = {p: Engine(CFG, lambda: wall) for p in range(3)}
    dec = Decoder(regions=CFG.regions)
    for i, (topic, key, value) in enumerate(msgs):
        item = dec.decode(value, wall)
        if isinstance(item, Rejection):
            continue
        p = partition_of(key, 3)
        sharded.shard("t", p).process(topic, item, wall)
        for q, e in alone.items():  # every clock follows every partition's events
            if q == p:
                e.process(topic, item, wall)
            else:
                e.clock.observe(item.ts_ms)
        if i % 700 == 699:
            clock = sharded.tick()
            for e in alone.values():
                assert e.tick() == clock
    names = sharded.shards[("t", 0)].windows.names()
    for p, e in alone.items():
        own = sharded.own_windows(("t", p))
        assert own._clock == e.windows._clock
        mine, theirs = own.window_values(), e.windows.window_values()
        for name in names:
            assert own.counts(name) == e.windows.counts(name)
            for i, (a, b) in enumerate(zip(mine[name], theirs[name], strict=True)):
                assert sorted(a) == sorted(b)
                assert own.value_sum(name, i) == e.windows.value_sum(name, i)
    shared = sharded.shards[("t", 0)].windows
    before = {n: shared.counts(n) for n in names}
    assert before == {n: [sum(x) for x in zip(*(e.windows.counts(n) for e in alone.values()),
                                               strict=True)] for n in names}
    assert sum(before["24h"]) > 100
    snap = sharded.snapshot()
    gone = sharded.shards[("t", 1)]
    sharded.drop(("t", 1))
    assert {n: shared.counts(n) for n in names} != before
    sharded.put(("t", 1), gone)
    assert {n: shared.counts(n) for n in names} == before
    assert sharded.snapshot() == snap
