"""``pulse run`` as a real subprocess on a test's topics, plus raw record batches.

The raw Produce request writes a hand-built record batch byte for byte (a wrong CRC, a
compressed payload that does not decompress): what a buggy producer, a bit flip on a disk
or a broker that does not validate (Tansu stores batches as sent) can put in a log.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import calc_crc32c

from core.config import Config
from tests.conftest import scrape, wait_for


class PulseRun:
    """``pulse run`` on ``cfg``'s topics, group and metrics port; output in ``log``."""

    def __init__(self, cfg: Config, tmp_path: Path, name: str = "pulse",
                 kafka: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.conf = tmp_path / f"{name}.yaml"
        self.conf.write_text(yaml.safe_dump({
            "kafka": {
                "tickets_topic": cfg.kafka.tickets_topic,
                "logistics_topic": cfg.kafka.logistics_topic,
                "max_poll_interval_ms": 10000,
                "session_timeout_ms": 6000,
                **(kafka or {}),
            },
            "dashboard": {"enabled": False},
            "alerting": {"enabled": False},
        }))
        self.log = tmp_path / f"{name}.log"
        self.base = f"http://127.0.0.1:{cfg.metrics_port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PulseRun:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pulse.cli", "run", "--bootstrap-servers",
                 self.cfg.kafka.bootstrap_servers, "--config", str(self.conf), "--group-id",
                 self.cfg.kafka.group_id, "--metrics-port", str(self.cfg.metrics_port),
                 "--no-dashboard"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        return scrape(self.base + "/metrics")

    def readyz(self) -> int:
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The /metrics page one publish interval after the service said ready."""
        def ready() -> bool:
            assert self.alive, self.output()
            try:
                return "aftersales_ready 1.0" in self.metrics()
            except OSError:
                return False

        wait_for(ready, timeout=timeout)
        time.sleep(1.0)
        return self.metrics()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM; the exit code (a clean stop is 0)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.terminate()
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def __enter__(self) -> PulseRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def total(text: str, name: str, **labels: str) -> float:
    """The sum of a family's samples matching ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out += float(s.value)
    return out


# -- raw record batches ----------------------------------------------------------------
GZIP = 1


def record_batch(values: list[bytes], *, compression: int = 0,
                 ts_ms: int | None = None) -> bytearray:
    """A v2 record batch, as a producer would send it (offsets from 0)."""
    builder = MemoryRecordsBuilder(magic=2, compression_type=compression, batch_size=1 << 24)
    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    for v in values:
        builder.append(ts, None, v, [])
    builder.close()
    return bytearray(builder.buffer())


def with_crc(batch: bytearray) -> bytearray:
    """Recompute the batch CRC (crc32c of everything after it): a consistent batch."""
    struct.pack_into(">I", batch, 17, calc_crc32c(bytes(batch[21:])))
    return batch


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def produce_raw(bootstrap: str, topic: str, partition: int, batch: bytes) -> int:
    """Produce v3 of one record batch as is; returns its base offset in the log."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    body = struct.pack(">hhi", -1, -1, 10000)  # no transactional id, acks=all, timeout
    body += struct.pack(">i", 1) + _string(topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", partition, len(batch)) + bytes(batch)
    msg = struct.pack(">hhi", 0, 3, 1) + _string("pulse-tests") + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(msg)) + msg)
        resp = _recv(sock, struct.unpack(">i", _recv(sock, 4))[0])
    # correlation id, [topic] count, name, [partition] count, index, error, base offset
    pos = 8
    pos += 2 + struct.unpack_from(">h", resp, pos)[0] + 4
    _, error, base = struct.unpack_from(">ihq", resp, pos)
    assert error == 0, f"produce refused: error {error}"
    return int(base)
