"""deploy/ parses, passes the real tools' checks, and agrees with the code and itself.

Docker and Kubernetes cannot run here: the compose file and the manifests are parsed and
cross-checked instead (images, commands through the real CLI parser, ports, configs,
labels and selectors), the manifests are validated against the Kubernetes API schemas
(kubernetes-validate, strict, offline), and the healthcheck commands are run against the
real servers they probe. Prometheus and Alertmanager files go through promtool and amtool.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from alerts.export import RECORDED_SERIES
from core.config import load_config
from pulse import __version__
from pulse.cli import _parser
from tests.deploy.stack import ALERTS, DEPLOY, RECORDING, ROOT, binary

pytestmark = pytest.mark.prometheus

VERSION = __version__  # pulse/__init__.py, which pyproject.toml reads (dynamic version)
IMAGE = f"aftersales-pulse:{VERSION}"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
DASHBOARD = json.loads((DEPLOY / "grafana" / "dashboards" / "aftersales-pulse.json")
                       .read_text("utf-8"))
PULSE_CFG = load_config(DEPLOY / "pulse" / "pulse.yaml")
# SPEC §3: every metric a Grafana panel must show (directly or through a recording rule)
SPEC_METRICS = (
    "aftersales_events_total", "aftersales_events_rejected_total",
    "aftersales_events_duplicate_total", "aftersales_events_late_total",
    "aftersales_events_orphan_total", "aftersales_first_response_seconds_bucket",
    "aftersales_resolution_seconds_bucket", "aftersales_return_processing_seconds_bucket",
    "aftersales_backlog_tickets", "aftersales_unanswered_tickets",
    "aftersales_first_response_overdue_tickets", "aftersales_resolution_overdue_tickets",
    "aftersales_oldest_unanswered_age_seconds", "aftersales_returns_open",
    "aftersales_window_tickets_created", "aftersales_window_first_responses",
    "aftersales_window_first_responses_within_sla", "aftersales_window_first_response_seconds",
    "aftersales_window_resolutions", "aftersales_window_resolutions_within_sla",
    "aftersales_window_resolutions_first_contact", "aftersales_window_resolutions_by_bot",
    "aftersales_window_escalations", "aftersales_window_transfers", "aftersales_window_reopens",
    "aftersales_window_csat_ratings", "aftersales_window_csat_satisfied",
    "aftersales_window_nps_ratings", "aftersales_window_nps_promoters",
    "aftersales_window_nps_detractors", "aftersales_window_orders_delivered",
    "aftersales_window_deliveries_late", "aftersales_window_returns_requested",
    "aftersales_window_returns_by_reason", "aftersales_consumer_lag_messages",
    "aftersales_watermark_timestamp_seconds", "aftersales_clock_timestamp_seconds",
    "aftersales_last_event_age_seconds", "aftersales_ready",
)
# derived from the sums instead of read (ratios are never summed across replicas)
DERIVED = {"aftersales_window_return_rate": "aftersales:return_rate:ratio",
           "aftersales_window_peak_ratio": "aftersales:peak_ratio:ratio"}


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def recording_rules() -> dict[str, list[str]]:
    doc = yaml.safe_load(RECORDING.read_text("utf-8"))
    out: dict[str, list[str]] = {}
    for g in doc["groups"]:
        for r in g["rules"]:
            out.setdefault(r["record"], []).append(r["expr"])
    return out


def tool_version(name: str) -> str:
    text = run(binary(name), "--version").stdout + run(binary(name), "--version").stderr
    m = re.search(r"version (\d+\.\d+\.\d+)", text)
    assert m, text
    return m.group(1)


def pulse_args(service: dict[str, Any]) -> Any:
    """Parse a container's command with the real `pulse` argument parser."""
    return _parser().parse_args(service.get("command") or service.get("args"))


