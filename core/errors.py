"""The project's exception hierarchy, so callers catch what they mean."""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "PulseError", "RuleError"]


class PulseError(Exception):
    """Base of every error Aftersales Pulse raises on purpose."""


class ConfigError(PulseError):
    """A configuration file or flag is invalid; the message names the key."""


class RuleError(ConfigError):
    """An alert rule file is invalid; the message names the rule and the field."""


class BrokerError(PulseError):
    """The local broker could not be started, or no Kafka broker could be reached."""
