"""Alerts judged on a rebuilt state (SPEC §2 "The log can go back"): no plain "resolved".

The reader tells listeners in the snapshot (``rebuilds``, ``log_resets``); the alerting
holds judgement while it rebuilds (not-ready snapshots), judges the rebuilt state at once,
and an episode that ends there carries the reason in every sink's words.
"""

from __future__ import annotations

from types import MappingProxyType

from feed import T0
from test_evaluator import BASE, Script, make, rule

from alerts.render import message_lines, title
from alerts.sinks.alertmanager import postable
from alerts.sinks.webhook import payload
from core.alerting import Notification
from core.snapshot import Snapshot, replace_snapshot


def snap(ms: int, *, rebuilds: int = 1, resets: int = 0, ready: bool = True) -> Snapshot:
    return replace_snapshot(BASE, clock_ms=ms, ready=ready, rebuilds=rebuilds,
                   log_resets=MappingProxyType({"tickets": resets, "logistics": 0}))


def firing_alerting(script: Script, **kw: object):  # type: ignore[no-untyped-def]
    al = make(rule(script, for_s=0, **kw))  # type: ignore[arg-type]
    script.set(0.5)
    al.on_snapshot(snap(T0))
    assert [a.name for a in al.active_alerts()] == ["SlaLow"]
    return al


def test_an_episode_gone_after_a_log_reset_ends_with_the_reason_not_as_resolved() -> None:
    s = Script()
    al = firing_alerting(s)
    s.set(None)  # the rebuilt state no longer shows the series
    al.on_snapshot(snap(T0 + 5_000, rebuilds=2, resets=1, ready=False))
    assert len(al.history) == 1  # held while rebuilding
    al.on_snapshot(snap(T0 + 6_000, rebuilds=2, resets=1))  # off the grid: judged at once
    end = al.history[-1]
    assert (end.status, end.reason) == ("resolved", "log_reset")
    assert al.active_alerts() == ()
    for lang in ("zh", "en"):
        text = title(end, lang) + "\n".join(message_lines(end, lang, None))
        assert "已恢复" not in text
        assert "RESOLVED" not in text
        assert "Resolved:" not in text
    assert title(end, "en").startswith("[ENDED: log reset, state rebuilt]")
    assert title(end, "zh").startswith("[已结束·日志重置]")
    body = payload(end)
    assert body["status"] == "resolved"
    assert body["reason"] == "log_reset"
    assert "not a recovery" in body["alert"]["resolved_summary"]["en"]
    am = postable(end.alert, end.ends_ms, "", resolved=True, reason=end.reason)
    assert am["annotations"]["reason"] == "log_reset"
    assert "not a recovery" in am["annotations"]["resolved_summary_en"]


def test_after_a_log_reset_even_a_visible_recovery_is_not_called_one() -> None:
    s = Script()
    al = firing_alerting(s)
    s.set(0.99)  # the old log's tickets are gone: what remains looks fine
    al.on_snapshot(snap(T0 + 15_000, rebuilds=2, resets=1))
    assert [(n.status, n.reason) for n in al.history][-1] == ("resolved", "log_reset")


def test_an_episode_still_true_on_the_rebuilt_state_goes_on_quietly() -> None:
    s = Script()
    al = firing_alerting(s)
    al.on_snapshot(snap(T0 + 15_000, rebuilds=2, resets=1))
    assert [n.status for n in al.history] == ["firing"]
    assert al.active_alerts()[0].since_ms == T0


def test_after_a_plain_rebuild_a_vanished_series_says_so_a_recovery_does_not() -> None:
    s = Script()
    al = firing_alerting(s, labels=("region",))
    s.fn = None
    s.now = {(): 0.5, (("region", "east"),): 0.5, (("region", "west"),): 0.5}
    al.on_snapshot(snap(T0 + 15_000))
    assert len(al.active_alerts()) == 3  # (), east, west
    s.now = {(("region", "east"),): 0.99}  # west and () are no longer visible
    al.on_snapshot(snap(T0 + 30_000, rebuilds=2))
    ends = {n.alert.labels: n.reason for n in al.history if n.status == "resolved"}
    assert ends == {(): "rebuilt", (("region", "east"),): "", (("region", "west"),): "rebuilt"}
    plain = next(n for n in al.history if n.status == "resolved" and not n.reason)
    assert title(plain, "en").startswith("[RESOLVED]")


def test_later_ends_are_plain_again() -> None:
    s = Script()
    al = firing_alerting(s)
    al.on_snapshot(snap(T0 + 15_000, rebuilds=2, resets=1))  # still firing after the reset
    s.set(0.99)
    al.on_snapshot(snap(T0 + 30_000, rebuilds=2, resets=1))
    assert [(n.status, n.reason) for n in al.history][-1] == ("resolved", "")


def test_a_pending_episode_restarts_its_for_after_a_log_reset() -> None:
    s = Script()
    al = make(rule(s, for_s=30))
    s.set(0.5)
    al.on_snapshot(snap(T0))
    al.on_snapshot(snap(T0 + 15_000))
    al.on_snapshot(snap(T0 + 30_000, rebuilds=2, resets=1))  # would have fired here
    assert list(al.history) == []
    al.on_snapshot(snap(T0 + 45_000, rebuilds=2, resets=1))
    al.on_snapshot(snap(T0 + 60_000, rebuilds=2, resets=1))
    notes: list[Notification] = list(al.history)
    assert [(n.status, n.at_ms - T0) for n in notes] == [("firing", 60_000)]
