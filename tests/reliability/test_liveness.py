"""Health that means something (issue 14 item 7).

``/healthz`` is the liveness probe: it must fail (503, with the reason) when the
pipeline cannot make progress — the reader loop blocked, the reader thread gone, a
backlog that does not move while the broker answers, the fetch child frozen — and must
NOT fail merely because the broker is unreachable (readiness and ``broker_up`` say
that; a liveness probe restarting every pod would not bring a broker back). Faults are
injected through the ``Service`` object, SIGSTOP of the fetch child and of the broker.

Stopping: SIGTERM or SIGINT to the process group of ``pulse run`` (what systemd, a
container runtime or Ctrl-C in a terminal do) exits 0, and the fetch child neither
prints a ``KeyboardInterrupt`` traceback nor is reported lost and started again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from pulse.service import Service
from tests.conftest import wait_for
from tests.integration.helpers import handled, produce, simulated
from tests.reliability.runs import PulseRun, get, run_config

pytestmark = pytest.mark.broker


def _health(svc: Service) -> tuple[int, str] | None:
    return get(f"http://{svc.server.host}:{svc.server.port}/healthz")


def _metrics(svc: Service) -> str:
    got = get(svc.metrics_url)
    return got[1] if got else ""


def _live_for(svc: Service, seconds: float) -> None:
    """/healthz stays 200 for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = _health(svc)
        assert got == (200, "ok\n"), got
        time.sleep(0.2)


def _not_live(svc: Service, why: str, timeout: float = 20.0) -> str:
    got = wait_for(lambda: (h := _health(svc)) is not None and h[0] == 503 and h, timeout)
    assert why in got[1], got
    return str(got[1])


def test_liveness_under_a_stalled_pipeline(make_config: Callable[..., Config], broker) -> None:
    cfg = make_config(kafka__fetch_process=False)
    first = simulated(cfg, hours=1, seed=41, rate=6.0)
    produce(cfg, first)
    svc = Service(cfg, stall_after_s=2.0).start()
    try:
        assert svc.wait_ready(60)
        wait_for(lambda: handled(_metrics(svc)) == len(first), 30)
        _live_for(svc, 3.0)  # caught up and idle for longer than stall_after_s: alive
        reader = svc.reader

        # 1. the reader loop blocked (a call that never returns)
        release = threading.Event()
        poll_once = reader._poll_once

        def blocked() -> None:
            release.wait(60)

        reader._poll_once = blocked  # type: ignore[method-assign]
        _not_live(svc, "reader loop has not iterated")
        reader._poll_once = poll_once  # type: ignore[method-assign]
        release.set()
        wait_for(lambda: _health(svc) == (200, "ok\n"), 10)

        # 2. stalled with lag: every batch is fetched again and again, never folded in
        process = reader._process

        def stuck(batch: dict[Any, list[Any]]) -> None:
            for tp, records in batch.items():
                reader._consumer.seek(tp, records[0].offset)

        reader._process = stuck  # type: ignore[method-assign]
        second = [(t, k, v.replace(b'"event_id":"', b'"event_id":"again-'))
                  for t, k, v in simulated(cfg, hours=0.2, seed=42, rate=6.0)]
        produce(cfg, second)
        why = _not_live(svc, "stalled")
        assert "messages behind" in why, why
        reader._process = process  # type: ignore[method-assign]
        wait_for(lambda: _health(svc) == (200, "ok\n"), 20)
        wait_for(lambda: handled(_metrics(svc)) == len(first) + len(second), 30)

        # 3. the broker frozen for longer than stall_after_s: not a liveness failure (with
        # a frozen broker one loop iteration may take a few seconds: a bounded commit and
        # DLQ flush, 2 s each; the default stall_after_s is 120 s)
        svc.stall_after_s = 8.0
        os.kill(broker._proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: "aftersales_broker_up 0.0" in _metrics(svc), 30)
            _live_for(svc, 10.0)
        finally:
            os.kill(broker._proc.pid, signal.SIGCONT)
        _live_for(svc, 1.0)
        svc.stall_after_s = 2.0

        # 4. the reader thread gone
        def boom() -> None:
            raise RuntimeError("injected reader failure")

        reader._poll_once = boom  # type: ignore[method-assign]
        why = _not_live(svc, "reader thread stopped")
        assert "injected reader failure" in why, why
    finally:
        svc.stop()


def test_liveness_when_the_fetch_child_freezes(make_config: Callable[..., Config]) -> None:
    cfg = make_config()  # fetch_process on (the default)
    messages = simulated(cfg, hours=0.5, seed=43, rate=6.0)
    produce(cfg, messages)
    svc = Service(cfg, stall_after_s=3.0).start()
    try:
        assert svc.wait_ready(60)
        fetcher = svc.reader.fetcher()
        assert fetcher is not None
        assert fetcher.pid is not None
        pid = fetcher.pid
        _live_for(svc, 1.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            why = _not_live(svc, "fetch process")
            assert str(pid) in why, why
            assert "has not answered" in why, why
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: _health(svc) == (200, "ok\n"), 30)
        wait_for(lambda: handled(_metrics(svc)) == len(messages)
                 and "aftersales_ready 1.0" in _metrics(svc), 60)

        # the child killed, and (injected) never started again
        fetcher._restart = lambda why: None  # type: ignore[method-assign]
        pid = fetcher.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        why = _not_live(svc, "was not started again")
        assert f"fetch process {pid} exited" in why, why
    finally:
        svc.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_by_signal_to_the_process_group_is_quiet(
        make_config: Callable[..., Config], tmp_path: Path, sig: int) -> None:
    cfg = make_config()
    messages = simulated(cfg, hours=0.5, seed=44, rate=6.0)
    produce(cfg, messages)
    run = PulseRun(cfg, run_config(cfg, tmp_path / "pulse.yaml"), tmp_path / "run.log")
    try:
        wait_for(lambda: handled(run.metrics() or "") == len(messages), 60)
        # the fetch child (a forked checkpoint writer may be running beside it)
        assert len([p for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _ppid(p) == run.proc.pid
                    and b"child_main" in _cmdline(p)]) == 1, "no fetch child to signal"
        code = run.signal_group(sig)
    finally:
        run.close()
    out = run.tail(100_000)
    assert code == 0, out
    assert "Traceback" not in out, out
    assert "KeyboardInterrupt" not in out, out
    assert "fetch process lost" not in out, out


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


def _ppid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1
