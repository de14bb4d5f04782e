"""kafka-python client settings from the config: SASL/SSL and friends passed through.

``kafka.client`` goes to every client; ``kafka.consumer``, ``kafka.producer`` and
``kafka.admin`` go to that client only, over ``client``. kafka-python refuses a setting
its client does not know (``Unrecognized configs``), so consumer-only settings such as
``isolation_level`` must not reach the DLQ producer or the admin client; a misplaced one
is reported here, naming the key and where it belongs.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from core.config import KafkaConfig
from core.errors import ConfigError

__all__ = ["Role", "check_settings", "client_settings", "default_client_id"]

Role = Literal["consumer", "producer", "admin"]
_ROLES: tuple[Role, ...] = ("consumer", "producer", "admin")

_CLIENTS: dict[str, Any] = {
    "consumer": KafkaConsumer,
    "producer": KafkaProducer,
    "admin": KafkaAdminClient,
}


def default_client_id() -> str:
    """``aftersales-pulse-<host>``: broker logs, quotas and ACL audits name the replica."""
    return f"aftersales-pulse-{socket.gethostname()}"


def _known(role: Role) -> set[str]:
    cls = _CLIENTS[role]
    return set(cls.DEFAULT_CONFIG) | set(getattr(cls, "DEPRECATED_CONFIGS", ()))


def client_settings(cfg: KafkaConfig, role: Role) -> dict[str, Any]:
    """Settings for one client: shared, then the role's own; the password from its secret."""
    settings: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers.split(","),
        "client_id": default_client_id(),
    }
    own: Mapping[str, Any] = getattr(cfg, role)
    known = _known(role)
    for section, values in (("client", cfg.client), (role, own)):
        bad = sorted(set(values) - known)
        if bad:
            where = ("kafka.consumer, kafka.producer or kafka.admin"
                     if section == "client" else "the client it belongs to")
            raise ConfigError(
                f"kafka.{section}: {', '.join(bad)} not known to kafka-python's {role} "
                f"client (settings for one client only go under {where})"
            )
        settings.update(values)
    if cfg.sasl_plain_password:
        settings["sasl_plain_password"] = cfg.sasl_plain_password.get()
    return settings


def check_settings(cfg: KafkaConfig) -> None:
    """Raise the ConfigError a client would meet later, before anything starts."""
    for role in _ROLES:
        client_settings(cfg, role)
