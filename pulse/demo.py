"""``pulse demo``: a local broker, a day of history, a live 双11 surge, and everything on.

Without ``--config`` it runs with ``pulse/demo.yaml``: email on an office-hours calendar
with China's holidays, and the shipped platform scores (SPEC §7); customers write again
(``ticket.message``), so turns, customers awaiting a reply and the scores are live.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import threading
import time
from dataclasses import replace

from consumers.admin import ensure_topics
from consumers.kafka_settings import check_settings
from core.config import load_config
from core.errors import PulseError
from pulse.app import App
from pulse.broker import LocalBroker
from pulse.ports import ensure_service_ports
from pulse.simulate import LiveTraffic

__all__ = ["DEMO_CONFIG", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CONFIG = "demo.yaml"
"""The demo's configuration file, inside the ``pulse`` package (shipped in the wheel)."""


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    overrides: dict[str, object] = {
        # one process, one local broker: a short rebalance timeout makes the join quick
        "kafka__max_poll_interval_ms": 10000,
        "kafka__session_timeout_ms": 6000,
    }
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    if args.dashboard_port is not None:
        overrides["dashboard__port"] = args.dashboard_port
    if args.no_dashboard:
        overrides["dashboard__enabled"] = False
    if args.config:
        cfg = load_config(args.config, **overrides)
    else:
        with importlib.resources.as_file(
            importlib.resources.files("pulse") / DEMO_CONFIG
        ) as path:
            cfg = load_config(path, **overrides)
    check_settings(cfg.kafka)
    ensure_service_ports(cfg)  # before the broker starts: a port in use is one line
    with LocalBroker() as broker:
        cfg = replace(cfg, kafka=replace(cfg.kafka, bootstrap_servers=broker.bootstrap))
        print(f"broker:     {broker.bootstrap} (Tansu, in memory)", flush=True)
        ensure_topics(cfg.kafka)
        calendars = ", ".join(f"{ch}: {name}" for ch, name in cfg.business_hours.channels.items())
        print(f"config:     {args.config or 'the demo config (pulse/demo.yaml)'}; business "
              f"hours {calendars or 'none (24x7)'}; scores "
              f"{', '.join(s.name for s in cfg.scores) or 'none'}", flush=True)
        traffic = LiveTraffic(
            cfg, scenario_name="double11", rate=args.rate, seed=args.seed,
            backfill_s=24 * 3600, surge_after_s=args.surge_after, surge_for_s=args.surge_for,
            with_bad_messages=True, customer_messages=True,
        )
        t0 = time.monotonic()
        n = traffic.backfill()
        print(f"history:    {n} events of the last 24 h produced in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        with App(cfg) as app:
            app.print_urls()
            if not app.service.wait_ready(300):
                raise PulseError("the service did not catch up with the log within 300 s")
            print(f"ready:      state rebuilt in {time.monotonic() - t0:.1f} s; live traffic, "
                  f"3x surge in {args.surge_after:.0f} s for {args.surge_for:.0f} s "
                  "(Ctrl-C stops)", flush=True)
            producer = threading.Thread(
                target=traffic.run, args=(stop, args.duration), name="simulator", daemon=True
            )
            producer.start()
            deadline = time.monotonic() + args.duration if args.duration > 0 else None
            while not stop.wait(0.5):
                if app.failed or (deadline is not None and time.monotonic() > deadline):
                    break
            stop.set()
            producer.join(10)
    print("stopped", flush=True)
    return 0
