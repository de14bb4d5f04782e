"""Real parts for the deploy/ tests: Prometheus, Alertmanager and `pulse` subprocesses.

Every configuration is derived from the committed files of deploy/ (the same recording
and alert rule files, the same Alertmanager routes) with only addresses and timings
replaced, so the tests exercise what users deploy.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pulse.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules"
RECORDING = RULES / "recording.rules.yaml"
ALERTS = RULES / "alerts.rules.yaml"

Labels = frozenset[tuple[str, str]]
Series = dict[Labels, float]


def binary(name: str) -> str:
    """The path of a tool the project's setup installs: missing is a failure, not a skip."""
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed (the project setup installs the Debian packages "
                    "prometheus and prometheus-alertmanager)")
    return path


def wait_until(pred: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})"[:4000])


class Proc:
    """A subprocess whose output goes to a log file, shown when something fails."""

    def __init__(self, name: str, args: list[str], log: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, stdout=self._out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env={**os.environ, **(env or {})})

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.popen.send_signal(sig)
            self.popen.wait(30)

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._out.close()


@contextmanager
def running(*procs: Proc) -> Iterator[list[Proc]]:
    """Stops every process of the list (append more inside) on the way out."""
    started = list(procs)
    try:
        yield started
    finally:
        for p in started:
            p.stop()


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def pulse(name: str, tmp: Path, *args: str) -> Proc:
    return Proc(name, [sys.executable, "-m", "pulse.cli", *args], tmp / f"{name}.log")


# -- Prometheus -----------------------------------------------------------------------
def prometheus_config(targets: list[str], alertmanager: str | None = None) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with static targets, 1 s intervals, absolute rules."""
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    base = DEPLOY / "prometheus"
    cfg["rule_files"] = [str(base / f) for f in cfg["rule_files"]]
    if alertmanager:
        cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    else:
        cfg.pop("alerting")
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "aftersales-pulse")
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": targets}]
    job["scrape_timeout"] = "1s"
    cfg["scrape_configs"] = [job]
    return cfg


def retimed_rules(path: Path, tmp: Path) -> Path:
    """The rule file with every group's own ``interval`` at the tests' 1 s (the 30-day
    scores are evaluated every 5 minutes in deploy/); the file itself when it sets none."""
    text = path.read_text("utf-8")
    fast = re.sub(r"(?m)^(\s*)interval: \S+$", r"\1interval: 1s", text)
    if fast == text:
        return path
    out = tmp / f"retimed-{path.name}"
    out.write_text(fast, encoding="utf-8")
    return out


class Prometheus:
    def __init__(self, name: str, tmp: Path, targets: list[str]) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        conf = tmp / f"{name}.yml"
        config = prometheus_config(targets)
        config["rule_files"] = [str(retimed_rules(Path(f), tmp)) for f in config["rule_files"]]
        conf.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.proc = Proc(name, [
            binary("prometheus"), f"--config.file={conf}", f"--storage.tsdb.path={tmp / name}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
        ], tmp / f"{name}.log")

    def wait_ready(self) -> Prometheus:
        wait_until(lambda: http_ok(self.url + "/-/ready") or not self.proc.alive(), 30,
                   "prometheus ready")
        assert self.proc.alive(), self.proc.tail()
        return self

    def query(self, expr: str) -> Series:
        for attempt in range(3):  # a loaded 2-CPU machine can stall a query for a while
            try:
                r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=20)
                break
            except requests.Timeout:
                if attempt == 2:
                    raise
        body = r.json()
        assert body.get("status") == "success", f"{expr}: {body}"
        return {frozenset(s["metric"].items()): float(s["value"][1])
                for s in body["data"]["result"]}

    def scalar(self, expr: str) -> float | None:
        got = self.query(expr)
        return next(iter(got.values())) if got else None

    def records(self, names: list[str]) -> dict[str, Series]:
        return {n: self.query(f'{{__name__="{n}"}}') for n in names}


def record_names() -> list[str]:
    doc = yaml.safe_load(RECORDING.read_text("utf-8"))
    return sorted({r["record"] for g in doc["groups"] for r in g["rules"]})


def strip_name(series: Series) -> Series:
    return {frozenset((k, v) for k, v in labels if k != "__name__"): v
            for labels, v in series.items()}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-12)


def differences(a: dict[str, Series], b: dict[str, Series]) -> list[str]:
    out = []
    for name in sorted(set(a) | set(b)):
        sa, sb = strip_name(a.get(name, {})), strip_name(b.get(name, {}))
        for labels in sorted(set(sa) | set(sb), key=sorted):
            va, vb = sa.get(labels), sb.get(labels)
            if va is None or vb is None or not same(va, vb):
                out.append(f"{name}{dict(sorted(labels))}: {va} != {vb}")
    return out


# -- the wall-board's own refresh callback, over HTTP ----------------------------------
def board_view(url: str, lang: str = "en") -> dict[str, Any]:
    """What the board's refresh callback answers a browser: component id → properties."""
    from dashboard.callbacks import OUTPUTS

    outs = [{"id": s.component, "property": s.prop} for s in OUTPUTS]
    outs.append({"id": "sent", "property": "data"})
    body = {
        "output": ".." + "...".join(f"{o['id']}.{o['property']}" for o in outs) + "..",
        "outputs": outs,
        "inputs": [{"id": "tick", "property": "n_intervals", "value": 1},
                   {"id": "url", "property": "search", "value": f"?lang={lang}"}],
        "changedPropIds": ["tick.n_intervals"],
        "state": [{"id": "sent", "property": "data", "value": None}],
    }
    r = requests.post(url.rstrip("/") + "/_dash-update-component", json=body, timeout=15)
    r.raise_for_status()
    response: dict[str, Any] = r.json()["response"]
    return response


def tiles(view: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    """tile key → (value, sub, traffic-light class)."""
    from dashboard.view import TILES

    def sub(text: str) -> str:  # parts with equal counts may come in either order
        return " · ".join(sorted(text.split("\u2009·\u2009")))

    return {k: (view[f"tile-{k}-value"]["children"], sub(view[f"tile-{k}-sub"]["children"]),
                view[f"tile-{k}"]["className"]) for k in TILES}
