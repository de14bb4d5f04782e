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
In the same run a plain kafka-python consumer (this process, the reader's fetch settings)
records send → poll for every event: Kafka's own freshness, the floor.
Targets (issue 17): p99 ≤ 400 ms, and ≤ 1.5 × the plain consumer's p99.
"""

from __future__ import annotations

import multiprocessing as mp
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
    fill,
    log,
    metric_sum,
    percentile,
    sim_records,
    verdict,
)
from consumers.reader import FETCH_MAX_WAIT_MS

TARGET_P99_S = 0.4
TARGET_RATIO = 1.5  # p99 of send → /metrics ÷ p99 of send → plain consumer poll
SCRAPE_EVERY_S = 0.05
# the two series the views read, as a Prometheus scrape config's ``params: {name[]: ...}``
# asks for them: the same visibility, without rendering every series 20 times a second
WATCHED = ("aftersales_events_total", "aftersales_watermark_timestamp_seconds")
# what is scraped → (the run's name and details key, its rows' tag)
SCRAPES = {"full": ("fresh", ""),
           "watched": ("fresh-watched", " [scraping the 2 series the views read]")}


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


def _kafka_view(cfg: Any, n: int, stop: Any, path: str, since_ms: int,
                settings: dict[str, Any]) -> None:
    """Kafka transport alone, in its own process (as ``pulse run`` is): a plain consumer
    records receive time − ``ts`` of every event (no decode beyond finding ``ts``) into
    ``path``; with ``since_ms`` it starts near the end of the log and times only events
    sent after it (not the history)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
        max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024, **settings,
    )
    try:
        tps = [TopicPartition(t, p) for t in cfg.kafka.topics
               for p in sorted(c.partitions_for_topic(t) or ())]
        c.assign(tps)
        if since_ms:  # Tansu's end offsets under-count (README): the ts filter does the rest
            c.seek_to_end(*tps)
        else:
            c.seek_to_beginning(*tps)
        loads = orjson.loads
        out = array("d")
        while len(out) < n and not stop.is_set():
            batch = c.poll(timeout_ms=200)
            now = time.time()
            for recs in batch.values():
                ts = [loads(r.value)["ts"] for r in recs]
                # the history's ts may be ISO strings; what was sent live is ms
                out.extend(now - t / 1000.0 for t in ts if type(t) is int and t >= since_ms)
    finally:
        c.close()
    Path(path).write_bytes(out.tobytes())


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


# before issue 17: a snapshot every 0.5 s, kafka-python's fetch_max_wait_ms
FIXED_TICK_YAML = "snapshots:\n  min_interval_s: 0.5\n"
FIXED_TICK_CONSUMER = {"fetch_max_wait_ms": 500}


