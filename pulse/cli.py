"""The ``pulse`` command: parse flags, build the objects, start them. No logic lives here."""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from core.config import Config, DashboardConfig, load_config
from core.errors import PulseError
from core.logs import FORMATS, LEVELS, configure_logging
from pulse import __version__
from pulse.ports import ensure_free, ensure_service_ports
from pulse.simulation import SCENARIOS
from pulse.watch import BrokerWatch

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
    from consumers.kafka_settings import check_settings
    from pulse.app import App

    cfg = _config(args)
    if not cfg.kafka.bootstrap_servers:
        raise PulseError("--bootstrap-servers (or kafka.bootstrap_servers in --config) is required")
    check_settings(cfg.kafka)
    ensure_service_ports(cfg)
    stop = _stop_on_signals()
    watch = BrokerWatch(cfg.kafka)
    with App(cfg) as app:
        app.print_urls()
        while not stop.wait(0.5):
            if app.failed:
                return 1
            snap = app.service.latest
            watch.update(snap is not None and snap.broker_up, time.monotonic())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pulse.demo import run_demo

    stop = _stop_on_signals()
    return run_demo(args, stop)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from consumers.kafka_settings import check_settings
    from pulse.simulate import run_simulate

    cfg = _config(args)
    check_settings(cfg.kafka)
    stop = _stop_on_signals()
    return run_simulate(cfg, args, stop)


def _cmd_rules(args: argparse.Namespace) -> int:
    from alerts.export import export_command

    cfg = _config(args)
    return export_command(cfg, args)


def _cmd_deploy_export(args: argparse.Namespace) -> int:
    from pulse.deploy import export_deploy

    written = export_deploy(args.directory, force=args.force)
    print(f"wrote {len(written)} files under {args.directory}", flush=True)
    return 0


def _cmd_notify_bridge(args: argparse.Namespace) -> int:
    from alerts.bridge import bridge_command

    cfg = _config(args)
    ensure_free(args.host, args.port, "--port")
    stop = _stop_on_signals()
    return int(bridge_command(cfg, args, stop))


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from alerts.alerting import Alerting
    from dashboard.standalone import dashboard_command

    cfg = _config(args)
    ensure_free(cfg.dashboard.host, cfg.dashboard.port, "--dashboard-port / dashboard.port")
    # the tile bounds come from the rule file Prometheus evaluates too (no sinks: the
    # evaluator here only answers thresholds)
    rules = Alerting.from_config(replace(cfg, alerting=replace(cfg.alerting, sinks=())))
    stop = _stop_on_signals()
    try:
        return dashboard_command(cfg, args, stop, thresholds=rules.thresholds)
    finally:
        rules.close()


