"""The ticket life-cycle model: every step of a ticket planned at its creation.

A ticket is answered by a bot alone (some chat/app tickets) or by an agent whose first reply
meets the channel's first-response SLA ``first_response_attainment`` of the time outside a
surge; then follow-ups, transfers, escalations, the resolve (P1 within its SLA), a few
reopens and ratings. With ``customer_messages`` the conversation of
:mod:`pulse.simulation.conversation` is woven in. SLAs come from ``core.config.SlaConfig``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist

from core.config import SlaConfig
from core.events import CATEGORIES, CHANNELS, PRIORITIES
from pulse.simulation.conversation import Conversation
from pulse.simulation.records import (
    HOUR_MS,
    MIN_MS,
    NO_EXTRA,
    TICKETS,
    Picker,
    Plan,
    RecentOrders,
    Step,
)
from pulse.simulation.scenarios import (
    CATEGORY_WEIGHTS,
    CHANNEL_WEIGHTS,
    PRIORITY_WEIGHTS,
    ScenarioConfig,
)

__all__ = ["TicketLifecycle"]

_FR_SIGMA = 0.7
# total resolution time ~ lognormal by priority: (median ms, sigma)
_RESOLUTION = {
    "P1": (math.log(35 * MIN_MS), 0.6),
    "P2": (math.log(5 * HOUR_MS), 0.9),
    "P3": (math.log(10 * HOUR_MS), 0.9),
    "P4": (math.log(16 * HOUR_MS), 0.9),
}


class TicketLifecycle:
    """Draws a ticket's creation and plans the rest of its life."""

    def __init__(
        self,
        config: ScenarioConfig,
        rng: random.Random,
        *,
        prefix: str,
        region: Picker,
        orders: RecentOrders,
        in_surge: Callable[[float], bool],
        sla: SlaConfig,
        talk: Conversation | None,
    ) -> None:
        self._config = config
        self._rng = rng
        self._prefix = prefix
        self._region = region
        self._orders = orders
        self._in_surge = in_surge
        self._talk = talk
        self._channel = Picker(CHANNEL_WEIGHTS, CHANNELS)
        self._category = Picker(CATEGORY_WEIGHTS, CATEGORIES)
        self._priority = Picker(PRIORITY_WEIGHTS, PRIORITIES)
        self._n = 0
        self._fr_sla = {ch: 1000 * sla.first_response(ch) for ch in CHANNELS}
        self._res_sla = {p: 1000 * sla.resolution(p) for p in PRIORITIES}
        # first response delay ~ lognormal, P(delay <= SLA) = target outside a surge
        z = NormalDist().inv_cdf(config.first_response_attainment)
        self._fr_mu = {ch: math.log(ms) - z * _FR_SIGMA for ch, ms in self._fr_sla.items()}

    def new(self, ts: int) -> tuple[str, dict[str, object], Plan | None]:
        """``(ticket id, ticket.created value, the planned rest of its life)``."""
        rnd = self._rng.random
        self._n += 1
        tid = f"T{self._prefix}{self._n}"
        channel = self._channel(rnd())
        category = self._category(rnd())
        priority = self._priority(rnd())
        region = self._region(rnd())
        value: dict[str, object] = {
            "event_id": "",
            "type": "ticket.created",
            "ts": ts,
            "ticket_id": tid,
            "channel": channel,
            "category": category,
            "priority": priority,
            "region": region,
            "customer_tier": "vip" if rnd() < 0.12 else "normal",
        }
        if category != "inquiry" or rnd() < 0.3:
            order = self._orders.pick(region)
            if order is not None:
                value["order_id"] = order
        steps = self._steps(ts, channel, category, priority)
        return tid, value, Plan(TICKETS, "ticket_id", tid, steps) if steps else None

    def _steps(self, ts: int, channel: str, category: str, priority: str) -> list[Step]:
        rnd = self._rng.random
        lognorm = self._rng.lognormvariate
        talk = self._talk
        slow = self._config.reply_slowdown if self._in_surge(ts) else 1.0
        steps: list[Step] = []
        resolved_at: int | None
        agent: dict[str, object] = {"by": "agent"}

        bot_p = 0.18 if channel == "chat" else 0.10 if channel == "app" else 0.0
        if category != "complaint" and rnd() < bot_p:
            # resolved by the bot, no agent reply ever
            b = ts + 1000 + int(rnd() * 4000)
            steps.append((b, "ticket.replied", {"by": "bot"}))
            resolved_at = b + 30_000 + int(rnd() * 570_000)
            if talk is not None:
                talk.bot_only(steps, b, resolved_at)
            steps.append((resolved_at, "ticket.resolved", NO_EXTRA))
        else:
            sla = self._fr_sla[channel]
            f = lognorm(self._fr_mu[channel], _FR_SIGMA) * slow
            f = min(max(f, 1000.0), 1.9 * sla * slow)  # tail capped below 2x SLA normally
            mu, sigma = _RESOLUTION[priority]
            r = lognorm(mu, sigma) * slow
            if priority == "P1":
                r = min(r, 0.97 * self._res_sla["P1"] * slow)
                f = min(f, 0.4 * r)  # P1 tickets are picked up first
            else:
                r = min(r, 3.0 * self._res_sla[priority])
            r = max(r, f + 60_000 + rnd() * 1_200_000)
            if channel == "chat" and rnd() < 0.6:  # the bot greets before an agent
                steps.append((ts + int(f * (0.1 + 0.5 * rnd())), "ticket.replied", {"by": "bot"}))
            agent = {"by": "agent", "agent_id": f"A{int(rnd() * 300):03d}"}
            steps.append((ts + int(f), "ticket.replied", agent))
            span = r - f
            if rnd() < 0.5:
                steps.append((ts + int(f + span * (0.2 + 0.6 * rnd())), "ticket.replied", agent))
            if rnd() < 0.08:
                steps.append(
                    (ts + int(f + span * (0.1 + 0.3 * rnd())), "ticket.transferred",
                     {"to": "expert"})
                )
            esc_p = 0.10 if category == "complaint" else 0.01
            if rnd() < esc_p:
                steps.append(
                    (ts + int(f + span * (0.2 + 0.4 * rnd())), "ticket.escalated",
                     {"level": "L2", "reason": "complaint" if category == "complaint"
                      else "sla_risk"})
                )
            left_open = priority in ("P3", "P4") and rnd() < 0.01
            resolved_at = None if left_open else ts + int(r)
            if talk is not None:
                talk.chase(steps, ts, int(f), sla)
                # a P1 is resolved on time: the conversation stops at its resolve; others
                # go on talking, and the resolve waits for the last answer
                until = resolved_at if priority == "P1" else None
                last = talk.after_reply(steps, channel, ts + int(f), agent, until)
                if resolved_at is not None and last >= resolved_at and priority != "P1":
                    resolved_at = last + 60_000 + int(self._talk_rnd() * 600_000)
            if resolved_at is not None:
                steps.append((resolved_at, "ticket.resolved", NO_EXTRA))

        if resolved_at is not None:
            if rnd() < 0.03:
                reopen = resolved_at + 1_800_000 + int(rnd() * 12 * HOUR_MS)
                steps.append((reopen, "ticket.reopened", NO_EXTRA))
                resolved_at = reopen + int(lognorm(math.log(2 * HOUR_MS), 0.6))
                if talk is not None:
                    answered = talk.after_reopen(steps, channel, reopen, agent)
                    resolved_at = max(resolved_at, answered + 60_000)
                steps.append((resolved_at, "ticket.resolved", NO_EXTRA))
            elif talk is not None:
                talk.thanks(steps, resolved_at)
            if rnd() < 0.4:
                steps.append(
                    (resolved_at + 60_000 + int(rnd() * 2 * HOUR_MS), "ticket.rated",
                     self._rating())
                )
        return steps

    def _talk_rnd(self) -> float:
        return self._talk.uniform() if self._talk is not None else 0.0

    def _rating(self) -> dict[str, object]:
        rnd = self._rng.random
        u = rnd()
        out: dict[str, object] = {}
        if u < 0.9:
            c = rnd()
            out["csat"] = 5 if c < 0.45 else 4 if c < 0.75 else 3 if c < 0.87 else (
                2 if c < 0.93 else 1
            )
        if u >= 0.3:
            c = rnd()
            out["nps"] = (
                10 if c < 0.25 else 9 if c < 0.45 else 8 if c < 0.60 else 7 if c < 0.72
                else int(rnd() * 7)
            )
        return out
