"""Notification sinks, built from ``alerting.sinks`` (a list of mappings with a ``type``).

Every key is checked at start-up: an unknown sink type or key, a missing URL or a
secret that cannot be read is a :class:`~core.errors.ConfigError` naming
``alerting.sinks[i].key`` — a misspelt robot URL must not be found during an outage.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from alerts.rules import SEVERITIES
from alerts.sinks.alertmanager import AlertmanagerSink
from alerts.sinks.base import HttpSink, Sink, SinkContext, SinkError, SinkOptions
from alerts.sinks.dingtalk import DingTalkSink
from alerts.sinks.feishu import FeishuSink
from alerts.sinks.log import LogSink
from alerts.sinks.webhook import WebhookSink
from alerts.sinks.wecom import WeComSink
from core.errors import ConfigError

__all__ = ["SINK_TYPES", "HttpSink", "Sink", "SinkContext", "SinkError", "SinkOptions",
           "build_sinks"]

SINK_TYPES: Mapping[str, type[Sink]] = {
    cls.kind: cls
    for cls in (LogSink, WebhookSink, DingTalkSink, WeComSink, FeishuSink, AlertmanagerSink)
}
_COMMON = {f.name: f.type for f in fields(SinkOptions) if f.name != "kind"}
_NUMERIC = {"timeout_s", "backoff_s", "max_backoff_s", "retry_for_s"}
_POSITIVE_INT = {"queue_size"}
_COUNT = {"max_attempts"}  # 0: no limit


def _options(spec: Mapping[str, Any], kind: str, where: str) -> SinkOptions:
    kw: dict[str, Any] = {"kind": kind, "name": spec.get("name", kind)}
    if not isinstance(kw["name"], str) or not kw["name"]:
        raise ConfigError(f"{where}.name: expected a non-empty string")
    for key in _COMMON:
        if key == "name" or key not in spec:
            continue
        v = spec[key]
        if key in _NUMERIC:
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise ConfigError(f"{where}.{key}: expected a positive number")
            v = float(v)
        elif key in _POSITIVE_INT:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{where}.{key}: expected a positive integer")
        elif key in _COUNT:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{where}.{key}: expected an integer >= 0 (0: no limit)")
        elif key == "min_severity" and v not in SEVERITIES:
            raise ConfigError(f"{where}.{key}: expected one of {', '.join(SEVERITIES)}")
        elif key == "lang" and v not in ("zh", "en", "both"):
            raise ConfigError(f"{where}.{key}: expected zh, en or both")
        kw[key] = v
    return SinkOptions(**kw)


def _one(i: int, spec: Any, context: SinkContext) -> Sink:
    where = f"alerting.sinks[{i}]"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a 'type'")
    kind = spec.get("type")
    cls = SINK_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(f"{where}.type: expected one of {', '.join(SINK_TYPES)}, got {kind!r}")
    own = dict(cls.FIELDS)
    known = {"type", *_COMMON, *own}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key for a {kind} sink "
                          f"(known: {', '.join(sorted(known))})")
    options = _options(spec, cls.kind, where)
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    for key, tp in own.items():
        if key not in spec:
            if params[key].default is inspect.Parameter.empty:
                raise ConfigError(f"{where}.{key}: is required for a {kind} sink")
            continue
        v = spec[key]
        if tp is str and (not isinstance(v, str) or not v):
            raise ConfigError(f"{where}.{key}: expected a non-empty string")
        if tp is float and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ConfigError(f"{where}.{key}: expected a number")
        if tp in (bool, list, dict) and not isinstance(v, tp | (Mapping if tp is dict else tp)):
            raise ConfigError(f"{where}.{key}: expected a {tp.__name__}")
        kwargs[key] = v
    if "url" in kwargs and not str(kwargs["url"]).startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: expected an http:// or https:// URL")
    try:
        return cls(options, context, **kwargs)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"alerting.sinks.{options.name}", where)) from None


def build_sinks(specs: Sequence[Any], context: SinkContext) -> list[Sink]:
    """Validate and build every configured sink; names must be unique (metric labels)."""
    sinks: list[Sink] = []
    for i, spec in enumerate(specs):
        sink = _one(i, spec, context)
        if any(s.name == sink.name for s in sinks):
            raise ConfigError(f"alerting.sinks[{i}].name: {sink.name!r} is used twice; "
                              "give each sink a distinct name")
        sinks.append(sink)
    return sinks
