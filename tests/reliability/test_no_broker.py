"""No broker at start (issue 14 item 5, SPEC §2 "No broker yet").

``pulse run`` is started against a port where nothing listens, in both fetch modes
(the fetch child, and ``kafka.fetch_process: false``) side by side. It must stay up
past kafka-python's 30 s bootstrap timeout (where it used to die with a traceback),
say ``aftersales_broker_up 0`` / ``aftersales_ready 0`` on /metrics, answer /readyz 503
naming the address it cannot reach, keep /healthz at 200 (a broker outage is not a
reason to restart the process), log each failed attempt in one line with a capped
backoff — and once a real broker appears on that port, become ready and count
everything produced. Then a SIGTERM to the process group stops it cleanly.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import Config
from pulse.broker import LocalBroker, free_port
from tests.conftest import wait_for
from tests.integration.helpers import handled, produce, simulated
from tests.reliability.runs import PulseRun, run_config

pytestmark = pytest.mark.broker


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_no_broker_then_a_broker_both_fetch_modes(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    runs: dict[str, PulseRun] = {}
    cfgs: dict[str, Config] = {}
    try:
        for mode, fetch_process in (("child", True), ("inline", False)):
            cfg = cfgs[mode] = make_config(kafka__bootstrap_servers=address,
                                           kafka__group_id=f"nb-{mode}-{port}",
                                           kafka__tickets_topic=f"nb-{mode}.tickets",
                                           kafka__logistics_topic=f"nb-{mode}.logistics")
            conf = run_config(cfg, tmp_path / f"{mode}.yaml", fetch_process=fetch_process)
            runs[mode] = PulseRun(cfg, conf, tmp_path / f"{mode}.log")
        started = time.monotonic()
        for mode, run in runs.items():
            text = wait_for(run.metrics, timeout=30)
            assert _value(text, "aftersales_broker_up") == 0.0, (mode, text[-2000:])
            assert _value(text, "aftersales_ready") == 0.0, (mode, text[-2000:])
            # nothing partial: no counter before the state is rebuilt
            assert "aftersales_events_total" not in text, mode
        # past kafka-python's 30 s bootstrap timeout, where it used to exit
        time.sleep(max(0.0, 33 - (time.monotonic() - started)))
        for mode, run in runs.items():
            ready = run.get("/readyz")
            assert ready is not None, mode
            assert ready[0] == 503, (mode, ready)
            assert address in ready[1], (mode, ready)
            assert "cannot reach" in ready[1], (mode, ready)
            health = run.get("/healthz")
            assert health == (200, "ok\n"), (mode, health, run.tail())
            text = run.metrics() or ""
            assert _value(text, "aftersales_broker_up") == 0.0, mode
            assert _value(text, "aftersales_ready") == 0.0, mode
            out = run.tail(100_000)
            assert "Traceback" not in out, (mode, out)
            attempts = out.count("cannot reach Kafka at")
            # backoff 0.5, 1, 2, 4, 8, 10, 10 ... s: about 8 attempts in 33 s, not a storm
            assert 4 <= attempts <= 12, (mode, attempts, out)
            assert address in out, mode

        with LocalBroker(port=port).start() as broker:
            assert broker.bootstrap == address
            messages = {mode: simulated(cfg, hours=2, seed=5, rate=6.0)
                        for mode, cfg in cfgs.items()}
            for mode, cfg in cfgs.items():
                produce(cfg, messages[mode])
            for mode, run in runs.items():
                def counted(run: PulseRun = run, n: int = len(messages[mode])) -> bool:
                    text = run.metrics() or ""
                    return (handled(text) == n and _value(text, "aftersales_ready") == 1.0
                            and _value(text, "aftersales_broker_up") == 1.0)

                try:
                    wait_for(counted, timeout=90)
                except AssertionError as exc:
                    raise AssertionError(f"{mode}: {exc}\n{run.tail()}") from None
                assert run.get("/readyz") == (200, "ready\n"), mode
                assert run.get("/healthz") == (200, "ok\n"), mode
            for mode, run in runs.items():
                code = run.signal_group(signal.SIGTERM)
                out = run.tail(100_000)
                assert code == 0, (mode, out)
                assert "Traceback" not in out, (mode, out)
                assert "fetch process lost" not in out, (mode, out)
    finally:
        for run in runs.values():
            run.close()
