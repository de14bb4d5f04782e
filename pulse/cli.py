"""The ``pulse`` command: parse flags, build the objects, start them. No logic lives here."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pulse.config import Config, load_config
from pulse.errors import PulseError

__all__ = ["main"]

log = logging.getLogger("pulse")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _config(args: argparse.Namespace, **extra: Any) -> Config:
    overrides: dict[str, Any] = dict(extra)
    if getattr(args, "bootstrap_servers", None):
        overrides["kafka__bootstrap_servers"] = args.bootstrap_servers
    if getattr(args, "group_id", None):
        overrides["kafka__group_id"] = args.group_id
    if getattr(args, "metrics_port", None) is not None:
        overrides["metrics_port"] = args.metrics_port
    if getattr(args, "metrics_host", None):
        overrides["metrics_host"] = args.metrics_host
    if getattr(args, "dashboard_port", None) is not None:
        overrides["dashboard__port"] = args.dashboard_port
    if getattr(args, "dashboard_host", None):
        overrides["dashboard__host"] = args.dashboard_host
    if getattr(args, "no_dashboard", False):
        overrides["dashboard__enabled"] = False
    return load_config(getattr(args, "config", None), **overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from pulse.app import App

    cfg = _config(args)
    if not cfg.kafka.bootstrap_servers:
        raise PulseError("--bootstrap-servers (or kafka.bootstrap_servers in --config) is required")
    stop = _stop_on_signals()
    with App(cfg) as app:
        app.print_urls()
        while not stop.wait(0.5):
            if app.failed:
                return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pulse.demo import run_demo

    stop = _stop_on_signals()
    return run_demo(args, stop)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from pulse.simulate import run_simulate

    cfg = _config(args)
    stop = _stop_on_signals()
    return run_simulate(cfg, args, stop)


def _cmd_rules(args: argparse.Namespace) -> int:
    from alerts.export import export_command

    cfg = _config(args)
    return export_command(cfg, args)


def _cmd_notify_bridge(args: argparse.Namespace) -> int:
    from alerts.bridge import bridge_command

    cfg = _config(args)
    stop = _stop_on_signals()
    return int(bridge_command(cfg, args, stop))


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.standalone import dashboard_command

    cfg = _config(args)
    stop = _stop_on_signals()
    return dashboard_command(cfg, args, stop)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pulse", description="Aftersales Pulse")
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="consume an existing Kafka cluster")
    run.add_argument("--bootstrap-servers")
    run.add_argument("--config")
    run.add_argument("--group-id")
    run.add_argument("--metrics-port", type=int)
    run.add_argument("--metrics-host")
    run.add_argument("--dashboard-port", type=int)
    run.add_argument("--dashboard-host")
    run.add_argument("--no-dashboard", action="store_true")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="local broker + simulator + service + board + alerts")
    demo.add_argument("--config")
    demo.add_argument("--metrics-port", type=int)
    demo.add_argument("--dashboard-port", type=int)
    demo.add_argument("--no-dashboard", action="store_true")
    demo.add_argument("--rate", type=float, default=20.0, help="tickets per minute (mean)")
    demo.add_argument("--seed", type=int, default=11)
    demo.add_argument("--surge-after", type=float, default=180.0,
                      help="seconds of live normal traffic before the 3x surge")
    demo.add_argument("--surge-for", type=float, default=3600.0, help="surge length, seconds")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="produce realistic after-sales traffic")
    sim.add_argument("--bootstrap-servers", required=True)
    sim.add_argument("--config")
    sim.add_argument("--rate", type=float, default=20.0, help="tickets per minute (mean)")
    sim.add_argument("--scenario", default="normal")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--backfill-hours", type=float, default=0.0,
                     help="first produce this much history (event time), then go live")
    sim.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    sim.add_argument("--surge-after", type=float, default=180.0,
                     help="double11: seconds of live normal traffic before the surge")
    sim.add_argument("--surge-for", type=float, default=3600.0, help="double11: surge length, s")
    sim.add_argument("--create-topics", action="store_true")
    sim.set_defaults(func=_cmd_simulate)

    rules = sub.add_parser("rules", help="alert rules")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    exp = rsub.add_parser("export", help="write Prometheus alerting rules")
    exp.add_argument("--config")
    exp.add_argument("--rules", help="rule YAML (default: the shipped alerts/rules.yaml)")
    exp.add_argument("--recorded", action="store_true",
                     help="use the recording-rule series of deploy/ (summed across replicas)")
    exp.add_argument("-o", "--output", default="-")
    exp.set_defaults(func=_cmd_rules)

    br = sub.add_parser("notify-bridge", help="Alertmanager webhook → DingTalk/WeCom/Feishu")
    br.add_argument("--config")
    br.add_argument("--host", default="127.0.0.1")
    br.add_argument("--port", type=int, default=9095)
    br.set_defaults(func=_cmd_notify_bridge)

    db = sub.add_parser("dashboard", help="the wall-board alone, reading Prometheus")
    db.add_argument("--config")
    db.add_argument("--source", default="prometheus", choices=["prometheus"])
    db.add_argument("--prometheus-url", required=True)
    db.add_argument("--dashboard-port", type=int)
    db.add_argument("--dashboard-host")
    db.set_defaults(func=_cmd_dashboard)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    # The engine keeps millions of long-lived small objects (tickets, index keys); with
    # the default thresholds the collector rescans them constantly (~30 % of the fold).
    gc.set_threshold(100_000, 50, 100)
    try:
        code: int = args.func(args)
        return code
    except PulseError as exc:
        print(f"pulse: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
