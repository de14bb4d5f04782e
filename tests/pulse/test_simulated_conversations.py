"""The simulator's customers writing again (``ticket.message``, SPEC §7), measured on
generated streams: how often they answer back, more in the surge, a few while waiting."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass

import pytest

from core.config import SlaConfig
from core.events import CHANNELS
from pulse.simulation import SimEvent, Simulator, scenario

START = 1_794_240_000_000  # 2026-11-10T00:00:00+08:00
HOUR = 3_600_000
SURGE = (START + 8 * HOUR, START + 10 * HOUR)
MESSAGE = "ticket.message"


def _talking(**overrides: object) -> list[SimEvent]:
    cfg = scenario("double11", rate=10.0, surge_start_s=8 * 3600, surge_end_s=10 * 3600,
                   deliveries_per_ticket=0.0, customer_messages=True, **overrides)
    return list(Simulator(cfg, seed=21, start_ms=START).until(START + 14 * HOUR))


@pytest.fixture(scope="module")
def talking() -> list[SimEvent]:
    """8 h of normal traffic (from local midnight), a 2 h surge, 4 h after: tickets only."""
    return _talking()


def _by_ticket(evs: list[SimEvent]) -> dict[str, list[SimEvent]]:
    out: dict[str, list[SimEvent]] = defaultdict(list)
    for e in evs:
        out[e.key].append(e)
    return out


def _is_agent_reply(e: SimEvent) -> bool:
    return e.value["type"] == "ticket.replied" and e.value.get("by", "agent") == "agent"


def _answered_back(evs: list[SimEvent], lo: int, hi: int) -> tuple[float, int]:
    """Share of agent replies in [lo, hi) the customer answers (a message before the next
    agent reply or the resolve), and how many replies that share is over."""
    replies = answered = 0
    for steps in _by_ticket(evs).values():
        for i, e in enumerate(steps):
            if not (_is_agent_reply(e) and lo <= e.ts_ms < hi):
                continue
            replies += 1
            for later in steps[i + 1:]:
                if later.value["type"] == MESSAGE:
                    answered += 1
                    break
                if _is_agent_reply(later) or later.value["type"] == "ticket.resolved":
                    break
    return answered / replies, replies


@dataclass
class _Kinds:
    """Messages by what they do under §7 (plain bookkeeping, independent of the model)."""

    opening: int = 0  # no open turn: opens one
    waiting: int = 0  # a turn is open: changes nothing
    resolved: int = 0  # on a resolved ticket: opens nothing


def _message_kinds(evs: list[SimEvent], lo: int, hi: int) -> _Kinds:
    kinds = _Kinds()
    for steps in _by_ticket(evs).values():
        if steps[0].value["type"] != "ticket.created":
            continue
        turn_open, resolved = True, False
        for e in steps:
            t = e.value["type"]
            if t == MESSAGE:
                counted = lo <= e.ts_ms < hi
                if resolved:
                    kinds.resolved += counted
                elif turn_open:
                    kinds.waiting += counted
                else:
                    kinds.opening += counted
                    turn_open = True
            elif _is_agent_reply(e):
                turn_open = False
            elif t == "ticket.resolved":
                turn_open, resolved = False, True
            elif t == "ticket.reopened":
                resolved = False
    return kinds


def test_customers_answer_back_after_replies_and_more_in_the_surge(
    talking: list[SimEvent],
) -> None:
    normal, n = _answered_back(talking, START + 2 * HOUR, SURGE[0])
    assert n > 800  # the night is quiet (local 02:00-08:00)
    assert 0.15 < normal < 0.35, normal  # about a third of replies draw an answer
    surge, n = _answered_back(talking, *SURGE)
    assert n > 2000
    assert surge > 1.4 * normal, (surge, normal)
    after, _ = _answered_back(talking, SURGE[1] + HOUR, START + 12 * HOUR)
    assert after < 1.2 * normal, (after, normal)


def test_a_few_write_again_while_waiting(talking: list[SimEvent]) -> None:
    normal = _message_kinds(talking, START + 2 * HOUR, SURGE[0])
    total = normal.opening + normal.waiting + normal.resolved
    assert total > 250
    assert normal.opening / total > 0.7  # most messages open a new turn
    assert 0.02 < normal.waiting / total < 0.2, normal  # "a few" after a long wait
    assert 0 < normal.resolved / total < 0.1  # a last "thanks" after the resolve
    surge = _message_kinds(talking, *SURGE)
    s_total = surge.opening + surge.waiting + surge.resolved
    # replies are slower in the surge: more customers are kept waiting and write again
    assert surge.waiting / s_total > normal.waiting / total


def test_per_ticket_order_and_realistic_times(talking: list[SimEvent]) -> None:
    ts = [e.ts_ms for e in talking]
    assert ts == sorted(ts)
    gaps: dict[str, list[int]] = defaultdict(list)
    for steps in _by_ticket(talking).values():
        if steps[0].value["type"] != "ticket.created":
            continue
        times = [e.ts_ms for e in steps]
        assert times == sorted(set(times))  # strictly increasing within a ticket (one key)
        assert all(e.topic == "tickets" and e.value["ticket_id"] == e.key for e in steps)
        channel = str(steps[0].value["channel"])
        types = [e.value["type"] for e in steps]
        assert "ticket.created" not in types[1:]
        if "ticket.rated" in types:
            assert "ticket.resolved" in types[: types.index("ticket.rated")]
        for prev, e in itertools.pairwise(steps):
            if e.value["type"] == MESSAGE and _is_agent_reply(prev):
                gaps[channel].append(e.ts_ms - prev.ts_ms)
    # the customer answers a chat within a minute or so, an email hours later
    median = {ch: statistics.median(g) for ch, g in gaps.items()}
    assert set(median) == set(CHANNELS)
    assert 10_000 < median["chat"] < 120_000, median
    assert median["chat"] < median["app"] < median["phone"] < median["email"], median
    assert median["email"] > HOUR


def test_later_responses_meet_the_response_sla_of_the_config() -> None:
    """The answers to later turns are drawn against ``sla.response`` of the service's
    config: a slower SLA for chat gives slower answers, as often within it."""

    def answers(evs: list[SimEvent], sla_ms: int) -> tuple[float, float]:
        delays = []
        for steps in _by_ticket(evs).values():
            if steps[0].value.get("channel") != "chat":
                continue
            start: int | None = None
            for e in steps:
                if e.value["type"] == MESSAGE and start is None and any(
                    _is_agent_reply(p) for p in steps if p.ts_ms < e.ts_ms
                ):
                    start = e.ts_ms
                elif _is_agent_reply(e) and start is not None:
                    delays.append(e.ts_ms - start)
                    start = None
        delays.sort()
        return statistics.median(delays), sum(d <= sla_ms for d in delays) / len(delays)

    cfg = scenario("normal", rate=10.0, diurnal=False, deliveries_per_ticket=0.0,
                   customer_messages=True)
    default = list(Simulator(cfg, seed=4, start_ms=START).until(START + 4 * HOUR))
    slow_sla = SlaConfig(response_s={"chat": 120})
    slow = list(Simulator(cfg, seed=4, start_ms=START, sla=slow_sla).until(START + 4 * HOUR))
    med_default, within_default = answers(default, 30_000)
    med_slow, within_slow = answers(slow, 120_000)
    assert med_slow == pytest.approx(4 * med_default, rel=0.2)
    for within in (within_default, within_slow):
        assert within == pytest.approx(0.9, abs=0.04)


def test_first_response_sla_comes_from_the_config() -> None:
    cfg = scenario("normal", rate=10.0, diurnal=False, deliveries_per_ticket=0.0)

    def first_chat_replies(sla: SlaConfig | None) -> float:
        evs = Simulator(cfg, seed=8, start_ms=START, sla=sla).until(START + 3 * HOUR)
        created: dict[str, int] = {}
        first: dict[str, int] = {}
        for e in evs:
            if e.value["type"] == "ticket.created" and e.value["channel"] == "chat":
                created[e.key] = e.ts_ms
            elif _is_agent_reply(e) and e.key in created:
                first.setdefault(e.key, e.ts_ms - created[e.key])
        return statistics.median(first.values())

    chat_90s = SlaConfig(first_response_s={"chat": 90, "phone": 900, "app": 1800,
                                           "email": 86400})
    assert first_chat_replies(chat_90s) == pytest.approx(3 * first_chat_replies(None), rel=0.2)


def test_conversation_adds_events_and_changes_no_other_draw() -> None:
    """With messages on, the tickets created are the same ones (the conversation draws from
    a generator of its own), and the stream stays deterministic and chunking-invariant."""
    cfg = scenario("double11", rate=10.0, surge_start_s=1800, surge_end_s=3600)
    end = START + 2 * HOUR

    def created(evs: list[SimEvent]) -> list[tuple[object, ...]]:
        return [(e.key, e.ts_ms, e.value["channel"], e.value["priority"], e.value["region"])
                for e in evs if e.value["type"] == "ticket.created"]

    off = list(Simulator(cfg, seed=3, start_ms=START).until(end))
    on_cfg = scenario("double11", rate=10.0, surge_start_s=1800, surge_end_s=3600,
                      customer_messages=True)
    on = list(Simulator(on_cfg, seed=3, start_ms=START).until(end))
    assert created(on) == created(off)
    assert not any(e.value["type"] == MESSAGE for e in off)
    assert sum(e.value["type"] == MESSAGE for e in on) > 500
    sim = Simulator(on_cfg, seed=3, start_ms=START)
    chunked: list[SimEvent] = []
    for t in range(START, end + 1, 7_919):
        chunked.extend(sim.until(t))
    chunked.extend(sim.until(end))
    assert chunked == on
