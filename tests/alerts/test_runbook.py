"""Every default rule links to its runbook section, and the section exists and is whole."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from alerts.export import RUNBOOK_URL, export_rules, runbook_anchor
from alerts.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / RUNBOOK_URL
RULES = load_rules(windows=("15m", "1h", "24h"))
GENERATED = (ROOT / "deploy" / "prometheus" / "rules" / "alerts.rules.yaml",
             ROOT / "deploy" / "prometheus" / "tests" / "alerts.rules.yaml")


def github_slug(heading: str) -> str:
    """The anchor GitHub/GitLab give a Markdown heading: lower case, punctuation dropped,
    spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections() -> dict[str, str]:
    """Second-level headings of the runbook (by anchor) → their text."""
    parts = re.split(r"^## (.+)$", RUNBOOK.read_text("utf-8"), flags=re.M)
    return {github_slug(h): body for h, body in zip(parts[1::2], parts[2::2], strict=True)}


def annotations(text: str) -> dict[str, dict[str, str]]:
    doc = yaml.safe_load(text)
    return {r["alert"]: r["annotations"] for g in doc["groups"] for r in g["rules"]
            if "alert" in r}


def test_each_default_rule_has_a_whole_section() -> None:
    found = sections()
    for rule in RULES:
        body = found.get(runbook_anchor(rule.name))
        assert body is not None, f"docs/runbook.md has no section ## {rule.name}"
        for part in ("**Meaning.**", "**First checks.**", "**What to do.**"):
            assert part in body, (rule.name, part)
        assert rule.severity in body, rule.name
        for metric in rule.signal.metrics:
            assert metric in body, (rule.name, metric)  # names the series it reads
    # and no section for a rule that does not exist (a renamed rule leaves none behind)
    assert set(found) == {runbook_anchor(r.name) for r in RULES}


def test_internal_links_resolve() -> None:
    found = sections()
    for target in re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text("utf-8")):
        assert target in found, target


def test_exported_rules_link_to_their_section() -> None:
    for recorded in (False, True):
        ann = annotations(export_rules(RULES, recorded=recorded))
        assert set(ann) == {r.name for r in RULES}
        for rule in RULES:
            assert ann[rule.name]["runbook_url"] == f"docs/runbook.md#{rule.name.lower()}"
    for path in GENERATED:  # the checked-in exports (and the PrometheusRule, from the first)
        for name, a in annotations(path.read_text("utf-8")).items():
            url, _, anchor = a["runbook_url"].partition("#")
            assert url == RUNBOOK_URL, (path, name)
            assert anchor in sections(), (path, name)
    k8s = yaml.safe_load((ROOT / "deploy" / "k8s" / "prometheusrule.yaml").read_text("utf-8"))
    alerts = [r for g in k8s["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == len(RULES)
    assert all(r["annotations"]["runbook_url"].startswith("docs/runbook.md#") for r in alerts)


def test_the_base_is_configurable_and_custom_rules_get_no_dead_link(tmp_path: Path) -> None:
    base = "https://git.example.com/ops/aftersales-pulse/-/blob/main/docs/runbook.md"
    custom = yaml.safe_load((ROOT / "alerts" / "rules.yaml").read_text("utf-8"))
    mine = dict(custom["rules"][0], name="MyOwnSlaRule")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"version": 1, "rules": [custom["rules"][3], mine]}),
                          encoding="utf-8")
    cfg = tmp_path / "pulse.yaml"
    cfg.write_text(yaml.safe_dump({"alerting": {"runbook_url": base}}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pulse.cli", "rules", "export", "--config",
                           str(cfg), "--rules", str(rules_file)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    ann = annotations(proc.stdout)
    assert ann["P1ResolutionOverdue"]["runbook_url"] == base + "#p1resolutionoverdue"
    assert "runbook_url" not in ann["MyOwnSlaRule"]  # the runbook has no section for it
