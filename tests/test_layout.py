"""The README's Layout section stays true to the tree (issue 15): every module of the
kernel and the stages has its line there, and every line names something that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "consumers", "metrics", "alerts", "dashboard")
_ENTRY = re.compile(r"^- `([\w/]+(?:\.py|/))`: \S", re.M)


def _layout() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_every_module_of_the_kernel_and_the_stages_has_its_line() -> None:
    listed = set(_ENTRY.findall(_layout()))
    missing = sorted(
        str(p.relative_to(ROOT))
        for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
        if str(p.relative_to(ROOT)) not in listed
    )
    assert not missing, "modules without a line in README.md's Layout section:\n" + "\n".join(
        missing)


def test_every_line_names_a_module_that_exists() -> None:
    entries = _ENTRY.findall(_layout())
    assert len(entries) > 50
    gone = sorted(e for e in entries if not (ROOT / e).exists())
    assert not gone, "README.md's Layout names what is not in the tree:\n" + "\n".join(gone)
    assert len(entries) == len(set(entries)), "a module listed twice"
