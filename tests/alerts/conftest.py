"""Fixtures of the alert tests: a robot server and a sample notification."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.model import ActiveAlert, Notification
from feed import T0
from robots import RobotServer


@pytest.fixture
def robots() -> Iterator[RobotServer]:
    with RobotServer() as server:
        yield server


@pytest.fixture
def alert() -> ActiveAlert:
    return ActiveAlert(
        name="FirstResponseSlaLow", severity="critical", labels=(("team", "cs"),),
        summary_zh="首次响应 SLA 达成率过低：85%", summary_en="First-response SLA low: 85%",
        description_zh="低于 88%。", description_en="Below 88%.",
        since_ms=T0, value=0.85, threshold=0.88, comparison="<", profile="peak",
        resolved_summary_zh="已恢复：93%", resolved_summary_en="Recovered: 93%", unit="ratio",
    )


@pytest.fixture
def firing(alert: ActiveAlert) -> Notification:
    return Notification("firing", alert, T0)


@pytest.fixture
def resolved(alert: ActiveAlert) -> Notification:
    return Notification("resolved", alert, T0 + 600_000, ends_ms=T0 + 600_000)
