"""Frozen, typed configuration, loaded and validated once.

Unknown keys are refused with an error that names them: a typo in a threshold must not
silently fall back to a default. Secrets are wrapped in :class:`Secret` so they never
appear in logs or reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from core.business_hours import BusinessHoursConfig, Span, parse_business_hours, parse_span
from core.definitions import (
    DEFAULT_FIRST_RESPONSE_SLA_S,
    DEFAULT_RESOLUTION_SLA_S,
    DEFAULT_RETURN_PROCESSING_SLA_S,
    PEAK_RATIO_ENTER,
    PEAK_RATIO_EXIT,
)
from core.errors import ConfigError
from core.events import CHANNELS, DEFAULT_REGIONS, OTHER

__all__ = [
    "AlertingConfig",
    "CheckpointConfig",
    "Config",
    "DashboardConfig",
    "KafkaConfig",
    "PromotionPeriod",
    "ScoreConfig",
    "Secret",
    "SlaConfig",
    "SnapshotConfig",
    "load_config",
]


class Secret:
    """A string that never shows itself in ``repr`` / ``str`` / logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """SLA seconds; ``other`` channel takes email's, ``other`` priority takes P3's."""

    first_response_s: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_FIRST_RESPONSE_SLA_S)))
    resolution_s: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_RESOLUTION_SLA_S)))
    return_processing_s: int = DEFAULT_RETURN_PROCESSING_SLA_S
    # SPEC §7: every later response; a channel not named here takes its first-response SLA
    response_s: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # a partial mapping overrides the defaults it names (``first_response_s: {chat: 60}``
        # keeps phone's, email's and app's): every channel and priority always has an SLA
        for name, defaults in (("first_response_s", DEFAULT_FIRST_RESPONSE_SLA_S),
                               ("resolution_s", DEFAULT_RESOLUTION_SLA_S)):
            given = getattr(self, name)
            if not set(defaults) <= set(given):
                object.__setattr__(self, name, MappingProxyType({**defaults, **given}))

    def first_response(self, channel: str) -> int:
        s = self.first_response_s
        return s[channel] if channel in s else s["email"]

    def response(self, channel: str) -> int:
        """The response SLA of §7; ``other`` takes email's, like every SLA of ``other``."""
        s = self.response_s
        if channel in s:
            return s[channel]
        if channel not in self.first_response_s and "email" in s:
            return s["email"]
        return self.first_response(channel)

    def resolution(self, priority: str) -> int:
        s = self.resolution_s
        return s[priority] if priority in s else s["P3"]


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    """One platform score rule of SPEC §7 (the ``score`` label is its ``name``).

    A turn of one of ``channels`` whose start falls, in local time of day, inside ``hours``
    is decided once: within if answered within ``within_s`` (wall or business time, per
    ``clock``), missed when that limit runs out. ``target`` is the score the platform asks.
    """

    name: str = ""
    title: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    channels: tuple[str, ...] = (*CHANNELS, OTHER)  # every channel unless named
    hours: str = "00:00-24:00"  # may run past midnight: "22:00-02:00"
    within_s: int = 180
    clock: str = "wall"  # wall | business
    target: float = 0.9

    @property
    def span(self) -> Span:
        """``hours`` as seconds after local midnight (validated at load)."""
        return parse_span(self.hours, f"scores[{self.name}].hours", wrap=True)


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap_servers: str = ""
    group_id: str = "aftersales-pulse"
    tickets_topic: str = "aftersales.tickets"
    logistics_topic: str = "aftersales.logistics"
    dlq_suffix: str = ".dlq"
    # passed through to kafka-python (security_protocol, sasl_mechanism, ssl_cafile…):
    # ``client`` to every client, then ``consumer`` / ``producer`` (the DLQ) / ``admin`` to
    # that one only, merged over ``client`` (a setting only one client knows goes there)
    client: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    consumer: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    producer: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    admin: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sasl_plain_password: Secret = field(default_factory=lambda: Secret(""))
    max_poll_interval_ms: int = 300000
    session_timeout_ms: int = 10000
    # fetch and parse records in a child process, so that kafka-python's per-record
    # Python work runs on another core than decoding and folding (false: one thread)
    fetch_process: bool = True

    @property
    def topics(self) -> tuple[str, str]:
        return (self.tickets_topic, self.logistics_topic)


