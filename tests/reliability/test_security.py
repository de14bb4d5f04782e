"""Loopback by default, no board without credentials elsewhere, secrets never shown."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from alerts.alerting import Alerting
from core.alerting import ActiveAlert, Notification
from core.config import load_config
from core.errors import ConfigError
from dashboard.server import BoardServer, EngineSource
from pulse.broker import free_port


def test_every_listener_defaults_to_loopback() -> None:
    cfg = load_config()
    assert cfg.metrics_host == "127.0.0.1"
    assert cfg.dashboard.host == "127.0.0.1"


def test_board_elsewhere_without_credentials_refuses_to_start() -> None:
    cfg = load_config(dashboard__host="0.0.0.0", dashboard__port=free_port())
    board = BoardServer(cfg.dashboard, EngineSource(lambda: None, None))
    with pytest.raises(ConfigError):
        board.start()


def test_secrets_stay_out_of_reprs_and_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PULSE_SASL", "sasl-pass-123")
    monkeypatch.setenv("PULSE_DING", "SECdingsecret456")
    dead = free_port()  # nothing listens: every send fails and is logged
    token = "robot-token-789"
    conf = tmp_path / "pulse.yaml"
    conf.write_text(
        "kafka:\n  sasl_plain_password: {env: PULSE_SASL}\n"
        "alerting:\n  sinks:\n"
        f"    - {{type: dingtalk, url: 'http://127.0.0.1:{dead}/robot/send?access_token={token}',"
        " secret: {env: PULSE_DING}, max_attempts: 2, backoff_s: 0.1, timeout_s: 1}\n"
    )
    cfg = load_config(conf)
    for text in (repr(cfg), str(cfg)):
        assert "sasl-pass-123" not in text
        assert "SECdingsecret456" not in text
    caplog.set_level(logging.DEBUG)
    alerting = Alerting.from_config(cfg)
    try:
        alert = ActiveAlert(
            name="P1ResolutionOverdue", severity="critical", labels=(),
            summary_zh="P1 超时", summary_en="P1 overdue", description_zh="", description_en="",
            since_ms=1_762_869_600_000, value=2, threshold=0, comparison=">", profile="normal",
        )
        alerting.notifier.submit([Notification("firing", alert, 1_762_869_600_000)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "gave up" not in caplog.text:
            time.sleep(0.2)
    finally:
        alerting.close()
    assert "gave up" in caplog.text or "failed" in caplog.text
    for secret in ("sasl-pass-123", "SECdingsecret456", token):
        assert secret not in caplog.text
