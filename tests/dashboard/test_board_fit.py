"""dashboard.fit: the type sizes that keep every value, label and alert on the screen.

The estimates must never be smaller than what Chromium draws (else a value would be cut):
measured here in the board's own stylesheet, for every glyph the board writes.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from dashboard import fit
from dashboard.i18n import _LABELS, _VOCAB, fmt_count, fmt_duration, fmt_pct

CSS = (Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "board.css").read_text(
    encoding="utf-8")


def board_texts() -> list[str]:
    """What the board writes: every label in both languages, numbers in every format."""
    out = [text for pair in (*_LABELS.values(), *_VOCAB.values()) for text in pair]
    for n in (0, 7, 42, 999, 1_234, 99_999, 123_456, 9_876_543, 12_345_678):
        out.append(fmt_count(n))
    for r in (0.0, 0.071, 0.5, 0.921, 0.999, 1.0):
        out += [fmt_pct(r), fmt_pct(r, 0)]
    for s in (0.5, 9.0, 45.0, 600.0, 3_599.0, 3_660.0, 86_399.0, 90_000.0, 1_000_000.0):
        out += [fmt_duration(s, "zh"), fmt_duration(s, "en")]
    out += ["96.0×", "+44", "-100", "0/3", "24×7", "≤30秒", "TICKET-2026-11-11-00000000",
            "1时06分 / 30秒", "23h59m / 23h59m", "Southwest", "Northwest · Northeast"]
    return out


def test_value_sizes_shrink_with_length() -> None:
    assert fit.value_size("97.1%") == ""
    assert fit.value_size("148,258") == ""
    assert fit.value_size("99,999,999") == "long"
    assert fit.value_size("1,234,567,890,123") in ("longer", "longest")
    assert fit.label_size("未回复") == ""
    assert fit.label_size("Taobao 3-minute human response rate") == "label-long"


def test_alert_density_is_the_roomiest_that_fits() -> None:
    short = ("critical SLA met below target 91.2% < 92.0% for 5m", "Add agents.")
    assert fit.alert_density([short] * 3) == ""
    assert fit.alert_density([short] * 12) in ("compact", "dense")
    long = ("严重 " + "首次响应 SLA 达成率过低，请立即增派坐席" * 4 + " 持续 8时", "")
    assert fit.alert_density([long] * 11) == "denser"


@pytest.mark.browser
def test_estimates_are_never_narrower_than_chromium_draws(browser: Any) -> None:
    page = f"""<html><head><style>{CSS}</style></head><body>
      <div class="tile"><div class="tile-value"><span id="s"></span></div></div></body></html>"""
    browser.get("data:text/html;charset=utf-8," + urllib.parse.quote(page))
    texts = board_texts()
    widths = browser.js("""
        const s = document.getElementById('s');
        s.parentElement.style.fontSize = '100px';
        return arguments[0].map(t => {
          s.textContent = t; return s.getBoundingClientRect().width; });
    """, texts)
    narrow = [(t, w, fit.em(t) * 100) for t, w in zip(texts, widths, strict=True)
              if w > fit.em(t) * 100 + 0.5]
    assert narrow == [], "\n".join(map(str, narrow))
