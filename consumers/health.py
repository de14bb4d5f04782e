"""Is the consumer's broker connection alive? kafka-python alone notices only slowly."""

from __future__ import annotations

import time

from kafka import KafkaConsumer

__all__ = ["connection_healthy"]


def connection_healthy(consumer: KafkaConsumer, session_timeout_ms: int) -> bool:
    """Connected to a broker whose oldest request is not overdue.

    A frozen broker keeps its TCP connections open, so kafka-python only notices when
    the request times out (``request_timeout_ms``, 30 s), then reconnects to the same
    open port; an unanswered request older than the session timeout says it sooner.
    Rebalance-sized requests (JoinGroup) may legitimately wait longer and are ignored.
    """
    try:  # kafka-python internals (they moved between versions): never fail a snapshot
        client = consumer._client
        ids = [getattr(b, "node_id", None) for b in client.cluster.brokers()]
        if ids and None not in ids and not any(client.connected(i) for i in ids):
            return False
    except Exception:
        pass
    try:
        limit_s = max(2.0, session_timeout_ms / 1000)
        request_s = consumer.config["request_timeout_ms"] / 1000
        now = time.monotonic()
        for conn in list(consumer._manager._conns.values()):
            pending = conn.in_flight_requests
            if not pending:
                continue
            _cid, _future, sent, timeout_at, _task = pending[0]
            if timeout_at - sent <= request_s + 1 and now - sent > limit_s:
                return False
    except Exception:
        return True
    return True
