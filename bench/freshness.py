"""2. Freshness: send → visible on ``/metrics`` at a steady 5 k events/s.

``pulse run`` (subprocess, alerting off) reads an empty topic pair until ready; then a
producer process sends a realistic mix (simulator events, re-stamped) at a steady rate
with ``ts`` = send time and a unique ``event_id``, recording each send time; this process
scrapes ``/metrics`` every 50 ms and reads the sum of ``aftersales_events_total`` and
``aftersales_watermark_timestamp_seconds``.

* count view: event *i* (the *i*-th sent) is visible at the first scrape whose count is
  ≥ *i* (arrival order across partitions is close to send order);
* watermark view: visible at the first scrape whose watermark is ≥ its ``ts``.

The observation time is the end of the scrape (an upper bound, scrape every 50 ms).
Target: p99 ≤ 1 s.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import urllib.request
from array import array
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    Bench,
    PulseRun,
    Record,
    Result,
    log,
    metric_sum,
    percentile,
    sim_records,
    verdict,
)

TARGET_P99_S = 1.0
SCRAPE_EVERY_S = 0.05


def _producer(cfg: Any, templates: list[Record], rate: float, start_at: float, tag: str,
              out: str) -> None:
    from consumers.publish import EventPublisher

    pub = EventPublisher(cfg.kafka)  # the project's producer: linger 20 ms, acks=1
    topics = cfg.kafka.topics
    objs = [(topics[k], key, orjson.loads(v)) for k, key, v in templates]
    n = len(objs)
    sent = array("d", bytes(8 * n))
    dumps, now = orjson.dumps, time.time
    while now() < start_at:
        time.sleep(0.001)
    i = 0
    while i < n:
        due = min(n, int((now() - start_at) * rate) + 1)
        while i < due:
            topic, key, obj = objs[i]
            obj["event_id"] = f"{tag}-{i}"
            t = now()
            obj["ts"] = int(t * 1000)
            pub.send(topic, key, dumps(obj))
            sent[i] = t
            i += 1
        time.sleep(0.001)
    pub.flush()
    pub.close()
    Path(out).write_bytes(sent.tobytes())


def _kafka_view(cfg: Any, n: int, stop: threading.Event, out: list[float]) -> None:
    """Kafka transport alone: a plain consumer with the reader's fetch settings records
    receive time − ``ts`` of every event (no decode beyond finding ``ts``)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
        max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    try:
        tps = [TopicPartition(t, p) for t in cfg.kafka.topics
               for p in sorted(c.partitions_for_topic(t) or ())]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        loads = orjson.loads
        while len(out) < n and not stop.is_set():
            batch = c.poll(timeout_ms=200)
            now = time.time()
            for recs in batch.values():
                out.extend(now - loads(r.value)["ts"] / 1000.0 for r in recs)
    finally:
        c.close()


def _scrape(url: str) -> tuple[float, float]:
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    count = metric_sum(text, "aftersales_events_total")
    wm = metric_sum(text, "aftersales_watermark_timestamp_seconds")
    return count, wm


def delays(sent: list[float], samples: list[tuple[float, float, float]],
           key: str) -> list[float]:
    """Per event: first scrape (t, count, watermark) that reflects it, minus its send time."""
    out: list[float] = []
    j = 0
    m = len(samples)
    for i, t_send in enumerate(sent):
        if key == "count":
            while j < m and samples[j][1] < i + 1:
                j += 1
        else:
            ts = int(t_send * 1000) / 1000.0
            while j < m and samples[j][2] < ts:
                j += 1
        if j >= m:
            break
        out.append(samples[j][0] - t_send)
    return out


