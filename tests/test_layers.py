"""The import direction of the packages, checked mechanically (issue 15).

    core  ←  consumers, metrics, alerts, dashboard  ←  pulse

``core`` (the shared kernel) imports none of the others; each stage imports only ``core``
and itself; only ``pulse`` (the composition root) brings the stages together, and nothing
imports ``pulse``. Only ``consumers`` imports ``kafka``. Imports inside functions count
too: a hidden cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("consumers", "metrics", "alerts", "dashboard")
PACKAGES = ("core", *STAGES, "pulse")
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    **{stage: {"core", stage} for stage in STAGES},
    "pulse": set(PACKAGES),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package: str) -> None:
    """No exceptions are listed: an arrow against the flow is fixed, not allowed."""
    wrong = sorted(
        f"{path.relative_to(ROOT)}:{line} imports {mod}"
        for path in _modules(package)
        for line, mod in _imports(path)
        if mod in PACKAGES and mod not in ALLOWED[package]
    )
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "consumers"])
def test_only_consumers_import_kafka(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _modules(package)
        for line, mod in _imports(path)
        if mod == "kafka"
    ]
    assert not wrong, "kafka imported outside consumers/:\n" + "\n".join(wrong)


def test_the_checker_sees_nested_imports(tmp_path: Path) -> None:
    """A check that could not fail would prove nothing: an import inside a function of a
    stage is found."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from alerts.alerting import Alerting\n    import pulse.app\n")
    assert _imports(f) == [(2, "alerts"), (3, "pulse")]
