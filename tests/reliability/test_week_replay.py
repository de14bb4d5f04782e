"""A week-old stream produced again changes no metric (issue 14 item 6, SPEC §1).

A simulator stream spanning a little over the state horizon (7 days) of event time is
produced to the real broker as it happens (the service's wall clock is injected and
moved along, so each id is accepted at about its own time, as by a service that ran
through the week); then the whole stream is produced again, as a backfill re-run does
(fresh Kafka timestamps), and once more as a mirror failover does (a librdkafka producer
keeping each record's original timestamp). Every ``aftersales_*`` series must be what it was, except
``aftersales_records_read_total``, the partitions' next offsets (they grow by each copy),
and ``aftersales_events_duplicate_total``, which counts each copy the service reads: every
copy of the re-run (the events older than the horizon too: they are not accepted as new),
and of the failover those whose Kafka timestamp is within the horizon (the reader skips
the older ones, as on a rebuild).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from confluent_kafka import Producer

from consumers.decode import Decoder, Rejection
from pulse.service import Service
from tests.conftest import scrape, wait_for
from tests.integration.helpers import handled, produce, simulated

DAY_MS = 86_400_000
HORIZON_MS = 7 * DAY_MS


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every ``aftersales_`` sample of a /metrics page."""
    out = {}
    for line in text.splitlines():
        if line.startswith("aftersales_"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def duplicates(s: dict[str, float]) -> Counter[str]:
    got: Counter[str] = Counter()
    for key, value in s.items():
        if key.startswith("aftersales_events_duplicate_total{"):
            got[key.split('topic="', 1)[1].split('"', 1)[0]] += int(value)
    return got


# counted per copy read: they grow by what is produced again
GROWING = ("aftersales_events_duplicate_total{", "aftersales_records_read_total{")


def changed(before: dict[str, float], after: dict[str, float]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(
        f"{k}: {before.get(k)} -> {after.get(k)}" for k in keys
        if not k.startswith(GROWING)
        and before.get(k) != after.get(k)
    )


def read(s: dict[str, float]) -> int:
    return int(sum(v for k, v in s.items() if k.startswith("aftersales_records_read_total{")))


def settled(url: str, want: Counter[str], timeout: float = 90) -> dict[str, float]:
    """The page once the duplicate counters have reached ``want`` and lag is 0."""
    deadline = time.monotonic() + timeout
    while True:
        s = samples(scrape(url))
        lag = sum(v for k, v in s.items() if k.startswith("aftersales_consumer_lag"))
        if (duplicates(s) == want and lag == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(1.2)  # two more snapshots: nothing else arrives
    s = samples(scrape(url))
    assert duplicates(s) == want, (duplicates(s), want)
    return s


def test_a_week_produced_again_changes_no_metric(make_config: Any) -> None:
    wall_now = int(time.time() * 1000)
    cfg = make_config()
    assert cfg.state_horizon_s * 1000 == HORIZON_MS
    # 7 days and 3 hours of event time up to a minute ago: the first 3 hours are older than
    # the horizon once the wall clock is at wall_now
    start = wall_now - HORIZON_MS - 3 * 3_600_000
    msgs = simulated(cfg, hours=7 * 24 + 3 - 1 / 60, seed=14, rate=0.12, start_ms=start)
    dec = Decoder(regions=cfg.regions)
    events = [dec.decode(v, wall_now) for _, _, v in msgs]
    ts = [e.ts_ms for e in events if not isinstance(e, Rejection)]
    assert len(ts) == len(msgs)  # all valid …
    assert ts == sorted(ts)  # … in time order
    old = sum(t <= wall_now - HORIZON_MS for t in ts)
    assert old > 20, old
    assert len(msgs) - old > 5000, len(msgs)
    per_topic = Counter(t for t, _, _ in msgs)

    wall = [start]
    with Service(cfg, wall=lambda: wall[0]) as svc:
        assert svc.wait_ready(60)
        # the week, live: each 6 hours of it produced when the (injected) wall clock
        # reaches their end, so each id is accepted at about its own time
        done = 0
        for end in [*range(start + 6 * 3_600_000, wall_now, 6 * 3_600_000), wall_now]:
            part = [m for m, t in zip(msgs, ts, strict=True) if wall[0] < t <= end]
            wall[0] = end
            produce(cfg, part)
            done += len(part)
            wait_for(lambda n=done: handled(scrape(svc.metrics_url)) >= n, timeout=60)
        assert done == len(msgs)
        first = settled(svc.metrics_url, duplicates(samples(scrape(svc.metrics_url))))
        assert handled(scrape(svc.metrics_url)) == len(msgs)
        seen = [shard.seen for shard in svc.pipeline.engine.shards.values()]  # per partition
        sealed = sum(s.sealed_ids for s in seen)
        assert sealed > len(msgs) // 2, (sealed, sum(map(len, seen)))
        dup0 = duplicates(first)

        # a backfill re-run: the same records, new Kafka timestamps; the oldest are older
        # than the horizon by their ts, and are not accepted as new either
        produce(cfg, msgs)
        rerun = settled(svc.metrics_url, dup0 + per_topic)
        assert changed(first, rerun) == []
        assert read(rerun) == read(first) + len(msgs)

        # a mirror failover: the same records with their original timestamps; those
        # older than the horizon by their Kafka timestamp are skipped by the reader
        p = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "linger.ms": 20})
        for (topic, key, value), t in zip(msgs, ts, strict=True):
            p.produce(topic, value=value, key=key, timestamp=t)
        assert p.flush(30) == 0
        kept = Counter(topic for (topic, _, _), t in zip(msgs, ts, strict=True)
                       if t >= wall_now - HORIZON_MS)
        failover = settled(svc.metrics_url, dup0 + per_topic + kept)
        assert changed(first, failover) == []
        assert read(failover) == read(first) + 2 * len(msgs)  # the next offset, skipped or not
        assert svc.failed is None