@dataclass(frozen=True, slots=True)
class PromotionPeriod:
    name: str
    start: str  # ISO local date-time in the configured time zone, e.g. "2026-11-10T20:00"
    end: str


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    enabled: bool = True
    rules_file: str = ""  # empty: the shipped alerts/rules.yaml
    timezone: str = "Asia/Shanghai"
    promotions: tuple[PromotionPeriod, ...] = ()
    eval_interval_s: int = 15
    repeat_interval_s: int = 4 * 3600
    sinks: tuple[Mapping[str, Any], ...] = ()  # empty: one log sink
    peak_ratio_enter: float = PEAK_RATIO_ENTER  # the peak profile starts at this ratio…
    peak_ratio_exit: float = PEAK_RATIO_EXIT  # …and ends below this one (hysteresis)
    runbook_url: str = ""  # base of the exported rules' runbook_url (empty: docs/runbook.md)


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8050
    refresh_s: float = 3.0
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    token: Secret = field(default_factory=lambda: Secret(""))
    source: str = "engine"  # or "prometheus"
    prometheus_url: str = ""
    display_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timezone: str = "Asia/Shanghai"  # the board's clock and chart axes
    stale_after_s: int = 300  # freshness banner: no event for this long while live
    lag_high_messages: int = 0  # freshness banner: consumer behind (0: the profile's default)


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    """When the reader thread takes the snapshot that ``/metrics``, alerts and the board
    read (each scrape serves one whole snapshot, never a state being folded).

    New events are published as soon as ``min_interval_s`` has passed since the last
    snapshot, so send → visible is close to Kafka's own; ``max_cpu_share`` bounds what
    that costs a large state (snapshot time ÷ time between snapshots), and
    ``interval_s`` is the cadence without new events (health, lag, the clock)."""

    interval_s: float = 0.5  # at least this often, events or not
    min_interval_s: float = 0.02  # after new events, at most this often
    max_cpu_share: float = 0.1  # of the reader thread's time spent taking snapshots


@dataclass(frozen=True, slots=True)
class CheckpointConfig:
    """Shard checkpoints in Kafka (issue 17): a restart or a reassignment loads each
    partition's newest checkpoint and replays only from its offset."""

    enabled: bool = True
    topic: str = ""  # empty: <kafka.group_id>.pulse.checkpoints (compacted)
    interval_s: int = 300  # and once after every rebuild has caught up
    max_part_bytes: int = 900_000  # a shard is split into messages of at most this size
    read_timeout_s: int = 60  # reading the checkpoint topic at an assignment
    replication: int = 1  # of the topic when pulse creates it (use the cluster's usual 3)


