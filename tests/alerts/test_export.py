"""``pulse rules export``: promtool accepts the file and its unit tests pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.export import RECORDED_SERIES, export_rules, rule_expr
from alerts.profiles import promotions_from_config
from alerts.rules import load_rules
from core.config import PromotionPeriod

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "deploy" / "prometheus" / "tests"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
# skipped on a bare developer machine; under CI (scripts/test.sh installs it) a missing
# promtool is a failure, not a skip
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists() and not os.environ.get("CI"),
                                    reason="promtool not installed (apt-get install prometheus)")
pytestmark = pytest.mark.prometheus
RULES = load_rules(windows=("15m", "1h", "24h"))


def _export(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pulse.cli", "rules", "export", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def test_committed_rule_file_is_the_current_export() -> None:
    proc = _export()
    assert proc.returncode == 0, proc.stderr
    committed = (TESTS / "alerts.rules.yaml").read_text(encoding="utf-8")
    assert proc.stdout == committed, (
        "deploy/prometheus/tests/alerts.rules.yaml is stale: run "
        "`pulse rules export -o deploy/prometheus/tests/alerts.rules.yaml`")


def test_export_shape() -> None:
    doc = yaml.safe_load(export_rules(RULES))
    rules = doc["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [r.name for r in RULES]
    sla = rules[0]
    assert sla["for"] == "2m"
    assert sla["labels"] == {"severity": "critical"}
    assert set(sla["annotations"]) >= {"summary", "description", "summary_en", "description_en"}
    assert "aftersales_window_first_responses_within_sla" in sla["expr"]
    assert 'ALERTS{alertname="FirstResponseSlaLow", alertstate="firing"}' in sla["expr"]
    stale = next(r for r in rules if r["alert"] == "DataStale")
    assert "for" not in stale


def test_recorded_export_reads_the_recording_rule_series() -> None:
    text = export_rules(RULES, recorded=True)
    for metric, recorded in RECORDED_SERIES.items():
        assert recorded.startswith("aftersales:")
        assert recorded.endswith(":sum")
        assert metric not in text.replace(recorded, "")  # every use goes through the record
    assert "aftersales:window_first_responses_within_sla:sum" in text


def test_promotions_become_time_conditions() -> None:
    promos = promotions_from_config(
        [PromotionPeriod("双11", "2026-11-11T00:00", "2026-11-12T00:00")], "Asia/Shanghai")
    sla = next(r for r in RULES if r.name == "FirstResponseSlaLow")
    expr = rule_expr(sla, promotions=promos)
    assert "((vector(time()) >= 1794326400) < 1794412800)" in expr  # 00:00+08:00 = 16:00Z


@needs_promtool
@pytest.mark.parametrize("recorded", [False, True])
def test_promtool_check_rules_accepts_the_export(tmp_path: Path, recorded: bool) -> None:
    out = tmp_path / "alerts.yml"
    promos = tmp_path / "config.yaml"
    promos.write_text("alerting:\n  promotions:\n    - {name: 双11, start: '2026-11-11T00:00', "
                      "end: '2026-11-12T00:00'}\n", encoding="utf-8")
    args = ["--config", str(promos), "-o", str(out)] + (["--recorded"] if recorded else [])
    proc = _export(*args)
    assert proc.returncode == 0, proc.stderr
    check = subprocess.run([PROMTOOL, "check", "rules", str(out)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 11 rules found" in check.stdout


@needs_promtool
def test_promtool_unit_tests_prove_each_rule_fires_and_resolves() -> None:
    tested = yaml.safe_load((TESTS / "alerts_test.yaml").read_text(encoding="utf-8"))
    names = {case["alertname"] for t in tested["tests"] for case in t["alert_rule_test"]}
    assert names == {r.name for r in RULES}
    proc = subprocess.run([PROMTOOL, "test", "rules", "alerts_test.yaml"], cwd=TESTS,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr
