"""``pulse run`` as a subprocess for the reliability tests: start, scrape, signal, read its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from core.config import Config


def run_config(cfg: Config, path: Path, **kafka: Any) -> Path:
    """A ``--config`` file with ``cfg``'s topics and short group timeouts (fast rejoins)."""
    body = {"tickets_topic": cfg.kafka.tickets_topic,
            "logistics_topic": cfg.kafka.logistics_topic,
            "max_poll_interval_ms": 6000, "session_timeout_ms": 4000}
    body.update(kafka)
    path.write_text(yaml.safe_dump({"kafka": body}))
    return path


def get(url: str, timeout: float = 3.0) -> tuple[int, str] | None:
    """(status, body), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()
    except OSError:
        return None


class PulseRun:
    """One ``pulse run`` in its own session (its own process group, as systemd/k8s run it),
    stdout and stderr kept in ``log``."""

    def __init__(self, cfg: Config, conf: Path, log: Path, bootstrap: str | None = None) -> None:
        self.port = cfg.metrics_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", "run", "--bootstrap-servers",
             bootstrap or cfg.kafka.bootstrap_servers, "--config", str(conf),
             "--group-id", cfg.kafka.group_id, "--metrics-port", str(self.port),
             "--no-dashboard"],
            stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def get(self, path: str, timeout: float = 3.0) -> tuple[int, str] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"pulse run exited with {self.proc.returncode}:\n{self.tail()}")
        return get(self.base + path, timeout)

    def metrics(self) -> str | None:
        got = self.get("/metrics")
        return got[1] if got is not None and got[0] == 200 else None

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def signal_group(self, sig: int, timeout_s: float = 40.0) -> int:
        """``sig`` to the whole process group (fetch child included); the exit code."""
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._out.close()

    def kill(self) -> None:
        """SIGKILL to the group: nothing of this run survives."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._out.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._out.close()
