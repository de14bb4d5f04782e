"""Alerting (SPEC §4): one rule file → in-process evaluation, notifications, Prometheus rules."""

from alerts.alerting import Alerting, TileThreshold
from alerts.model import ActiveAlert, Notification
from alerts.rules import Rule, load_rules

__all__ = ["ActiveAlert", "Alerting", "Notification", "Rule", "TileThreshold", "load_rules"]