def run(bench: Bench) -> Result:
    res = Result()
    args = bench.args  # type: ignore[attr-defined]
    rate: float = args.freshness_rate
    seconds: float = args.freshness_seconds
    n = int(rate * seconds)
    pool = sim_records(max(bench.rebuild_events, n))
    # a steady-state slice of the mix (past the simulator's warm-up)
    start = max(0, len(pool) - n - len(pool) // 10)
    templates = list(pool[start:start + n])
    del pool

    cfg = bench.config("fresh")
    run_ = PulseRun(bench, cfg, "freshness").start()
    try:
        run_.wait_ready(timeout_s=120)
        url = run_.url + "/metrics"
        out = str(bench.tmp / "freshness-sent.bin")
        start_at = time.time() + 1.0
        proc = mp.get_context("fork").Process(
            target=_producer, args=(cfg, templates, rate, start_at, bench.run_id, out)
        )
        kafka_delays: list[float] = []
        stop = threading.Event()
        kview = threading.Thread(target=_kafka_view, args=(cfg, n, stop, kafka_delays),
                                 daemon=True)
        kview.start()
        proc.start()
        log(f"freshness: producing {n:,} events at {rate:,.0f}/s for {seconds:g} s")
        samples: list[tuple[float, float, float]] = []
        cpu0 = run_.cpu_times()
        t_cpu0 = time.time()
        done_at = None
        scrape_s: list[float] = []
        while True:
            t_req = time.time()
            count, wm = _scrape(url)
            t_resp = time.time()
            scrape_s.append(t_resp - t_req)
            samples.append((t_resp, count, wm))
            if done_at is None and not proc.is_alive():
                done_at = t_resp
                cpu1 = run_.cpu_times()
                t_cpu1 = t_resp
            if done_at is not None and (count >= n or t_resp - done_at > 15):
                break
            time.sleep(max(0.0, t_req + SCRAPE_EVERY_S - time.time()))
        proc.join()
        rss = run_.rss()
        stop.set()
        kview.join(30)
    finally:
        run_.stop()
    sent = list(array("d", Path(out).read_bytes()))
    produced_rate = n / (sent[-1] - sent[0]) if n > 1 else 0.0
    cpu_share = (cpu1 - cpu0) / max(1e-9, t_cpu1 - t_cpu0)

    by_count = sorted(delays(sent, samples, "count"))
    by_wm = sorted(delays(sent, samples, "watermark"))
    by_kafka = sorted(kafka_delays)
    seen = int(samples[-1][1]) if samples else 0
    p50, p99 = percentile(by_count, 0.5), percentile(by_count, 0.99)
    w50, w99 = percentile(by_wm, 0.5), percentile(by_wm, 0.99)
    res.details.update({
        "events": n, "rate_target": rate, "rate_achieved": produced_rate,
        "reflected": seen, "count_view": {"p50": p50, "p90": percentile(by_count, 0.9),
                                          "p99": p99, "max": by_count[-1] if by_count else None},
        "watermark_view": {"p50": w50, "p99": w99},
        "kafka_only": {"p50": percentile(by_kafka, 0.5), "p99": percentile(by_kafka, 0.99),
                       "n": len(by_kafka)},
        "service_cpu_share": cpu_share,
        "service_rss": rss, "scrapes": len(samples),
        "scrape_s_median": sorted(scrape_s)[len(scrape_s) // 2] if scrape_s else None,
    })
    label = f"{produced_rate:,.0f} ev/s × {seconds:g} s"
    res.add("2 freshness", f"send → /metrics p50 (count view, {label})", f"{p50 * 1000:,.0f} ms",
            "", "")
    res.add("2 freshness", "send → /metrics p99 (count view)", f"{p99 * 1000:,.0f} ms",
            f"≤ {TARGET_P99_S * 1000:.0f} ms", verdict(p99 <= TARGET_P99_S,
                                                      f"{p99 / TARGET_P99_S:.2f}× target"))
    res.add("2 freshness", "send → /metrics p50 / p99 (watermark view)",
            f"{w50 * 1000:,.0f} / {w99 * 1000:,.0f} ms", f"≤ {TARGET_P99_S * 1000:.0f} ms",
            verdict(w99 <= TARGET_P99_S, f"{w99 / TARGET_P99_S:.2f}× target"))
    res.add("2 freshness", "Kafka alone: send → plain consumer p50 / p99 (part of the above)",
            f"{percentile(by_kafka, 0.5) * 1000:,.0f} / "
            f"{percentile(by_kafka, 0.99) * 1000:,.0f} ms",
            "", "reader default fetch settings")
    res.add("2 freshness", "events reflected / sent", f"{seen:,} / {n:,}", "all",
            verdict(seen >= n))
    res.add("2 freshness", "pulse run CPU while live", f"{cpu_share * 100:.0f} % of a core", "",
            f"RSS {rss / 2**20:,.0f} MiB")
    return res


if __name__ == "__main__":  # pragma: no cover
    import sys

    from bench.run import main

    sys.exit(main(["--only", "freshness", *sys.argv[1:]]))
