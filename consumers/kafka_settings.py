"""kafka-python client settings from the config: SASL/SSL and friends passed through."""

from __future__ import annotations

from typing import Any

from pulse.config import KafkaConfig

__all__ = ["client_settings"]


def client_settings(cfg: KafkaConfig) -> dict[str, Any]:
    """Common settings for every client; the password comes from the wrapped secret."""
    settings: dict[str, Any] = {"bootstrap_servers": cfg.bootstrap_servers.split(",")}
    settings.update(dict(cfg.client))
    if cfg.sasl_plain_password:
        settings["sasl_plain_password"] = cfg.sasl_plain_password.get()
    return settings