# -- Prometheus -----------------------------------------------------------------------
def test_promtool_accepts_config_and_rules() -> None:
    proc = run(binary("promtool"), "check", "config", "prometheus.yml", cwd=DEPLOY / "prometheus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 2 rule files found" in proc.stdout
    for path in (RECORDING, ALERTS):
        proc = run(binary("promtool"), "check", "rules", str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["recording_test.yaml", "recording_30d_test.yaml",
                                  "recording_handover_test.yaml"])
def test_promtool_unit_tests_of_the_recording_rules(name: str) -> None:
    proc = run(binary("promtool"), "test", "rules", name, cwd=DEPLOY / "prometheus" / "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_generated_files_are_fresh() -> None:
    sys.path.insert(0, str(DEPLOY))
    try:
        import regenerate
    finally:
        sys.path.remove(str(DEPLOY))
    for path, text in regenerate.generated().items():
        assert path.read_text("utf-8") == text, f"{path} is stale: python deploy/regenerate.py"
    proc = run(sys.executable, "-m", "pulse.cli", "rules", "export", "--recorded", "--config",
               "deploy/pulse/pulse.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ALERTS.read_text("utf-8")


def test_recording_rules_provide_what_the_alert_export_reads() -> None:
    rules = recording_rules()
    for metric, record in RECORDED_SERIES.items():
        assert rules[record] == [rules[record][0]]
        m = re.fullmatch(r"sum by \(([^)]*)\) \((\w+)\)", rules[record][0])
        assert m, rules[record]
        assert m.group(2) == metric
        assert "instance" not in m.group(1)
    alerts = ALERTS.read_text("utf-8")
    for record in RECORDED_SERIES.values():
        assert record in alerts


def test_ratios_are_derived_from_sums_never_summed() -> None:
    for record, exprs in recording_rules().items():
        if record.endswith((":ratio", ":score")):
            for expr in exprs:
                assert "avg" not in expr
                assert ":sum" in expr or ":ratio" in expr, (record, expr)


def test_compose_prometheus_matches_the_tested_binaries() -> None:
    prom, am = COMPOSE["services"]["prometheus"], COMPOSE["services"]["alertmanager"]
    assert prom["image"] == f"prom/prometheus:v{tool_version('prometheus')}"
    assert am["image"] == f"prom/alertmanager:v{tool_version('prometheus-alertmanager')}"


# -- Alertmanager ---------------------------------------------------------------------
AM = DEPLOY / "alertmanager" / "alertmanager.yml"


def test_amtool_accepts_the_config() -> None:
    proc = run(binary("amtool"), "check-config", str(AM))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("severity", "receiver"), [
    ("critical", "critical"), ("warning", "warning"), ("info", "info"), ("none", "webhook")])
def test_routes_by_severity(severity: str, receiver: str) -> None:
    proc = run(binary("amtool"), "config", "routes", "test", f"--config.file={AM}",
               f"severity={severity}", "alertname=X")
    assert proc.stdout.strip() == receiver, proc.stdout + proc.stderr


def test_info_is_inhibited_under_critical_and_receivers_reach_the_bridge() -> None:
    doc = yaml.safe_load(AM.read_text("utf-8"))
    assert doc["inhibit_rules"] == [{"source_matchers": ['severity="critical"'],
                                     "target_matchers": ['severity="info"']}]
    sinks = {s["name"] for s in yaml.safe_load(
        (DEPLOY / "pulse" / "bridge.yaml").read_text("utf-8"))["alerting"]["sinks"]}
    bridge = pulse_args(COMPOSE["services"]["notify-bridge"])
    used = set()
    for rec in doc["receivers"]:
        for hook in rec["webhook_configs"]:
            m = re.fullmatch(r"http://notify-bridge:(\d+)/alertmanager/(\w+)", hook["url"])
            assert m, hook["url"]
            assert int(m.group(1)) == bridge.port
            assert m.group(2) in sinks
            assert hook["send_resolved"] is True
            used.add(m.group(2))
    assert used == {"webhook", "dingtalk", "wecom", "feishu"}


# -- Grafana --------------------------------------------------------------------------
def panels() -> Iterator[dict[str, Any]]:
    yield from (p for p in DASHBOARD["panels"] if p["type"] != "row")


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def test_every_spec_metric_has_a_panel() -> None:
    rules = recording_rules()

    def reads(expr: str, seen: frozenset[str] = frozenset()) -> set[str]:
        names = set(re.findall(r"[a-z_][a-z0-9_:]*", expr))
        out = set(names)
        for n in names & set(rules) - seen:
            for e in rules[n]:
                out |= reads(e, seen | {n})
        return out

    shown: set[str] = set()
    for e in exprs():
        shown |= reads(e)
    missing = [m for m in SPEC_METRICS if m not in shown]
    assert not missing
    for metric, record in DERIVED.items():
        assert record in shown, metric


def exposed_names() -> set[str]:
    """Every series name one `pulse run` with the shipped config exposes (sample names of
    counters and histograms included), from the real collectors over a short stream."""
    from prometheus_client.metrics_core import Metric

    from metrics.snapshot_collector import BuildInfoCollector, SnapshotCollector
    from pulse.pipeline import Pipeline
    from tests.integration.helpers import simulated

    wall_ms = 1_790_000_000_000
    pipeline = Pipeline(PULSE_CFG, wall=lambda: wall_ms)  # the service's decode→fold loop
    for topic, _key, value in simulated(PULSE_CFG, hours=2, seed=3, start_ms=wall_ms - 7_200_000):
        pipeline.fold(topic, (value,), wall_ms)
    snap = pipeline.snapshot()
    families: list[Metric] = [*SnapshotCollector(lambda: snap).collect(),
                              *BuildInfoCollector(VERSION).collect()]
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "summary": ("", "_count", "_sum")}
    names = set()
    for fam in families:
        names.add(fam.name)
        names.update(fam.name + sfx for sfx in suffixes.get(fam.type, ("",)))
        names.update(sample.name for sample in fam.samples)
    return names


def test_panels_and_rules_name_only_known_series() -> None:
    """A misspelt series in a panel or a rule is not an error to PromQL, only an empty
    graph: every aftersales series named is a recording rule or one the service exposes."""
    known_records = set(recording_rules())
    exposed = exposed_names()
    assert {"aftersales_score_turns_total", "aftersales_score_target",
            "aftersales_window_score_turns", "aftersales_first_response_seconds_bucket"} <= exposed
    unknown = []
    rule_exprs = [e for es in recording_rules().values() for e in es]
    variables = [v.get("definition", "") for v in DASHBOARD["templating"]["list"]]
    for where, es in (("panel", exprs()), ("variable", variables),
                      ("recording rule", rule_exprs)):
        for e in es:
            for name in re.findall(r"\baftersales[a-z0-9_:]*", e):
                if name not in (known_records if ":" in name else exposed):
                    unknown.append(f"{where}: {name} in {e}")
    assert not unknown, "\n".join(unknown)


def test_the_platform_score_panels_read_the_30_day_record_and_the_target() -> None:
    titles = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in panels()}
    score30 = next(es for t, es in titles.items() if "Platform score, 30 days" in t)
    assert score30[0] == "aftersales:score_30d:ratio"
    assert any("aftersales_score_target" in e for e in score30)
    today = next(es for t, es in titles.items() if "Score today" in t)
    assert 'window="today"' in today[0]
    assert any("aftersales_score_target" in e for e in today)
    assert "aftersales:score_30d:ratio" in recording_rules()


