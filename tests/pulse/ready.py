"""What `pulse demo` prints up to its `ready:` line, for the tests that start it."""

from __future__ import annotations

import subprocess


def lines_until_ready(proc: subprocess.Popen[str]) -> list[str]:
    """Read the process's stdout up to and including the `ready:` line (failing with all
    that was printed if it never comes)."""
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("ready:"):
            break
    assert seen, "no output"
    assert seen[-1].startswith("ready:"), "".join(seen)
    return seen