# -- flags ---------------------------------------------------------------------------------
class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` where there is one to show: not for flags, nor for options
    whose default comes from the config (their help says which)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def _log_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """``--log-level`` / ``--log-format``, before or after the command: the command's
    copies default to SUPPRESS so they only override the top-level ones when given."""
    default = argparse.SUPPRESS
    p.add_argument("--log-level", type=str.lower, choices=LEVELS,
                   default="info" if top else default,
                   help="log level (default: info; kafka-python logs at WARNING, "
                        "or DEBUG with debug)")
    p.add_argument("--log-format", type=str.lower, choices=FORMATS,
                   default="text" if top else default,
                   help="text, or json: one object per line (default: text)")


_CFG = Config()
_BOARD = DashboardConfig()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pulse", description="Aftersales Pulse: after-sales "
                                "events from Kafka to Prometheus, alerts and a wall-board.",
                                formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _log_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help, formatter_class=_Help)
        _log_options(c, top=False)
        return c

    def config(c: argparse.ArgumentParser) -> None:
        c.add_argument("--config", metavar="FILE",
                       help="YAML configuration (default: none, every key at its default)")

    def service_ports(c: argparse.ArgumentParser) -> None:
        c.add_argument("--metrics-port", type=_port, metavar="PORT",
                       help="/metrics, /healthz, /readyz (default: the config's "
                            f"metrics_port, {_CFG.metrics_port})")
        c.add_argument("--dashboard-port", type=_port, metavar="PORT",
                       help=f"the wall-board (default: the config's dashboard.port, "
                            f"{_BOARD.port})")
        c.add_argument("--no-dashboard", action="store_true",
                       help="do not start the wall-board")

    run = command("run", "consume an existing Kafka cluster")
    run.add_argument("--bootstrap-servers", metavar="HOST:PORT[,HOST:PORT…]",
                     help="Kafka brokers (default: the config's kafka.bootstrap_servers)")
    config(run)
    run.add_argument("--group-id", help="consumer group; replicas share one "
                     f"(default: the config's kafka.group_id, {_CFG.kafka.group_id})")
    service_ports(run)
    run.add_argument("--metrics-host", metavar="HOST", help="address /metrics binds to "
                     f"(default: the config's metrics_host, {_CFG.metrics_host})")
    run.add_argument("--dashboard-host", metavar="HOST", help="address the wall-board binds "
                     f"to; off loopback it needs credentials (default: {_BOARD.host})")
    run.set_defaults(func=_cmd_run)

    demo = command("demo", "local broker + simulator + service + board + alerts")
    config(demo)
    service_ports(demo)
    demo.add_argument("--rate", type=float, default=20.0, help="tickets per minute (mean)")
    demo.add_argument("--seed", type=int, default=11, help="simulator seed")
    demo.add_argument("--surge-after", type=float, default=180.0, metavar="S",
                      help="seconds of live normal traffic before the 3x surge")
    demo.add_argument("--surge-for", type=float, default=3600.0, metavar="S",
                      help="surge length, seconds")
    demo.add_argument("--duration", type=float, default=0.0, metavar="S",
                      help="stop after this many seconds (0: never)")
    demo.set_defaults(func=_cmd_demo)

    sim = command("simulate", "produce realistic after-sales traffic")
    sim.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT[,HOST:PORT…]",
                     help="Kafka brokers (required)")
    config(sim)
    sim.add_argument("--rate", type=float, default=20.0, help="tickets per minute (mean)")
    sim.add_argument("--scenario", default="normal", choices=SCENARIOS,
                     help="normal day, or double11 (a 3x surge)")
    sim.add_argument("--seed", type=int, default=1, help="simulator seed")
    sim.add_argument("--backfill-hours", type=float, default=0.0, metavar="H",
                     help="first produce this much history (event time), then go live")
    sim.add_argument("--duration", type=float, default=0.0, metavar="S",
                     help="stop after this many seconds (0: never)")
    sim.add_argument("--surge-after", type=float, default=180.0, metavar="S",
                     help="double11: seconds of live normal traffic before the surge")
    sim.add_argument("--surge-for", type=float, default=3600.0, metavar="S",
                     help="double11: surge length, seconds")
    sim.add_argument("--create-topics", action="store_true",
                     help="create the topics and their .dlq twins where missing")
    sim.set_defaults(func=_cmd_simulate)

    rules = command("rules", "alert rules")
    rsub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    exp = rsub.add_parser("export", help="write Prometheus alerting rules",
                          description="write Prometheus alerting rules", formatter_class=_Help)
    _log_options(exp, top=False)
    config(exp)
    exp.add_argument("--rules", metavar="FILE",
                     help="rule YAML (default: the config's alerting.rules_file, else the "
                          "shipped alerts/rules.yaml)")
    exp.add_argument("--recorded", action="store_true",
                     help="use the recording-rule series of deploy/ (summed across replicas)")
    exp.add_argument("-o", "--output", default="-", metavar="FILE",
                     help="where to write them (-: standard output)")
    exp.set_defaults(func=_cmd_rules)

    dep = command("deploy", "deployment files (compose, Kubernetes, Prometheus, Grafana)")
    dsub = dep.add_subparsers(dest="deploy_command", required=True, metavar="COMMAND")
    dexp = dsub.add_parser("export", help="write the deployment files into a directory",
                           description="write the deployment files (deploy/ of the "
                           "repository, shipped in the package) into DIRECTORY",
                           formatter_class=_Help)
    _log_options(dexp, top=False)
    dexp.add_argument("directory", metavar="DIRECTORY", help="created if missing")
    dexp.add_argument("--force", action="store_true", help="overwrite files that exist")
    dexp.set_defaults(func=_cmd_deploy_export)

    br = command("notify-bridge", "Alertmanager webhook → DingTalk/WeCom/Feishu")
    config(br)
    br.add_argument("--host", default="127.0.0.1", help="address to listen on")
    br.add_argument("--port", type=_port, default=9095, help="port to listen on")
    br.set_defaults(func=_cmd_notify_bridge)

    db = command("dashboard", "the wall-board alone, reading Prometheus")
    config(db)
    db.add_argument("--source", default="prometheus", choices=["prometheus"],
                    help="where the numbers come from")
    db.add_argument("--prometheus-url", required=True, metavar="URL",
                    help="Prometheus that scrapes the replicas (required)")
    db.add_argument("--dashboard-port", type=_port, metavar="PORT",
                    help=f"the wall-board (default: the config's dashboard.port, {_BOARD.port})")
    db.add_argument("--dashboard-host", metavar="HOST",
                    help="address the wall-board binds to; off loopback it needs credentials "
                         f"(default: the config's dashboard.host, {_BOARD.host})")
    db.set_defaults(func=_cmd_dashboard)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    # The engine keeps millions of long-lived small objects (tickets, index keys); with
    # the default thresholds the collector rescans them constantly (~30 % of the fold).
    gc.set_threshold(100_000, 50, 100)
    try:
        code: int = args.func(args)
        return code
    except PulseError as exc:
        print(f"pulse: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # taken between the check and the bind: still one line
        print(f"pulse: error: a port is in use ({exc.strerror})", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