def test_shipped_scores_are_the_published_examples() -> None:
    """deploy/pulse/pulse.yaml names the marketplaces' rules (SPEC §7), each documented as
    an example to check; the k8s ConfigMap carries the same rules."""
    got = {sc.name: sc for sc in PULSE_CFG.scores}
    assert set(got) == {"taobao_3min", "douyin_3min", "jd_30s"}
    for name in ("taobao_3min", "douyin_3min"):
        sc = got[name]
        assert (sc.hours, sc.within_s, sc.clock) == ("08:00-23:00", 180, "wall"), name
        assert set(sc.channels) == {"chat", "app"}
    jd = got["jd_30s"]
    assert (jd.hours, jd.within_s, jd.clock) == ("09:00-23:00", 30, "wall")  # not 23:00-09:00
    for sc in got.values():
        assert sc.title.get("zh")
        assert sc.title.get("en")
        assert 0 < sc.target <= 1
    text = (DEPLOY / "pulse" / "pulse.yaml").read_text("utf-8")
    assert text.lower().count("an example: check your platform's current rule") == 3
    cm = yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text("utf-8"))
    k8s_scores = yaml.safe_load(cm["data"]["pulse.yaml"])["scores"]
    assert k8s_scores == yaml.safe_load(text)["scores"]
    demo = yaml.safe_load((ROOT / "pulse" / "demo.yaml").read_text("utf-8"))["scores"]
    assert demo == k8s_scores  # `pulse demo` shows the shipped rules


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    substituted = [e.replace("$region", ".*").replace("$channel", ".*").replace("$window", "24h")
                   for e in exprs()]
    assert not any("$" in e for e in substituted)
    doc = {"groups": [{"name": "panels", "rules": [
        {"record": f"panel:q{i}:x", "expr": e} for i, e in enumerate(substituted)]}]}
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    proc = run(binary("promtool"), "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_shape_variables_and_wall_board_layout() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert set(variables) == {"datasource", "region", "channel", "window"}
    used = " ".join(exprs())
    for name in ("region", "channel", "window"):
        assert f"${name}" in used, name
        assert f"{name})" in variables[name]["definition"]  # label_values(metric, name)
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
                        .read_text("utf-8"))["datasources"][0]
    assert variables["datasource"]["current"]["value"] == ds["uid"]
    cells: set[tuple[int, int]] = set()
    for p in DASHBOARD["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] not in ("row", "alertlist"):
            assert p["targets"], p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
            assert p.get("description"), p["title"]
    tiles = [p for p in panels() if p["type"] == "stat"]
    assert len(tiles) >= 16
    assert all(p["options"]["text"]["valueSize"] >= 48 for p in tiles)  # read from 5 m
    assert DASHBOARD["refresh"] == "5s"
    sla = next(p for p in tiles if "SLA attainment" in p["title"])
    steps = [s["value"] for s in sla["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps[1] == 0.92  # the FirstResponseSlaLow threshold of alerts/rules.yaml


def test_grafana_provisioning_points_at_compose() -> None:
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
                        .read_text("utf-8"))["datasources"][0]
    assert ds["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards"
                               / "aftersales-pulse.yaml").read_text("utf-8"))["providers"][0]
    mounts = COMPOSE["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


# -- compose --------------------------------------------------------------------------
def test_compose_kafka_is_a_kraft_cluster_with_the_configured_topics() -> None:
    services = COMPOSE["services"]
    brokers = [n for n in services if re.fullmatch(r"kafka-\d", n)]
    assert len(brokers) == 3
    for name in brokers:
        s = services[name]
        env = s["environment"]
        assert s["image"] == "apache/kafka:3.9.0"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert sorted(v.split("@")[1].split(":")[0] for v in voters) == brokers
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
    assert PULSE_CFG.kafka.bootstrap_servers == ",".join(f"{b}:9092" for b in brokers)
    init = " ".join(services["kafka-init"]["command"])
    dlq = PULSE_CFG.kafka.dlq_suffix
    for topic in PULSE_CFG.kafka.topics:
        assert topic in init
        assert topic + dlq in init
    partitions = int(re.search(r"--partitions (\d+)", init).group(1))  # type: ignore[union-attr]
    assert services["pulse"]["deploy"]["replicas"] >= 2
    assert partitions >= services["pulse"]["deploy"]["replicas"]


def test_compose_pulse_services_match_the_cli_and_configs() -> None:
    services = COMPOSE["services"]
    mine = {n: s for n, s in services.items() if s.get("image", "").startswith("aftersales")}
    assert set(mine) == {"pulse", "simulator", "board", "notify-bridge"}
    for name, s in mine.items():
        assert s["image"] == IMAGE, name
        assert s["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        args = pulse_args(s)
        assert (DEPLOY / "pulse" / Path(args.config).name).exists(), args.config
        # each container sees the one config it reads; the robot tokens only the bridge
        mounts = s.get("volumes", [])
        if name == "notify-bridge":
            assert not mounts
            assert s["secrets"] == [{"source": "bridge-config", "target": "bridge.yaml"}]
            assert args.config == "/run/secrets/bridge.yaml"
            assert COMPOSE["secrets"]["bridge-config"] == {"file": "./pulse/bridge.yaml"}
        else:
            assert mounts == [f"./pulse/{Path(args.config).name}:{args.config}:ro"], name
            assert "secrets" not in s
    run_args = pulse_args(services["pulse"])
    assert run_args.command == "run"
    assert run_args.no_dashboard
    assert services["pulse"]["expose"] == [str(PULSE_CFG.metrics_port)]
    assert PULSE_CFG.metrics_port == 9108
    assert not PULSE_CFG.alerting.enabled  # alerts come from Prometheus over the sums
    assert "9108/readyz" in " ".join(services["pulse"]["healthcheck"]["test"])
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "aftersales-pulse")
    assert job["dns_sd_configs"][0] == {"names": ["pulse"], "type": "A",
                                        "port": PULSE_CFG.metrics_port,
                                        "refresh_interval": "15s"}
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    sim = pulse_args(services["simulator"])
    assert (sim.command, sim.scenario) == ("simulate", "double11")
    assert sim.bootstrap_servers == PULSE_CFG.kafka.bootstrap_servers
    board = pulse_args(services["board"])
    assert board.command == "dashboard"
    assert board.prometheus_url == "http://prometheus:9090"
    os.environ.setdefault("PULSE_BOARD_TOKEN", "test")
    board_cfg = load_config(DEPLOY / "pulse" / "board.yaml")
    assert board.dashboard_port == board_cfg.dashboard.port == 8050
    assert services["board"]["ports"] == ["127.0.0.1:8050:8050"]
    assert board_cfg.dashboard.token  # bound beyond loopback: credentials required
    bridge = pulse_args(services["notify-bridge"])
    assert (bridge.command, bridge.port) == ("notify-bridge", 9095)
    assert services["notify-bridge"]["expose"] == ["9095"]
    for f in ("prometheus.yml", "rules"):
        assert (DEPLOY / "prometheus" / f).exists()


def test_compose_every_service_has_a_healthcheck_and_limits() -> None:
    for name, s in COMPOSE["services"].items():
        check = s.get("healthcheck")
        assert check, name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
        res = s["deploy"]["resources"]
        assert float(res["limits"]["cpus"]) > 0, name
        assert re.fullmatch(r"\d+[mg]", res["limits"]["memory"]), name
        if "reservations" in res:
            assert _bytes(res["reservations"]["memory"]) <= _bytes(res["limits"]["memory"])
    pulse = [s for s in COMPOSE["services"].values() if s.get("image") == IMAGE]
    for s in pulse:  # the containers of this image: read-only, no capabilities
        assert s["read_only"] is True
        assert s["tmpfs"] == ["/tmp"]
        assert s["cap_drop"] == ["ALL"]
        assert s["security_opt"] == ["no-new-privileges:true"]


def _bytes(text: str) -> int:
    return int(text[:-1]) << {"m": 20, "g": 30}[text[-1]]


def _python_check(service: str) -> str:
    test = COMPOSE["services"][service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return str(test[3])


def _run_check(code: str) -> int:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                          check=False).returncode


def test_compose_healthchecks_of_the_image_probe_the_real_servers() -> None:
    """The board's and the bridge's healthcheck commands, run against the real servers."""
    from alerts.bridge import Bridge
    from core.config import Secret
    from dashboard.server import BoardServer, EngineSource
    from pulse.broker import free_port

    board_port, bridge_port = free_port(), free_port()
    board_check = _python_check("board").replace(":8050/", f":{board_port}/")
    bridge_check = _python_check("notify-bridge").replace(":9095/", f":{bridge_port}/")
    assert _run_check(board_check) != 0  # nothing listens: unhealthy
    assert _run_check(bridge_check) != 0
    cfg = dataclasses.replace(load_config(dashboard__port=board_port).dashboard,
                              host="0.0.0.0", token=Secret("wall-token"))
    with BoardServer(cfg, EngineSource(lambda: None)):  # token required, as deployed
        assert _run_check(board_check) == 0
    with Bridge([], port=bridge_port):
        assert _run_check(bridge_check) == 0


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            j = pattern.index("]", i)
            out, i = out + pattern[i:j + 1], j + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent
    directories decides; ``!`` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        rx = _ignore_regex(pattern)
        if any(rx.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def test_the_image_holds_no_secret_and_the_build_context_is_an_allowlist() -> None:
    text = (DEPLOY / "Dockerfile").read_text("utf-8")
    sources = []
    for m in re.finditer(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        sources += m.group(1).split()[:-1]
    assert "deploy/pulse" not in sources  # the whole directory would bring bridge.yaml
    assert not any("bridge" in src for src in sources)
    assert "deploy/pulse/pulse.yaml" in sources
    for src in sources:  # everything the Dockerfile copies is in the build context
        paths = list(ROOT.glob(src))
        assert paths, src
        for path in paths:
            for f in [path] if path.is_file() else sorted(path.rglob("*.py")):
                rel = f.relative_to(ROOT).as_posix()
                assert not _dockerignore_excludes(rel), rel
    for rel in (".venv/bin/python", ".git/HEAD", "deploy/pulse/bridge.yaml", "tests/oracle.py",
                "bench/run.py", "pulse/__pycache__/cli.cpython-311.pyc", ".env",
                "docs/runbook.md"):
        assert _dockerignore_excludes(rel), rel
    for cfg in ("pulse.yaml", "board.yaml"):  # the configs baked in carry no secret
        raw = (DEPLOY / "pulse" / cfg).read_text("utf-8")
        assert "REPLACE_ME" not in raw
        assert "token: {env: PULSE_BOARD_TOKEN}" in raw or "token" not in raw


def test_dockerfile_installs_the_project() -> None:
    text = (DEPLOY / "Dockerfile").read_text("utf-8")
    assert "FROM python:3.11-slim" in text
    assert "pip wheel --no-cache-dir --wheel-dir /wheels ." in text
    for package in ("pulse", "consumers", "metrics", "alerts", "dashboard"):
        assert f"COPY {package} {package}" in text
    assert re.search(r"EXPOSE 9108 8050 9095", text)
    assert 'ENTRYPOINT ["pulse"]' in text
    assert f"-t {IMAGE}" in text


# -- Kubernetes -----------------------------------------------------------------------
def k8s() -> list[dict[str, Any]]:
    kust = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text("utf-8"))
    docs = []
    for name in kust["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text("utf-8")) if d]
    return docs


def one(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in k8s() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_k8s_files_are_listed_and_well_formed() -> None:
    listed = set(yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml")
                                .read_text("utf-8"))["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    kinds = sorted(d["kind"] for d in k8s())
    assert kinds == sorted(["Namespace", "ConfigMap", "Deployment", "Deployment", "Deployment",
                            "Service", "Service", "Service", "PodDisruptionBudget",
                            "ServiceMonitor", "PrometheusRule"])
    for d in k8s():
        assert d["apiVersion"]
        assert d["metadata"]["name"]


def test_k8s_replicas_are_scraped_and_protected() -> None:
    dep = one("Deployment", "aftersales-pulse")
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"] == labels
    assert dep["spec"]["replicas"] >= 2
    c = pod["spec"]["containers"][0]
    assert c["image"] == IMAGE
    args = pulse_args(c)
    assert (args.command, args.config, args.no_dashboard) == ("run", "/etc/pulse/pulse.yaml", True)
    cm = one("ConfigMap", "aftersales-pulse-config")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"k8s-pulse-{os.getpid()}.yaml"
    path.write_text(cm["data"]["pulse.yaml"], encoding="utf-8")
    try:
        cfg = load_config(path)
    finally:
        path.unlink()
    assert cfg.metrics_host == "0.0.0.0"
    assert not cfg.alerting.enabled
    port = c["ports"][0]
    assert (port["name"], port["containerPort"]) == ("metrics", cfg.metrics_port)
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == cfg.metrics_port
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    svc = one("Service", "aftersales-pulse-metrics")
    assert svc["spec"]["selector"] == labels
    assert svc["spec"]["publishNotReadyAddresses"] is True  # a rebuilding replica is scraped
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    sm = one("ServiceMonitor", "aftersales-pulse")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    pdb = one("PodDisruptionBudget", "aftersales-pulse")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert pdb["spec"]["maxUnavailable"] == 1


def test_k8s_board_and_bridge() -> None:
    os.environ.setdefault("PULSE_BOARD_TOKEN", "test")
    for name, command, port in (("aftersales-pulse-board", "dashboard", 8050),
                                ("aftersales-pulse-notify-bridge", "notify-bridge", 9095)):
        dep = one("Deployment", name)
        c = dep["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == IMAGE
        args = pulse_args(c)
        assert args.command == command
        assert c["ports"][0]["containerPort"] == port
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert str(Path(args.config).parent) in mounts
        svc = one("Service", name)
        assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["ports"][0]["port"] == port
    board = pulse_args(one("Deployment", "aftersales-pulse-board")["spec"]["template"]["spec"]
                       ["containers"][0])
    assert board.dashboard_port == 8050


# the oldest and the newest Kubernetes the installed validator has schemas for
K8S_VERSIONS = (min(kubernetes_validate.utils.all_versions(),
                    key=lambda v: tuple(map(int, v.split(".")))),
                kubernetes_validate.latest_version())
CRDS = {"PrometheusRule", "ServiceMonitor"}  # no upstream schema: checked below instead


def test_k8s_manifests_pass_the_schema_validator() -> None:
    docs = k8s()
    checked = 0
    for d in docs:
        if d["kind"] in CRDS:
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(d, version, strict=True)  # raises on any error
        checked += 1
    assert checked == len(docs) - 2
    # the validator is strict: a typo or a wrong type in a security context is caught
    bad = json.loads(json.dumps(one("Deployment", "aftersales-pulse-board")))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)
    bad = json.loads(json.dumps(one("Deployment", "aftersales-pulse")))
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = [2]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_k8s_prometheus_operator_resources(tmp_path: Path) -> None:
    rule = one("PrometheusRule", "aftersales-pulse")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    proc = run(binary("promtool"), "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sm = one("ServiceMonitor", "aftersales-pulse")
    assert set(sm["spec"]) == {"selector", "endpoints"}
    assert set(sm["spec"]["endpoints"][0]) <= {"port", "path", "interval", "scrapeTimeout"}


def _quantity(text: str | int) -> float:
    """CPU (``250m``, ``2``) or memory (``512Mi``, ``2Gi``) as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    t = str(text)
    for u, f in units.items():
        if t.endswith(u):
            return float(t[: -len(u)]) * f
    return float(t)


def test_k8s_every_pod_meets_the_restricted_standard() -> None:
    ns = one("Namespace", "aftersales")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployments = [d for d in k8s() if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["runAsUser"] == 10001, name  # the image's user
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
            assert "emptyDir" in volumes[tmp["name"]], name  # writable scratch, read-only root
            res = c["resources"]
            for kind in ("cpu", "memory"):
                assert _quantity(res["requests"][kind]) <= _quantity(res["limits"][kind]), (
                    name, kind)
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            ports = {p["name"] for p in c["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert c[probe]["httpGet"]["port"] in ports, (name, probe)
    consumer = one("Deployment", "aftersales-pulse")["spec"]["template"]["spec"]["containers"][0]
    assert consumer["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for name in ("aftersales-pulse-board", "aftersales-pulse-notify-bridge"):
        c = one("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz", name


def test_k8s_robot_tokens_only_in_the_bridge_secret() -> None:
    bridge = one("Deployment", "aftersales-pulse-notify-bridge")["spec"]["template"]["spec"]
    vol = next(v for v in bridge["volumes"] if v["name"] == "bridge-config")
    assert vol["secret"]["secretName"] == "aftersales-pulse-bridge"
    assert vol["secret"]["defaultMode"] == 0o400
    cm = one("ConfigMap", "aftersales-pulse-config")
    assert "bridge.yaml" not in cm["data"]
    for d in k8s():
        if d["kind"] != "Deployment" or d["metadata"]["name"].endswith("notify-bridge"):
            continue
        vols = d["spec"]["template"]["spec"]["volumes"]
        assert not any("secret" in v for v in vols), d["metadata"]["name"]
