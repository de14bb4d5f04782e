from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Secret, load_config
from core.errors import ConfigError


def test_unknown_keys_are_refused_by_name(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka:\n  bootstrap_server: x:9092\n")
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap_server"):
        load_config(f)


def test_wrong_types_name_the_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("metrics_port: lots\n")
    with pytest.raises(ConfigError, match="metrics_port: expected an integer"):
        load_config(f)


def test_secrets_come_from_env_or_file_and_never_show(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PW", "hunter2")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    f = tmp_path / "c.yaml"
    f.write_text(f"kafka:\n  sasl_plain_password: {{env: PULSE_PW}}\n"
                 f"dashboard:\n  password: {{file: {pw}}}\n")
    cfg = load_config(f)
    assert cfg.kafka.sasl_plain_password.get() == "hunter2"
    assert cfg.dashboard.password.get() == "s3cret"
    assert "hunter2" not in repr(cfg)
    assert "s3cret" not in repr(cfg)
    assert str(Secret("x")) == "Secret('**********')"


def test_missing_env_secret_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka:\n  sasl_plain_password: {env: PULSE_DOES_NOT_EXIST}\n")
    with pytest.raises(ConfigError, match="PULSE_DOES_NOT_EXIST"):
        load_config(f)


def test_horizon_must_cover_sla_and_window() -> None:
    with pytest.raises(ConfigError, match="state_horizon_s"):
        load_config(state_horizon_s=3600)


def test_a_partial_sla_mapping_keeps_the_other_defaults(tmp_path: Path) -> None:
    """``first_response_s: {chat: 60}`` changes chat's SLA only (it used to crash the engine
    with KeyError 'email' at the first phone ticket)."""
    conf = tmp_path / "pulse.yaml"
    conf.write_text("sla:\n  first_response_s: {chat: 60}\n  resolution_s: {P1: 3600}\n")
    sla = load_config(conf).sla
    assert [sla.first_response(c) for c in ("chat", "phone", "email", "app", "other")] == \
        [60, 900, 86400, 1800, 86400]
    assert [sla.resolution(p) for p in ("P1", "P2", "P3", "P4", "other")] == \
        [3600, 86400, 172800, 259200, 172800]
    assert sla.response("chat") == 60
    assert sla.response("phone") == 900
