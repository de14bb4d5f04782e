"""``pulse deploy export DIR``: the deployment files (compose, Kubernetes, Prometheus,
Alertmanager, Grafana), for someone who installed the wheel and has no checkout.

The wheel carries ``deploy/`` as ``pulse/_deploy``; a checkout (or an editable install)
reads ``deploy/`` itself, so what is exported is always what the tests checked.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

from core.errors import PulseError

__all__ = ["deploy_files", "export_deploy"]

_SKIP = {"regenerate.py", "__pycache__"}  # a developer's tool and bytecode, not deployment


def _root() -> Traversable:
    checkout = Path(__file__).resolve().parents[1] / "deploy"
    if (checkout / "compose.yaml").is_file():
        return checkout
    return importlib.resources.files("pulse") / "_deploy"


def deploy_files() -> dict[str, bytes]:
    """Relative path → content of every deployment file."""
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name in _SKIP or child.name.endswith(".pyc"):
                continue
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            else:
                out[rel] = child.read_bytes()

    root = _root()
    if not root.is_dir():
        raise PulseError("the deployment files are not installed with this package")
    walk(root, "")
    return out


def export_deploy(dest: str | Path, *, force: bool = False) -> list[Path]:
    """Write the files under ``dest``; an existing file is kept unless ``force``."""
    dest = Path(dest)
    files = deploy_files()
    clash = sorted(r for r in files if (dest / r).exists())
    if clash and not force:
        raise PulseError(
            f"{dest}: {len(clash)} files exist already (e.g. {clash[0]}); --force overwrites"
        )
    written = []
    for rel, data in files.items():
        path = dest / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise PulseError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
