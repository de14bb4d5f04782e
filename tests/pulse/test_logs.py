"""Log set-up pieces with a pinned clock: kafka-python's repeats, the no-broker warning."""

from __future__ import annotations

import logging

import pytest

from core.config import load_config
from core.logs import _KafkaRepeats
from pulse.watch import BrokerWatch


def _record(name: str, msg: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("x",), None)


def test_a_repeated_kafka_message_passes_once_per_interval() -> None:
    now = [100.0]
    f = _KafkaRepeats(30.0, clock=lambda: now[0])
    assert f.filter(_record("kafka.conn", "connect to %s failed"))
    assert not f.filter(_record("kafka.conn", "connect to %s failed"))  # same template
    assert f.filter(_record("kafka.conn", "another %s"))
    assert f.filter(_record("kafka.client", "connect to %s failed"))  # another logger
    assert f.filter(_record("consumers.reader", "poll failed: %s"))  # ours: never held back
    assert f.filter(_record("consumers.reader", "poll failed: %s"))
    assert f.filter(_record("kafka.conn", "debug %s", logging.DEBUG))
    now[0] += 29.0
    assert not f.filter(_record("kafka.conn", "connect to %s failed"))
    now[0] += 1.5
    assert f.filter(_record("kafka.conn", "connect to %s failed"))


def test_no_broker_for_the_grace_period_warns_once_per_episode(
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(kafka__bootstrap_servers="k1:9093",
                      kafka__client={"security_protocol": "SASL_SSL"})
    watch = BrokerWatch(cfg.kafka, grace_s=10.0)
    with caplog.at_level(logging.INFO, logger="pulse.kafka"):
        watch.update(False, 0.0)
        watch.update(False, 9.5)
        assert not caplog.records
        watch.update(False, 10.0)
        watch.update(False, 30.0)
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "k1:9093" in caplog.text
        assert "security_protocol SASL_SSL" in caplog.text
        watch.update(True, 31.0)
        assert "answer again" in caplog.records[-1].getMessage()
        watch.update(False, 40.0)
        watch.update(False, 50.0)
        assert [r.levelno for r in caplog.records].count(logging.WARNING) == 2


def test_kafka_pythons_closed_socket_race_is_one_warning_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    """kafka-python's network loop reading a socket its close() just dropped logs an ERROR
    with a traceback; it is one warning line. Other kafka errors keep their traceback."""
    from core.logs import configure_logging

    configure_logging("info")
    log = logging.getLogger("kafka.net.transport")
    sock = None
    try:
        sock.recv(4096)  # type: ignore[attr-defined]
    except AttributeError:
        log.exception("%s: Error receiving network data closing socket", "<transport>")
    try:
        raise ValueError("a real fault")
    except ValueError:
        log.exception("%s: Error receiving network data closing socket", "<transport>")
    err = capsys.readouterr().err
    first, rest = err.split("\n", 1)
    assert "WARNING" in first
    assert "the socket was closed meanwhile" in first
    assert "'NoneType' object has no attribute 'recv'" in first
    assert "AttributeError" not in rest
    assert "Traceback" in rest  # the ValueError's, whole
    assert "ValueError: a real fault" in rest
