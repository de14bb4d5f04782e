"""The customer writing again (``ticket.message``, SPEC §7 conversation turns).

Drawn from a generator of its own, so turning the conversation on adds events to a
ticket's life without changing any other draw of the stream. Shares, per channel:

* after an agent reply the customer answers back with probability
  ``message_after_reply × weight(channel)`` (chat most, phone least), × ``0.6`` for every
  further round, × ``message_surge_factor`` during the surge — each answer opens a new
  turn, which an agent answers in a lognormal time that meets the channel's response SLA
  ``response_attainment`` of the time (slower during the surge);
* a customer kept waiting beyond the SLA writes again, a few of them, while the turn is
  still open (it changes nothing, §7) — more during the surge, when waits are longer;
* on chat and app a bot acknowledges some messages within seconds (a bot reply answers
  no turn); a bot-only ticket's customer sometimes writes once more and gets a bot reply;
* after a reopen the customer writes (the message opens the turn, not the reopen), and a
  few write a last "thanks" after the resolve (it opens nothing).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist

from core.config import SlaConfig
from core.events import CHANNELS
from pulse.simulation.records import HOUR_MS, MIN_MS, NO_EXTRA, Step
from pulse.simulation.scenarios import ScenarioConfig

__all__ = ["MESSAGE", "Conversation"]

MESSAGE = "ticket.message"

# relative chance of answering back, per channel (mean over the channel mix ≈ 1)
_BACK_WEIGHT: dict[str, float] = {"chat": 1.3, "app": 1.0, "phone": 0.5, "email": 0.8}
_ROUND_DECAY = 0.6  # each further round is less likely
_MAX_ROUNDS = 4
# median time the customer takes to answer back, per channel
_GAP_MEDIAN_MS: dict[str, float] = {
    "chat": 40_000, "app": 3 * MIN_MS, "phone": 20 * MIN_MS, "email": 3 * HOUR_MS,
}
_GAP_SIGMA = 0.9
_RESPONSE_SIGMA = 0.7
_CHASE_P = 0.3  # customers waiting beyond the SLA who write again before the answer
_BOT_ACK_P = 0.35  # chat/app messages a bot acknowledges within seconds
_BOT_ONLY_AGAIN_P = 0.2  # bot-only tickets whose customer writes once more
_AFTER_REOPEN_P = 0.8
_THANKS_P = 0.04


class Conversation:
    """Adds the customer's later messages and their answers to a ticket's planned steps."""

    def __init__(
        self,
        config: ScenarioConfig,
        rng: random.Random,
        sla: SlaConfig,
        in_surge: Callable[[float], bool],
    ) -> None:
        self._config = config
        self._rng = rng
        self._in_surge = in_surge
        self._back = {
            ch: config.message_after_reply * _BACK_WEIGHT.get(ch, 1.0) for ch in CHANNELS
        }
        self._gap_mu = {ch: math.log(_GAP_MEDIAN_MS.get(ch, HOUR_MS)) for ch in CHANNELS}
        z = NormalDist().inv_cdf(config.response_attainment)
        self.response_sla_ms = {ch: 1000 * sla.response(ch) for ch in CHANNELS}
        self._resp_mu = {
            ch: math.log(ms) - z * _RESPONSE_SIGMA for ch, ms in self.response_sla_ms.items()
        }

    def uniform(self) -> float:
        """One draw of the conversation's own generator."""
        return self._rng.random()

    def _slow(self, ts: float) -> float:
        return self._config.reply_slowdown if self._in_surge(ts) else 1.0

    def response_delay(self, channel: str, start: int) -> int:
        """How long an agent takes to answer a turn opened at ``start``."""
        slow = self._slow(start)
        sla = self.response_sla_ms[channel]
        d = self._rng.lognormvariate(self._resp_mu[channel], _RESPONSE_SIGMA) * slow
        return int(min(max(d, 1000.0), 1.9 * sla * slow))

    def chase(self, steps: list[Step], start: int, wait: int, sla_ms: int) -> None:
        """A customer kept waiting longer than ``sla_ms`` may write again while waiting."""
        rnd = self._rng.random
        if wait > sla_ms and wait > 2000 and rnd() < _CHASE_P:
            steps.append((start + int(wait * (0.6 + 0.35 * rnd())), MESSAGE, NO_EXTRA))

    def after_reply(
        self,
        steps: list[Step],
        channel: str,
        reply_ts: int,
        agent: dict[str, object],
        until: int | None,
    ) -> int:
        """Rounds of customer message → agent answer after the agent reply at ``reply_ts``,
        none at or after ``until``; returns the time of the last step added (or reply_ts)."""
        rnd = self._rng.random
        last = reply_ts
        cfg = self._config
        for rounds in range(_MAX_ROUNDS):
            p = self._back[channel] * _ROUND_DECAY**rounds
            if self._in_surge(last):
                p *= cfg.message_surge_factor
            if rnd() >= min(p, 0.95):
                break
            msg = last + max(2000, int(self._rng.lognormvariate(self._gap_mu[channel],
                                                                _GAP_SIGMA)))
            if until is not None and msg >= until:
                break
            steps.append((msg, MESSAGE, NO_EXTRA))
            delay = self.response_delay(channel, msg)
            if channel in ("chat", "app") and rnd() < _BOT_ACK_P:
                ack = msg + 1000 + int(rnd() * 3000)
                if ack < msg + delay:
                    steps.append((ack, "ticket.replied", {"by": "bot"}))
            self.chase(steps, msg, delay, self.response_sla_ms[channel])
            answer = msg + delay
            if until is not None and answer >= until:
                break  # resolved before anyone answered: the turn closes unanswered
            steps.append((answer, "ticket.replied", agent))
            last = answer
        return last

    def bot_only(self, steps: list[Step], bot_ts: int, resolved_at: int) -> None:
        """A bot-only ticket's customer writing once more; the bot answers again."""
        rnd = self._rng.random
        if rnd() < _BOT_ONLY_AGAIN_P:
            msg = bot_ts + 1 + int((resolved_at - bot_ts) * (0.1 + 0.5 * rnd()))
            steps.append((msg, MESSAGE, NO_EXTRA))
            again = msg + 1000 + int(rnd() * 3000)
            if again < resolved_at:
                steps.append((again, "ticket.replied", {"by": "bot"}))

    def after_reopen(
        self, steps: list[Step], channel: str, reopen_ts: int, agent: dict[str, object]
    ) -> int:
        """The customer's message after a reopen (it opens the turn) and its answer;
        returns the time of the answer, or ``reopen_ts`` when the customer did not write."""
        rnd = self._rng.random
        if rnd() >= _AFTER_REOPEN_P:
            return reopen_ts
        msg = reopen_ts + 1000 + int(rnd() * 10 * MIN_MS)
        steps.append((msg, MESSAGE, NO_EXTRA))
        answer = msg + self.response_delay(channel, msg)
        steps.append((answer, "ticket.replied", agent))
        return answer

    def thanks(self, steps: list[Step], resolved_at: int) -> None:
        """A few customers write after the resolve (a resolved ticket: no turn opens)."""
        rnd = self._rng.random
        if rnd() < _THANKS_P:
            steps.append((resolved_at + MIN_MS + int(rnd() * 30 * MIN_MS), MESSAGE, NO_EXTRA))