def _live(bench: Bench, name: str, templates: list[Record], history: list[Record],
          rate: float, extra_yaml: str = "",
          consumer: dict[str, Any] | None = None, scrape: str = "full") -> dict[str, Any]:
    """One ``pulse run``: ``history`` read until ready, then ``templates`` sent live at
    ``rate`` while ``/metrics`` and a plain consumer watch; every delay in the details.
    ``scrape``: ``full`` reads every series, ``watched`` only the two the views read
    (``name[]``): the observer's own cost, 20 scrapes a second, is the difference."""
    n = len(templates)
    cfg = bench.config(name)
    if history:
        fill(bench, cfg, history, processes=3)
    run_ = PulseRun(bench, cfg, name, extra_yaml=extra_yaml, consumer=consumer).start()
    try:
        run_.wait_ready(timeout_s=600)
        url = run_.url + "/metrics"
        if scrape == "watched":
            url += "?" + "&".join(f"name[]={series}" for series in WATCHED)
        if history:  # ready publishes the rebuilt state at once: its count is the base
            time.sleep(1.0)
        base = _scrape(url)[0]
        out = str(bench.tmp / f"{name}-sent.bin")
        start_at = time.time() + 1.0
        proc = mp.get_context("fork").Process(
            target=_producer, args=(cfg, templates, rate, start_at, f"{bench.run_id}-{name}",
                                    out)
        )
        # two plain consumers: kafka-python's own defaults, and the reader's fetch settings
        ctx = mp.get_context("fork")
        stop = ctx.Event()
        since = int(time.time() * 1000) if history else 0
        kpaths = [str(bench.tmp / f"{name}-kafka-{i}.bin") for i in range(2)]
        kviews = [ctx.Process(target=_kafka_view, args=(cfg, n, stop, path, since, kw))
                  for path, kw in zip(kpaths, ({}, {"fetch_max_wait_ms": FETCH_MAX_WAIT_MS}),
                                      strict=True)]
        for kview in kviews:
            kview.start()
        proc.start()
        log(f"freshness ({name}): producing {n:,} events at {rate:,.0f}/s"
            f"{f' over {len(history):,} of history' if history else ''}")
        samples: list[tuple[float, float, float]] = []
        cpu0 = run_.cpu_times()
        t_cpu0 = time.time()
        done_at = None
        scrape_s: list[float] = []
        while True:
            t_req = time.time()
            count, wm = _scrape(url)
            count -= base
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
        for kview in kviews:
            kview.join(30)
        kafka_delays, same_delays = (
            list(array("d", Path(p).read_bytes())) if Path(p).exists() else [] for p in kpaths)
    finally:
        run_.stop()
    sent = list(array("d", Path(out).read_bytes()))
    by_count = sorted(delays(sent, samples, "count"))
    by_wm = sorted(delays(sent, samples, "watermark"))
    by_kafka = sorted(kafka_delays)
    by_same = sorted(same_delays)
    return {
        "events": n, "history": len(history),
        "rate_achieved": n / (sent[-1] - sent[0]) if n > 1 else 0.0,
        "reflected": int(samples[-1][1]) if samples else 0,
        "count_view": {"p50": percentile(by_count, 0.5), "p90": percentile(by_count, 0.9),
                       "p99": percentile(by_count, 0.99),
                       "max": by_count[-1] if by_count else None},
        "watermark_view": {"p50": percentile(by_wm, 0.5), "p99": percentile(by_wm, 0.99)},
        "kafka_only": {"p50": percentile(by_kafka, 0.5), "p99": percentile(by_kafka, 0.99),
                       "n": len(by_kafka)},
        "kafka_reader_settings": {"p50": percentile(by_same, 0.5),
                                  "p99": percentile(by_same, 0.99), "n": len(by_same),
                                  "fetch_max_wait_ms": FETCH_MAX_WAIT_MS},
        "service_cpu_share": (cpu1 - cpu0) / max(1e-9, t_cpu1 - t_cpu0),
        "service_rss": rss, "scrapes": len(samples),
        "scrape_s_median": sorted(scrape_s)[len(scrape_s) // 2] if scrape_s else None,
    }


def run(bench: Bench) -> Result:
    res = Result()
    args = bench.args  # type: ignore[attr-defined]
    rate: float = args.freshness_rate
    seconds: float = args.freshness_seconds
    prefill: int = getattr(args, "freshness_prefill", 0)
    n = int(rate * seconds)
    pool = sim_records(max(bench.rebuild_events, n + prefill))
    # a steady-state slice of the mix (past the simulator's warm-up), after the history
    start = max(prefill, len(pool) - n - len(pool) // 10)
    templates = list(pool[start:start + n])
    history = list(pool[:min(prefill, start)])
    del pool

    scrapes = getattr(args, "freshness_scrape", "full,watched").split(",")
    if not set(scrapes) <= set(SCRAPES):
        raise ValueError(f"--freshness-scrape: {scrapes}; each one of {', '.join(SCRAPES)}")
    # (details key, run name, config, consumer settings, scrape, row tag)
    runs: list[tuple[str, str, str, dict[str, Any] | None, str, str]] = [
        ("fixed", "fresh-fixed", FIXED_TICK_YAML, FIXED_TICK_CONSUMER, "full",
         " [before: 0.5 s tick, 500 ms fetch wait]")] if getattr(
        args, "freshness_fixed_tick", False) else []
    for scrape in scrapes:
        key, tag = SCRAPES[scrape]
        runs.append((key, key, "", None, scrape, tag))
    for key, name, yaml, consumer, scrape, tag in runs:
        d = _live(bench, name, templates, history, rate, yaml, consumer, scrape)
        d["scrape"] = scrape
        res.details[key] = d
        if key == "fresh":
            res.details.update(d)  # the default's figures stay where they were
        _rows(res, d, seconds, tag)
    return res


def _rows(res: Result, d: dict[str, Any], seconds: float, tag: str) -> None:
    cv, wv, kv = d["count_view"], d["watermark_view"], d["kafka_only"]
    sv = d["kafka_reader_settings"]
    p50, p99, w50, w99, k50, k99 = (cv["p50"], cv["p99"], wv["p50"], wv["p99"],
                                    kv["p50"], kv["p99"])
    s50, s99 = sv["p50"], sv["p99"]
    n, seen = d["events"], d["reflected"]
    hist = f", {d['history']:,} events of history" if d["history"] else ""
    label = f"{d['rate_achieved']:,.0f} ev/s × {seconds:g} s{hist}"
    res.add("2 freshness", f"send → /metrics p50 (count view, {label}){tag}",
            f"{p50 * 1000:,.0f} ms", "", "")
    res.add("2 freshness", f"send → /metrics p99 (count view){tag}", f"{p99 * 1000:,.0f} ms",
            f"≤ {TARGET_P99_S * 1000:.0f} ms", verdict(p99 <= TARGET_P99_S,
                                                      f"{p99 / TARGET_P99_S:.2f}× target"))
    res.add("2 freshness", f"send → /metrics p50 / p99 (watermark view){tag}",
            f"{w50 * 1000:,.0f} / {w99 * 1000:,.0f} ms", f"≤ {TARGET_P99_S * 1000:.0f} ms",
            verdict(w99 <= TARGET_P99_S, f"{w99 / TARGET_P99_S:.2f}× target"))
    res.add("2 freshness", f"Kafka alone: send → plain consumer poll p50 / p99{tag}",
            f"{k50 * 1000:,.0f} / {k99 * 1000:,.0f} ms", "", "kafka-python defaults")
    res.add("2 freshness", f"Kafka alone, the reader's fetch settings p50 / p99{tag}",
            f"{s50 * 1000:,.0f} / {s99 * 1000:,.0f} ms", "",
            f"fetch_max_wait_ms {sv['fetch_max_wait_ms']}")
    ratio = p99 / k99 if k99 else float("inf")
    same = p99 / s99 if s99 else float("inf")
    d["p99_ratio_vs_kafka"], d["p99_ratio_vs_same_settings"] = ratio, same
    res.add("2 freshness", f"p99 send → /metrics ÷ p99 plain consumer (defaults){tag}",
            f"{ratio:.2f}×", f"≤ {TARGET_RATIO:g}×", verdict(ratio <= TARGET_RATIO))
    res.add("2 freshness", f"p99 send → /metrics ÷ p99 plain consumer (same settings){tag}",
            f"{same:.2f}×", "", "what the service adds to its own fetch")
    res.add("2 freshness", f"events reflected / sent{tag}", f"{seen:,} / {n:,}", "all",
            verdict(seen >= n))
    res.add("2 freshness", f"pulse run CPU while live{tag}",
            f"{d['service_cpu_share'] * 100:.0f} % of a core", "",
            f"RSS {d['service_rss'] / 2**20:,.0f} MiB")


if __name__ == "__main__":  # pragma: no cover
    import sys

    from bench.run import main

    sys.exit(main(["--only", "freshness", *sys.argv[1:]]))
