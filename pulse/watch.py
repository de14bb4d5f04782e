"""A warning when no Kafka broker answers: the one line a misconfiguration gets.

kafka-python can wait silently: a TLS client against a plaintext listener that never
closes the connection hangs in the handshake without a log line, at any level. So the
service says it itself, once per episode, naming what to check.
"""

from __future__ import annotations

import logging

from core.config import KafkaConfig

__all__ = ["BrokerWatch"]

log = logging.getLogger("pulse.kafka")


class BrokerWatch:
    """``update(up, now_s)`` on every check; warns after ``grace_s`` without a broker."""

    def __init__(self, cfg: KafkaConfig, grace_s: float = 10.0) -> None:
        self._cfg = cfg
        self._grace_s = grace_s
        self._down_since: float | None = None
        self._warned = False

    def update(self, up: bool, now_s: float) -> None:
        if up:
            if self._warned:
                log.info("the Kafka brokers answer again")
            self._down_since, self._warned = None, False
            return
        if self._down_since is None:
            self._down_since = now_s
        if not self._warned and now_s - self._down_since >= self._grace_s:
            self._warned = True
            protocol = self._cfg.consumer.get(
                "security_protocol", self._cfg.client.get("security_protocol", "PLAINTEXT"))
            log.warning(
                "no answer from the Kafka brokers at %s for %.0f s (security_protocol %s): "
                "check bootstrap_servers, security_protocol and the ssl_/sasl_ settings",
                self._cfg.bootstrap_servers, now_s - self._down_since, protocol)
