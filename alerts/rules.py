"""The rule file: YAML in, frozen :class:`Rule` objects out, or one clear error.

The rule file is the single source of truth (SPEC §4) for the in-process evaluator and
the Prometheus export. A bad file is refused at start-up with a :class:`RuleError` that
names the rule and the field — never a stack trace, and never a rule silently skipped:
unknown fields are errors too, so a typo (``treshold``) cannot disable an alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.signals import SIGNALS, Signal, parse_duration, parse_expr
from core.errors import RuleError
from core.events import PRIORITIES

__all__ = [
    "COMPARISONS",
    "DEFAULT_RULES_FILE",
    "SEVERITIES",
    "Rule",
    "Text",
    "Thresholds",
    "load_rules",
    "parse_rules",
]

DEFAULT_RULES_FILE = Path(__file__).with_name("rules.yaml")
SEVERITIES = ("info", "warning", "critical")
COMPARISONS = (">", ">=", "<", "<=", "==", "!=")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RESERVED_LABELS = {"alertname", "severity", "alertstate"}
_RULE_FIELDS = {
    "name", "expr", "metrics", "op", "threshold", "clear", "warn", "for", "severity",
    "labels", "summary", "description", "resolved_summary", "peak", "repeat_interval", "tile",
}
_PEAK_FIELDS = {"threshold", "clear", "warn"}


@dataclass(frozen=True, slots=True)
class Text:
    """One message in both languages of the product."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Fire past ``threshold``; stay firing until the value is back past ``clear``.

    ``warn`` is for the wall-board's amber light only (it never notifies).
    """

    threshold: float
    clear: float
    warn: float | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    expr: str
    signal: Signal
    params: tuple[tuple[str, str], ...]  # every parameter, defaults filled in
    op: str
    normal: Thresholds
    peak: Thresholds | None
    for_s: int
    severity: str
    summary: Text
    description: Text
    resolved_summary: Text | None = None
    labels: tuple[tuple[str, str], ...] = ()
    repeat_interval_s: int | None = None
    tile: str | None = None

    def thresholds(self, profile: str) -> Thresholds:
        """The thresholds in force under ``profile`` (``normal`` unless peak ones exist)."""
        return self.peak if profile == "peak" and self.peak is not None else self.normal

    @property
    def param_map(self) -> dict[str, str]:
        return dict(self.params)


class _Reader:
    """Reads one rule mapping; every error names the rule and the field."""

    def __init__(self, where: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.where = where
        self.data = data
        self.prefix = prefix

    def fail(self, fld: str, msg: str) -> RuleError:
        return RuleError(f"{self.where}: field '{self.prefix}{fld}': {msg}")

    def get(self, fld: str, required: bool = True) -> Any:
        if fld not in self.data or self.data[fld] is None:
            if required:
                raise self.fail(fld, "is required")
            return None
        return self.data[fld]

    def number(self, fld: str, data: Mapping[str, Any] | None = None,
               required: bool = True) -> float | None:
        src = self.data if data is None else data
        v = src.get(fld)
        if v is None:
            if required:
                raise self.fail(fld, "is required")
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(fld, f"expected a number, got {v!r}")
        return float(v)

    def text(self, fld: str, required: bool = True) -> Text | None:
        v = self.get(fld, required)
        if v is None:
            return None
        if not isinstance(v, Mapping) or set(v) != {"zh", "en"}:
            raise self.fail(fld, "expected a mapping with exactly the keys zh and en")
        for lang in ("zh", "en"):
            if not isinstance(v[lang], str) or not v[lang].strip():
                raise self.fail(f"{fld}.{lang}", "expected a non-empty string")
        return Text(v["zh"], v["en"])


def _params(r: _Reader, signal: Signal, given: dict[str, str],
            windows: Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    unknown = sorted(set(given) - set(signal.params))
    if unknown:
        known = ", ".join(signal.params) or "none"
        raise r.fail("expr", f"{signal.name} has no parameter {unknown[0]} (known: {known})")
    out = []
    window_names = set(windows) if windows is not None else None
    for key, spec in signal.params.items():
        value = given.get(key, spec.default)
        if spec.kind == "window" and value == "today":
            pass  # the calendar window of §2, on unless today_window: false
        elif spec.kind == "window":
            if window_names is not None and value not in window_names:
                raise r.fail("expr", f"{key}={value!r} is not a configured window "
                                     f"({', '.join(sorted(window_names))})")
            _check(r, parse_duration, value, f"{key}={value!r} is not a window like 15m")
        elif spec.kind == "duration":
            _check(r, parse_duration, value, f"{key}={value!r} is not a duration like 10m")
        elif spec.kind == "int":
            if not value.isdigit():
                raise r.fail("expr", f"{key}={value!r} is not a non-negative integer")
        elif spec.kind == "priority" and value not in (*PRIORITIES, "other"):
            raise r.fail("expr", f"{key}={value!r} is not a priority ({', '.join(PRIORITIES)})")
        out.append((key, value))
    return tuple(out)


def _check(r: _Reader, fn: Any, value: str, msg: str) -> None:
    try:
        fn(value)
    except ValueError:
        raise r.fail("expr", msg) from None


def _thresholds(r: _Reader, op: str, data: Mapping[str, Any]) -> Thresholds:
    threshold = r.number("threshold", data)
    assert threshold is not None
    clear = r.number("clear", data, required=False)
    warn = r.number("warn", data, required=False)
    if clear is None:
        clear = threshold
    if op in (">", ">=") and clear > threshold:
        raise r.fail("clear", f"must be at most the threshold {threshold:g} for {op}")
    if op in ("<", "<=") and clear < threshold:
        raise r.fail("clear", f"must be at least the threshold {threshold:g} for {op}")
    if op in ("==", "!=") and clear != threshold:
        raise r.fail("clear", f"{op} rules have no hysteresis: leave clear out")
    return Thresholds(threshold, clear, warn)


def _check_placeholders(r: _Reader, fld: str, text: Text, allowed: set[str]) -> None:
    for lang in ("zh", "en"):
        for name in _PLACEHOLDER.findall(text.get(lang)):
            if name not in allowed:
                raise r.fail(f"{fld}.{lang}", f"unknown placeholder {{{name}}} "
                                              f"(known: {', '.join(sorted(allowed))})")


def _rule(where: str, data: Any, windows: Iterable[str] | None) -> Rule:
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: expected a mapping of rule fields")
    r = _Reader(where, data)
    name = r.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise r.fail("name", "expected an identifier like FirstResponseSlaLow")
    r.where = f"rule {name}"
    unknown = sorted(set(data) - _RULE_FIELDS)
    if unknown:
        raise r.fail(unknown[0], f"unknown field (known: {', '.join(sorted(_RULE_FIELDS))})")
    expr = r.get("expr")
    try:
        sig_name, given = parse_expr(expr)
    except ValueError as exc:
        raise r.fail("expr", str(exc)) from None
    signal = SIGNALS.get(sig_name)
    if signal is None:
        raise r.fail("expr", f"unknown signal {sig_name!r} (known: {', '.join(SIGNALS)})")
    params = _params(r, signal, given, windows)
    metrics = r.get("metrics", required=False)
    if metrics is not None and (not isinstance(metrics, list)
                                or sorted(map(str, metrics)) != sorted(signal.metrics)):
        raise r.fail("metrics", f"{signal.name} reads {', '.join(signal.metrics)}")
    op = r.get("op")
    if op not in COMPARISONS:
        raise r.fail("op", f"expected one of {' '.join(COMPARISONS)}, got {op!r}")
    normal = _thresholds(r, op, data)
    peak = None
    peak_data = r.get("peak", required=False)
    if peak_data is not None:
        if not isinstance(peak_data, Mapping):
            raise r.fail("peak", "expected a mapping with threshold (and clear, warn)")
        bad = sorted(set(peak_data) - _PEAK_FIELDS)
        if bad:
            raise r.fail(f"peak.{bad[0]}", "unknown field (known: clear, threshold, warn)")
        peak = _thresholds(_Reader(r.where, peak_data, "peak."), op, peak_data)
    for_s = _duration(r, "for", required=False) or 0
    repeat = _duration(r, "repeat_interval", required=False)
    if repeat is not None and repeat <= 0:
        raise r.fail("repeat_interval", "must be positive")
    severity = r.get("severity")
    if severity not in SEVERITIES:
        raise r.fail("severity", f"expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    labels = _labels(r, r.get("labels", required=False) or {}, signal)
    allowed = {"value", "threshold", *signal.labels}
    texts = {}
    for fld in ("summary", "description", "resolved_summary"):
        t = r.text(fld, required=fld != "resolved_summary")
        if t is not None:
            _check_placeholders(r, fld, t, allowed)
        texts[fld] = t
    tile = r.get("tile", required=False)
    if tile is not None and (not isinstance(tile, str) or not _LABEL.match(tile)):
        raise r.fail("tile", "expected an identifier like sla_attainment")
    summary, description = texts["summary"], texts["description"]
    assert summary is not None
    assert description is not None
    return Rule(name=name, expr=expr, signal=signal, params=params, op=op, normal=normal,
                peak=peak, for_s=for_s, severity=severity, summary=summary,
                description=description, resolved_summary=texts["resolved_summary"],
                labels=labels, repeat_interval_s=repeat, tile=tile)


def _duration(r: _Reader, fld: str, required: bool) -> int | None:
    v = r.get(fld, required)
    if v is None:
        return None
    try:
        return parse_duration(v if isinstance(v, str) else "")
    except ValueError:
        raise r.fail(fld, f"expected a duration like 30s, 2m or 1h, got {v!r}") from None


def _labels(r: _Reader, data: Any, signal: Signal) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, Mapping):
        raise r.fail("labels", "expected a mapping of label name to value")
    out = []
    for k, v in data.items():
        if not isinstance(k, str) or not _LABEL.match(k):
            raise r.fail(f"labels.{k}", "is not a valid Prometheus label name")
        if k in _RESERVED_LABELS or k in signal.labels:
            raise r.fail(f"labels.{k}", "is set by the evaluator")
        if not isinstance(v, str):
            raise r.fail(f"labels.{k}", "expected a string value")
        out.append((k, v))
    return tuple(sorted(out))


def parse_rules(data: Any, source: str = "rules",
                windows: Iterable[str] | None = None) -> tuple[Rule, ...]:
    """Validate already-loaded YAML data; ``windows`` are the configured window names."""
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{source}: expected a top-level mapping with a list under 'rules'")
    extra = sorted(set(data) - {"rules", "version"})
    if extra:
        raise RuleError(f"{source}: unknown top-level key {extra[0]!r} (known: rules, version)")
    if not data["rules"]:
        raise RuleError(f"{source}: 'rules' is empty")
    rules: list[Rule] = []
    seen: set[str] = set()
    win = tuple(windows) if windows is not None else None
    for i, item in enumerate(data["rules"]):
        name = item.get("name") if isinstance(item, Mapping) else None
        where = f"{source}: rule #{i + 1}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            rule = _rule(where, item, win)
        except RuleError as exc:
            msg = str(exc)
            raise RuleError(msg if msg.startswith(source) else f"{source}: {msg}") from None
        if rule.name in seen:
            raise RuleError(f"{source}: rule {rule.name}: field 'name': defined twice")
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def load_rules(path: str | Path | None = None,
               windows: Iterable[str] | None = None) -> tuple[Rule, ...]:
    """Read and validate a rule file (default: the shipped ``alerts/rules.yaml``)."""
    p = Path(path) if path else DEFAULT_RULES_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rule file {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RuleError(f"rule file {p} is not valid YAML{where}") from None
    return parse_rules(data, str(p), windows)
