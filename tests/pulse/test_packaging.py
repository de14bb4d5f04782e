"""The package as built: every Python package listed (the list is explicit, for deploy/)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_of_the_source_tree_is_in_the_wheel() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(ROOT), include=["pulse*", "consumers*", "metrics*",
                                                  "alerts*", "dashboard*"]))
    assert found <= set(tool["packages"]), sorted(found - set(tool["packages"]))
    assert tool["package-dir"] == {"pulse._deploy": "deploy"}
    assert tool["dynamic"]["version"] == {"attr": "pulse.__version__"}
