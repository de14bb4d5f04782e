"""A minimal W3C WebDriver client for Debian's chromedriver (headless Chromium).

The board's browser tests need five commands: open a page, run a script, read the
console, take a screenshot, close. Speaking the protocol directly keeps them independent
of which selenium release ``dash[testing]`` happens to resolve to (3.141 does not run
with urllib3 2, and 4.x changed the driver constructor).
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

__all__ = ["LAYOUT_PROBLEMS", "Browser"]


# What a wall-board must never do (run with Browser.js): a row or note below its panel's
# bottom (hidden), text wider than its box (cut with "…" or clipped), an element outside
# its tile or panel, or a page that scrolls. Returns what it found.
LAYOUT_PROBLEMS = """
    const bad = [];
    for (const el of document.querySelectorAll('.alert, #act-body tr, .note')) {
      const p = el.closest('.panel').getBoundingClientRect();
      if (el.getBoundingClientRect().bottom > p.bottom + 0.5)
        bad.push('hidden ' + el.className + ': ' + el.textContent.slice(0, 40));
    }
    for (const el of document.querySelectorAll(
         '.tile-value, .tile-label, .tile-sub, .panel-title, .alert-name, .alert-value, '
         + '.alert-since, #act-body span, #act-body td:not(.tid):not(.age), #act-head th')) {
      if (el.scrollWidth > el.clientWidth + 1) bad.push('cut ' + el.textContent);
      const box = el.closest('.tile, .panel').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      if (r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5)
        bad.push('outside ' + el.textContent);
    }
    const d = document.scrollingElement;
    if (d.scrollHeight > innerHeight || d.scrollWidth > innerWidth) bad.push('scroll');
    return bad;
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """``Browser(chromium, chromedriver, flags)``; a 1920×1080 viewport, like the wall TV."""

    def __init__(self, chromium: str, chromedriver: str, flags: tuple[str, ...],
                 width: int = 1920, height: int = 1080) -> None:
        self._port = _free_port()
        self._profile = tempfile.mkdtemp(prefix="pulse-chromium-")
        self._proc = subprocess.Popen(
            [chromedriver, f"--port={self._port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self._base = f"http://127.0.0.1:{self._port}"
        self._http = requests.Session()
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(requests.RequestException):
                if self._http.get(f"{self._base}/status", timeout=1).ok:
                    break
            if time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium,
                                   "args": [*flags, f"--user-data-dir={self._profile}"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        self.session = self._call("POST", "/session", caps)["sessionId"]
        self.cdp("Emulation.setDeviceMetricsOverride", width=width, height=height,
                 deviceScaleFactor=1, mobile=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self._http.request(method, self._base + path, json=body, timeout=60)
        data = r.json()
        value = data.get("value") if isinstance(data, dict) else None
        if r.status_code >= 400:
            raise RuntimeError(f"webdriver {method} {path}: {value}")
        return value

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def cdp(self, cmd: str, **params: Any) -> Any:
        return self._call("POST", self._s("/goog/cdp/execute"), {"cmd": cmd, "params": params})

    def get(self, url: str) -> None:
        self._call("POST", self._s("/url"), {"url": url})

    def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: use ``return``) and give back its value."""
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def text(self, element_id: str) -> str:
        return str(self.js("const e = document.getElementById(arguments[0]);"
                           "return e ? e.textContent : null;", element_id))

    def classes(self, element_id: str) -> list[str]:
        return str(self.js("const e = document.getElementById(arguments[0]);"
                           "return e ? e.className : '';", element_id)).split()

    def console(self) -> list[dict[str, Any]]:
        try:
            return list(self._call("POST", self._s("/se/log"), {"type": "browser"}) or [])
        except RuntimeError:
            return []

    def screenshot(self, path: str | Path) -> None:
        png = self._call("GET", self._s("/screenshot"))
        Path(path).write_bytes(base64.b64decode(png))

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self._call("DELETE", self._s(""))
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        shutil.rmtree(self._profile, ignore_errors=True)
