"""1. Throughput: one pre-filled topic pair, drained four ways in one run.

* raw drain — kafka-python ``assign`` + ``seek_to_beginning`` + ``poll(max_records=5000)``,
  records discarded, until every record is read (the fetch settings of the reader);
* decode-only — the same, plus ``Decoder.decode`` of every value;
* pipeline, in-process — ``pulse.service.Service`` (the reader, engine, snapshots every
  0.5 s, the HTTP server) with a fresh group: from the first assignment (the rebuild
  starts) until ``reader.ready``; the group-join delay is measured and reported apart;
* pipeline, ``pulse run`` — the real command in a subprocess (alerting off, no board),
  timed by its own log (rebuild start → "state rebuilt; ready") and, from the outside,
  process start → ``/readyz`` 200 minus the same measured on empty topics (interpreter
  start, imports, group join);
* engine only — the unchanged ``Pipeline.run`` loop over the same records held in
  memory (``bench.fake_kafka``, no broker): the CPU ceiling of the pipeline.

Target: pipeline ≥ 0.6 × raw drain.
"""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

from bench.common import (
    Bench,
    PulseRun,
    Record,
    Result,
    fill,
    fmt_rate,
    log,
    metric_sum,
    sim_records,
    type_mix,
    verdict,
)

TARGET_RATIO = 0.6


