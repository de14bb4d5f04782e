"""Alerting (SPEC §4): one rule file → in-process evaluation, notifications, Prometheus rules."""

from alerts.alerting import Alerting, TileThreshold
from alerts.rules import Rule, load_rules
from core.alerting import ActiveAlert, Notification

__all__ = ["ActiveAlert", "Alerting", "Notification", "Rule", "TileThreshold", "load_rules"]
