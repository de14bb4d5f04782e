"""How much room text takes on the 1920×1080 board, so nothing is cut or hidden.

The board never truncates a value, a sub-line or an alert: instead the view picks a type
size that fits. Widths are estimated in em of the board font (Noto Sans CJK SC, bold
digits, tabular numbers: measured in Chromium), rounded up, so an estimate that fits is
a layout that fits. The geometry below mirrors ``assets/board.css``; the browser tests
check the real page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "ALERT_DENSITIES",
    "alert_density",
    "em",
    "label_size",
    "sub_size",
    "value_size",
]

# em of one glyph (bold, 100 px, letter-spacing -1 px), measured in headless Chromium
_NARROW = {",": 0.32, ".": 0.32, ":": 0.32, " ": 0.3, "\u2009": 0.2, "/": 0.38,
           "-": 0.36, "(": 0.35, ")": 0.35, "|": 0.3, "i": 0.3, "l": 0.3, "j": 0.3,
           "t": 0.42, "f": 0.4, "r": 0.45, "I": 0.32}
_WIDE = {"%": 0.96, "×": 0.99, "m": 0.98, "M": 0.88, "w": 0.85, "W": 1.0, "–": 0.56,
         "·": 0.8, "…": 1.0, "≤": 1.0, "≥": 1.0, "÷": 1.0}


def em(text: str) -> float:
    """Width of ``text`` in em (an upper estimate)."""
    total = 0.0
    for c in text:
        if c in _NARROW:
            total += _NARROW[c]
        elif c in _WIDE:
            total += _WIDE[c]
        elif ord(c) >= 0x2E80:  # CJK, full-width punctuation
            total += 1.0
        elif c.isdigit() or c in "+<>=":
            total += 0.59
        elif c.isupper():
            total += 0.74
        else:
            total += 0.66
    return total


# --- tiles (board.css: .tile, 7 columns over the full width) ---------------------------
TILE_TEXT_PX = 240.0  # a tile's content width
_VALUE_PX = ((54, ""), (42, "long"), (34, "longer"), (28, "longest"))


def value_size(text: str) -> str:
    """The size class of a tile value: the largest type at which it fits on one line."""
    width = em(text)
    for px, cls in _VALUE_PX:
        if width * px <= TILE_TEXT_PX:
            return cls
    return _VALUE_PX[-1][1]


def label_size(text: str) -> str:
    """``""`` (22 px, one line) or ``label-long`` (16 px, up to two lines)."""
    return "" if em(text) * 22 <= TILE_TEXT_PX else "label-long"


def sub_size(text: str) -> str:
    """``""`` (16 px, up to three lines) or ``sub-long`` (14 px, four)."""
    return "" if _lines(em(text) * 16, TILE_TEXT_PX, 16) <= 3 else "sub-long"


def _lines(width_px: float, line_px: float, font_px: float) -> int:
    """Lines a wrapped run of ``width_px`` takes; a word that does not fit at the end of
    a line moves down, so each line loses up to about three glyphs."""
    if width_px <= 0:
        return 1
    usable = max(line_px - 3 * font_px, font_px)
    return max(1, math.ceil(width_px / usable))


# --- the alert list (board.css: .alerts) -----------------------------------------------
ALERT_LIST_PX = (566.0, 548.0)  # text width of one alert, height of the list
# (class, title px, description px or 0 for none, line height, row padding+gap px)
ALERT_DENSITIES: tuple[tuple[str, int, int, float, float], ...] = (
    ("", 21, 17, 1.3, 10.0),
    ("compact", 18, 0, 1.25, 5.0),
    ("dense", 16, 0, 1.2, 4.0),
    ("denser", 14, 0, 1.15, 3.0),
)


def alert_density(rows: Sequence[tuple[str, str]]) -> str:
    """The roomiest alert-list style at which every row fits the panel.

    ``rows``: per alert, its one-line run (badge, title, value, age) and its description.
    """
    width, height = ALERT_LIST_PX
    for cls, px, desc_px, lh, pad in ALERT_DENSITIES:
        total = 0.0
        for line, desc in rows:
            n = _lines(em(line) * px + 40, width, px) * px
            if desc_px:
                n += _lines(em(desc) * desc_px, width, desc_px) * desc_px
            total += n * lh + pad
        if total <= height:
            return cls
    return ALERT_DENSITIES[-1][0]