def drain(cfg: Any, n: int, *, decode: bool) -> float:
    """Seconds to read ``n`` records from the beginning of the topic pair."""
    from kafka import KafkaConsumer, TopicPartition

    from consumers.decode import Decoder

    decoder = Decoder(regions=cfg.regions)
    consumer = KafkaConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    try:
        tps = [TopicPartition(t, p) for t in cfg.kafka.topics
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        dec = decoder.decode
        got = 0
        t0 = time.perf_counter()
        while got < n:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            if decode:
                wall = int(time.time() * 1000)
                for records in batch.values():
                    for rec in records:
                        dec(rec.value, wall)
                    got += len(records)
            else:
                for records in batch.values():
                    got += len(records)
            if not batch and time.perf_counter() - t0 > 600:
                raise TimeoutError(f"drain stalled at {got}/{n}")
        return time.perf_counter() - t0
    finally:
        consumer.close()


def pipeline_in_process(cfg: Any, n: int, timeout_s: float = 1800) -> dict[str, Any]:
    """Service in this process: join delay, rebuild-to-ready time, events processed, and
    what the reader asked of Kafka (its consumer counts polls, records and seeks)."""
    import consumers.reader as reader_mod
    from bench.fake_kafka import counting_consumer
    from pulse.service import Service

    stats: dict[str, float] = {}
    with mock.patch.object(reader_mod, "SkippingConsumer", counting_consumer(stats)):
        svc = Service(Bench.one_thread(cfg))
        t0 = time.perf_counter()
        svc.start()
        t_join = None
        try:
            while not svc.reader.ready:
                if t_join is None and svc.reader.rebuilds:
                    t_join = time.perf_counter()
                if svc.failed:
                    raise RuntimeError(f"reader failed: {svc.failed!r}")
                if time.perf_counter() - t0 > timeout_s:
                    folded = sum(svc.pipeline.engine.events_total.values())
                    raise TimeoutError(
                        f"in-process Service not ready after {timeout_s:.0f} s: rebuilds="
                        f"{svc.reader.rebuilds} folded={folded} {stats}"
                    )
                time.sleep(0.005)
            t_ready = time.perf_counter()
            processed = sum(svc.pipeline.engine.events_total.values())
            rebuilds = svc.reader.rebuilds
        finally:
            svc.stop()
    if t_join is None:
        t_join = t0
    if processed != n:
        log(f"throughput: in-process pipeline folded {processed} events, expected {n}")
    return {"join_s": t_join - t0, "rebuild_s": t_ready - t_join, "processed": processed,
            "rebuilds": rebuilds, "kafka": dict(stats)}


def pipeline_subprocess(bench: Bench, cfg: Any, n: int,
                        fetch_process: bool = True) -> dict[str, float]:
    run = PulseRun(bench, cfg, "throughput", fetch_process=fetch_process).start()
    try:
        ready_s = run.wait_ready()
        phases = run.log_phases()
        rss = run.rss()
        text = run.scrape()
    finally:
        run.stop()
    processed = metric_sum(text, "aftersales_events_total")
    if processed != n:
        log(f"throughput: pulse run folded {processed:.0f} events, expected {n}")
    return {"ready_s": ready_s, "rss": rss, "processed": processed, **phases}


def engine_only(cfg: Any, records: list[Record]) -> float:
    """``Pipeline.run`` over the records held in memory (``bench.fake_kafka``)."""
    from bench.fake_kafka import by_partition, folded, run_reader

    by_tp = by_partition(cfg, records)
    t0 = time.perf_counter()
    reader = run_reader(cfg, by_tp)
    dt = time.perf_counter() - t0
    if folded(reader) != len(records):
        log(f"throughput: engine only folded {folded(reader)} events, expected {len(records)}")
    return dt


def run(bench: Bench) -> Result:
    res = Result()
    n = bench.events
    records = sim_records(max(n, bench.rebuild_events))[:n]
    res.details["mix"] = {k: round(v, 4) for k, v in type_mix(records).items()}
    res.details["bytes_per_event"] = sum(len(v) for _, _, v in records) / n
    cfg = bench.config("tp")
    res.details["fill_events_per_s"] = fill(bench, cfg, records, processes=3)
    empty = bench.config("tp-empty")

    log(f"throughput: raw drain of {n:,} events")
    raw = drain(cfg, n, decode=False)
    log(f"throughput: raw {n / raw:,.0f} ev/s; decode-only drain")
    dec = drain(cfg, n, decode=True)
    log(f"throughput: decode-only {n / dec:,.0f} ev/s; in-process pipeline")
    inproc = pipeline_in_process(bench.fresh_group(cfg), n, timeout_s=120 + n / 1000)
    log(f"throughput: in-process {n / inproc['rebuild_s']:,.0f} ev/s; pulse run (empty topics)")
    base = pipeline_subprocess(bench, bench.fresh_group(empty), 0)
    log(f"throughput: pulse run start-up {base['ready_s']:.2f} s; pulse run ({n:,} events)")
    sub = pipeline_subprocess(bench, bench.fresh_group(cfg), n)
    log(f"throughput: pulse run {n / sub.get('rebuild_s', float('nan')):,.0f} ev/s; "
        "pulse run with kafka.fetch_process off (one thread)")
    one = pipeline_subprocess(bench, bench.fresh_group(cfg), n, fetch_process=False)
    log("throughput: engine only (in-memory records)")
    eng = engine_only(cfg, records)

    raw_rate = n / raw
    sub_rate = n / sub["rebuild_s"] if sub.get("rebuild_s") else float("nan")
    # from the outside: start → /readyz 200, minus this run's own join (its first assignment)
    sub_outside = n / max(1e-9, sub["ready_s"] - sub.get("start_to_join_s", 0.0))
    in_rate = n / inproc["rebuild_s"]
    ratio = sub_rate / raw_rate
    one_rate = n / one["rebuild_s"] if one.get("rebuild_s") else float("nan")
    res.details.update({
        "events": n, "raw_s": raw, "decode_s": dec, "in_process": inproc,
        "pulse_run": sub, "pulse_run_one_thread": one, "pulse_run_empty": base,
        "engine_only_s": eng,
    })
    t = f"{n:,} ev"
    res.add("1 throughput", f"raw kafka-python drain ({t})", fmt_rate(raw_rate), "",
            "1.00× raw")
    res.add("1 throughput", "decode-only drain", fmt_rate(n / dec), "",
            f"{raw / dec:.2f}× raw")
    res.add("1 throughput", "pipeline: pulse run (own log: rebuild start→ready)",
            fmt_rate(sub_rate), f"≥ {TARGET_RATIO}× raw",
            verdict(ratio >= TARGET_RATIO, f"{ratio:.2f}× raw"))
    res.add("1 throughput", "pipeline: pulse run (start→/readyz 200, minus its join)",
            fmt_rate(sub_outside), f"≥ {TARGET_RATIO}× raw",
            verdict(sub_outside / raw_rate >= TARGET_RATIO, f"{sub_outside / raw_rate:.2f}× raw"))
    res.add("1 throughput", "pulse run, one thread (kafka.fetch_process: false)",
            fmt_rate(one_rate), "", f"{one_rate / raw_rate:.2f}× raw")
    res.add("1 throughput", "pipeline: in-process Service, one thread (join→ready)",
            fmt_rate(in_rate),
            f"≥ {TARGET_RATIO}× raw",
            verdict(in_rate / raw_rate >= TARGET_RATIO, f"{in_rate / raw_rate:.2f}× raw"))
    k = inproc["kafka"]
    res.add("1 throughput", "in-process reader: records fetched per record in the topic",
            f"{k['records'] / n:.2f}×", "1.00×",
            f"{k['seeks']:.0f} seeks rewound {k['rewound']:,.0f}; "
            f"{k['poll_s'] / inproc['rebuild_s']:.0%} of the time in poll()")
    res.add("1 throughput", "engine only, records in memory (no Kafka)", fmt_rate(n / eng), "",
            f"{n / eng / raw_rate:.2f}× raw")
    res.add("1 throughput", "pulse run: start → first assignment (python, imports, join)",
            f"{sub.get('start_to_join_s', float('nan')):.2f} s", "", "excluded above")
    res.add("1 throughput", "pulse run on empty topics: start → /readyz 200",
            f"{base['ready_s']:.2f} s", "",
            f"assign→ready {base.get('rebuild_s', float('nan')):.2f} s")
    res.add("1 throughput", "in-process Service: start → first assignment (group join)",
            f"{inproc['join_s']:.2f} s", "", "excluded above")
    res.add("1 throughput", "pulse run RSS when ready (with its fetch process)",
            f"{sub['rss'] / 2**20:,.0f} MiB", "", f"one thread: {one['rss'] / 2**20:,.0f} MiB")
    return res


if __name__ == "__main__":  # pragma: no cover - python -m bench.throughput for one-offs
    import sys

    from bench.run import main

    sys.exit(main(["--only", "throughput", *sys.argv[1:]]))

