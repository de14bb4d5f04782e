"""Moved to :mod:`core.errors`; kept until every import is re-pointed (issue 15)."""

from core.errors import BrokerError, ConfigError, PulseError, RuleError

__all__ = ["BrokerError", "ConfigError", "PulseError", "RuleError"]