@dataclass(frozen=True, slots=True)
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    windows: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"15m": 900, "1h": 3600, "24h": 86400})
    )
    sla: SlaConfig = field(default_factory=SlaConfig)
    state_horizon_s: int = 7 * 86400
    max_future_skew_s: int = 300
    live_threshold_s: int = 120
    max_message_bytes: int = 65536
    stale_after_s: int = 300
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    # SPEC §7: calendars per channel (none: every channel 24x7), the `today` window, scores
    business_hours: BusinessHoursConfig = field(default_factory=BusinessHoursConfig)
    today_window: bool = True
    # the headline window counts per source partition too (aftersales_partition_window_events):
    # for several replicas, whose sums the recording rules then carry across a handover
    partition_window_series: bool = False
    scores: tuple[ScoreConfig, ...] = ()
    checkpoints: CheckpointConfig = field(default_factory=CheckpointConfig)
    snapshots: SnapshotConfig = field(default_factory=SnapshotConfig)

    @property
    def checkpoint_topic(self) -> str:
        return self.checkpoints.topic or f"{self.kafka.group_id}.pulse.checkpoints"

    @property
    def largest_window_s(self) -> int:
        return max(self.windows.values())

    def validate(self) -> Config:
        if not self.windows:
            raise ConfigError("windows: at least one window is required")
        if self.checkpoints.interval_s <= 0 or self.checkpoints.max_part_bytes < 1024:
            raise ConfigError("checkpoints: interval_s must be positive and max_part_bytes "
                              "at least 1024")
        for name, secs in self.windows.items():
            if secs <= 0:
                raise ConfigError(f"windows.{name}: must be a positive number of seconds")
        if self.state_horizon_s < self.largest_window_s + max(
            self.sla.resolution_s.values(), default=0
        ):
            raise ConfigError(
                "state_horizon_s: must be at least the longest SLA plus the largest window"
            )
        if not self.regions or "other" in self.regions or "all" in self.regions:
            raise ConfigError("regions: a non-empty list without 'other' or 'all'")
        for key, port in (("metrics_port", self.metrics_port),
                          ("dashboard.port", self.dashboard.port)):
            if not 0 <= port <= 65535:  # 0: any free port (tests); the CLI takes 1-65535
                raise ConfigError(f"{key}: {port} is not a TCP port (1-65535)")
        for ch, secs in self.sla.response_s.items():
            if secs <= 0:
                raise ConfigError(f"sla.response_s.{ch}: must be a positive number of seconds")
        self._validate_scores()
        self._validate_snapshots()
        return self

    def _validate_snapshots(self) -> None:
        sn = self.snapshots
        if not 0 < sn.interval_s <= 60:
            raise ConfigError("snapshots.interval_s: must be in (0, 60] seconds")
        if not 0 <= sn.min_interval_s <= sn.interval_s:
            raise ConfigError("snapshots.min_interval_s: must be in [0, snapshots.interval_s]")
        if not 0 < sn.max_cpu_share <= 1:
            raise ConfigError("snapshots.max_cpu_share: must be a share in (0, 1]")

    def _validate_scores(self) -> None:
        names: set[str] = set()
        known = (*CHANNELS, "other")
        for i, sc in enumerate(self.scores):
            where = f"scores[{i}]"
            if not sc.name or not sc.name.replace("_", "").isalnum() or not sc.name.isascii():
                raise ConfigError(f"{where}.name: {sc.name!r} must be letters, digits and _")
            if sc.name in names:
                raise ConfigError(f"{where}.name: {sc.name!r} is given twice")
            names.add(sc.name)
            if not sc.channels:
                raise ConfigError(f"{where}.channels: name at least one channel")
            for ch in sc.channels:
                if ch not in known:
                    raise ConfigError(f"{where}.channels: {ch!r} is not one of {', '.join(known)}")
            parse_span(sc.hours, f"{where}.hours", wrap=True)
            if sc.within_s <= 0:
                raise ConfigError(f"{where}.within_s: must be a positive number of seconds")
            if sc.clock not in ("wall", "business"):
                raise ConfigError(f"{where}.clock: {sc.clock!r} is not wall or business")
            if not 0.0 <= sc.target <= 1.0:
                raise ConfigError(f"{where}.target: {sc.target} is not a ratio in 0..1")


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Turn plain YAML data into the typed field ``tp``; raise ConfigError naming ``path``."""
    if tp is BusinessHoursConfig:  # validated by its own module, every error at once
        return parse_business_hours(value, path)
    if is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, path)
    if tp is Secret:
        return Secret(_secret_value(value, path))
    origin = get_origin(tp)
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping")
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return MappingProxyType(
            {str(k): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
        )
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list")
        inner = get_args(tp)[0]
        return tuple(_convert(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string")
        return value
    return value


def _secret_value(value: Any, path: str) -> str:
    """Secrets come from the environment (``{env: NAME}``) or a file (``{file: PATH}``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        if "env" in value:
            name = str(value["env"])
            if name not in os.environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return os.environ[name]
        if "file" in value:
            try:
                return Path(str(value["file"])).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read secret file: {exc}") from None
    raise ConfigError(f"{path}: a secret is a string, {{env: NAME}} or {{file: PATH}}")


def _unknown_keys(tp: Any, value: Any, path: str) -> list[tuple[str, str]]:
    """Every unknown key under ``value``, as (full key, known keys of its section): one
    error lists them all, so fixing a file takes one round, not one per typo."""
    if tp is BusinessHoursConfig:
        return []  # parse_business_hours reports its own, all at once
    if is_dataclass(tp) and isinstance(tp, type) and isinstance(value, Mapping):
        hints = get_type_hints(tp)
        names = sorted(f.name for f in fields(tp))
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            key = f"{path}.{k}" if path else str(k)
            if k in names:
                out += _unknown_keys(hints[k], v, key)
            else:
                out.append((key, ", ".join(names)))
        return out
    if get_origin(tp) is tuple and isinstance(value, list | tuple):
        inner = get_args(tp)[0]
        return [u for i, v in enumerate(value) for u in _unknown_keys(inner, v, f"{path}[{i}]")]
    return []


def _build(cls: type, data: Mapping[str, Any], path: str) -> Any:
    hints = get_type_hints(cls)
    unknown = _unknown_keys(cls, data, path)
    if len(unknown) == 1:
        key, known = unknown[0]
        raise ConfigError(f"unknown configuration key {key} (known: {known})")
    if unknown:
        by_section: dict[str, list[str]] = {}
        for key, known in unknown:
            by_section.setdefault(known, []).append(key)
        lines = "".join(f"\n  {', '.join(keys)} (known: {known})"
                        for known, keys in by_section.items())
        raise ConfigError(f"{len(unknown)} unknown configuration keys:{lines}")
    kwargs = {
        k: _convert(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()
    }
    return cls(**kwargs)


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Load the YAML file at ``path`` (if any), apply top-level overrides, validate."""
    data: dict[str, Any] = {}
    if path:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"config file {path}: top level must be a mapping")
        data = dict(raw)
    for key, value in overrides.items():
        section, _, sub = key.partition("__")
        if sub:
            data.setdefault(section, {})
            data[section] = {**data[section], sub: value}
        else:
            data[key] = value
    cfg: Config = _build(Config, data, "")
    return cfg.validate()
