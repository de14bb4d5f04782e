"""The simulator: arrivals (a piecewise-constant Poisson process over the diurnal curve and
the surge) and one heap of pending steps, so life-cycles of different entities interleave
in time order while each entity's own events stay in order."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence

from core.config import SlaConfig
from core.events import DEFAULT_REGIONS
from pulse.simulation.conversation import Conversation
from pulse.simulation.logistics import Logistics, regions_picker
from pulse.simulation.records import (
    HOUR_MS,
    LOGISTICS,
    MIN_MS,
    TICKETS,
    Plan,
    RecentOrders,
    SimEvent,
    Step,
    rfc3339,
)
from pulse.simulation.scenarios import (
    DIURNAL,
    FLAT,
    OTHER_REGION_WEIGHT,
    REGION_WEIGHTS,
    SLOT_MS,
    SLOTS_PER_DAY,
    ScenarioConfig,
)
from pulse.simulation.tickets import TicketLifecycle

__all__ = ["Simulator"]

_LOCAL_OFFSET_MS = 8 * HOUR_MS  # the diurnal curve follows China Standard Time
_STREAM_TICKETS = 0
_STREAM_DELIVERIES = 1


class Simulator:
    """Generates the event stream of one scenario from ``start_ms`` on.

    Pure and reproducible: every draw comes from generators seeded by ``seed`` and the wall
    clock is never read; :meth:`until` is driven by the caller. ``sla`` is the service's
    SLA configuration the reply delays are drawn against (default: the shipped defaults).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        *,
        seed: int,
        start_ms: int,
        regions: Sequence[str] = DEFAULT_REGIONS,
        sla: SlaConfig | None = None,
    ) -> None:
        if not regions:
            raise ValueError("at least one region is needed")
        self.config = config
        self.seed = seed
        self.start_ms = int(start_ms)
        self.regions = tuple(regions)
        self.sla = sla if sla is not None else SlaConfig()
        self.emitted = 0
        self._rng = random.Random(seed)
        self._slots = DIURNAL if config.diurnal else FLAT
        if config.surge_start_s is not None and config.surge_end_s is not None:
            self._surge_start = self.start_ms + round(config.surge_start_s * 1000)
            self._surge_end = self.start_ms + round(config.surge_end_s * 1000)
        else:
            self._surge_start = self._surge_end = -1
        self._prefix = f"{seed}-"
        self._seq = 0
        self._heap: list[tuple[int, int, Plan | None, int]] = []
        self._next_t = [float(self.start_ms), float(self.start_ms)]
        self._base_per_ms = (
            config.rate / MIN_MS, config.rate * config.deliveries_per_ticket / MIN_MS,
        )
        self._seg = [(0.0, -math.inf), (0.0, -math.inf)]  # (events per ms, valid until)

        region = regions_picker(self.regions, REGION_WEIGHTS, OTHER_REGION_WEIGHT)
        orders = RecentOrders(self.regions, self._rng)
        talk = (
            Conversation(config, random.Random(f"{seed}-messages"), self.sla, self.in_surge)
            if config.customer_messages else None
        )
        self._tickets = TicketLifecycle(
            config, self._rng, prefix=self._prefix, region=region, orders=orders,
            in_surge=self.in_surge, sla=self.sla, talk=talk,
        )
        self._logistics = Logistics(
            config, self._rng, prefix=self._prefix, region=region, orders=orders,
            in_surge=self.in_surge,
        )

        self._push_arrival(_STREAM_TICKETS)
        if config.deliveries_per_ticket > 0:
            self._push_arrival(_STREAM_DELIVERIES)

    # ------------------------------------------------------------------ arrivals
    def in_surge(self, ts_ms: float) -> bool:
        """Whether ``ts_ms`` falls inside the configured surge."""
        return self._surge_start <= ts_ms < self._surge_end

    def rate_per_min(self, ts_ms: float) -> float:
        """Expected tickets created per minute at ``ts_ms``."""
        return self._mult_and_end(ts_ms)[0] * self.config.rate

    def _mult_and_end(self, t: float) -> tuple[float, float]:
        """The arrival multiplier at ``t`` and the time until which it stays constant."""
        local = t + _LOCAL_OFFSET_MS
        slot_index = math.floor(local / SLOT_MS)
        end = float((slot_index + 1) * SLOT_MS - _LOCAL_OFFSET_MS)
        mult = self._slots[slot_index % SLOTS_PER_DAY]
        if self._surge_start >= 0:
            if t < self._surge_start:
                end = min(end, float(self._surge_start))
            elif t < self._surge_end:
                cfg = self.config
                mult = cfg.surge_factor * max(mult, cfg.surge_floor)
                end = min(end, float(self._surge_end))
        return mult, end

    def _push_arrival(self, stream: int) -> None:
        t = self._next_t[stream]
        mult_per_ms, end = self._seg[stream]
        expo = self._rng.expovariate
        while True:  # exact piecewise-constant Poisson process (memoryless restart at edges)
            if t >= end:
                mult, end = self._mult_and_end(t)
                mult_per_ms = mult * self._base_per_ms[stream]
                self._seg[stream] = (mult_per_ms, end)
            nxt = t + expo(mult_per_ms)
            if nxt < end:
                break
            t = end
        self._next_t[stream] = nxt
        self._seq += 1
        heapq.heappush(self._heap, (int(nxt), self._seq, None, stream))

    # ------------------------------------------------------------------ iteration
    def until(self, end_ms: int) -> Iterator[SimEvent]:
        """Every event with ``ts <= end_ms`` not yet generated, in non-decreasing ts order.

        Call it again with a larger ``end_ms`` to go on (live mode: every ~100 ms with
        ``end_ms = now``); the sequence is the same however the calls are chunked, and an
        iterator dropped part-way loses nothing (unyielded events stay pending).
        """
        heap = self._heap
        pop = heapq.heappop
        push = heapq.heappush
        while heap and heap[0][0] <= end_ms:
            ts, _, plan, arg = pop(heap)
            if plan is None:
                ev = self._new_ticket(ts) if arg == _STREAM_TICKETS else self._new_delivery(ts)
                self._push_arrival(arg)
                yield ev
                continue
            step_ts, etype, extra = plan.steps[arg]
            nxt = arg + 1
            if nxt < len(plan.steps):
                self._seq += 1
                push(heap, (plan.steps[nxt][0], self._seq, plan, nxt))
            value: dict[str, object] = {
                "event_id": "",
                "type": etype,
                "ts": step_ts,
                plan.idfield: plan.key,
            }
            if extra:
                value.update(extra)
            yield self._finish(plan.topic, plan.key, value, step_ts)

    def _finish(self, topic: str, key: str, value: dict[str, object], ts: int) -> SimEvent:
        n = self.emitted
        self.emitted = n + 1
        value["event_id"] = self._prefix + str(n)
        if n % 8 == 3:  # deterministic share of RFC 3339 timestamps
            value["ts"] = rfc3339(ts)
        return SimEvent(topic, key, value, ts)

    def _schedule(self, plan: Plan | None) -> None:
        if plan is None or not plan.steps:
            return
        steps = plan.steps
        steps.sort(key=_step_ts)
        prev = steps[0][0]
        for i in range(1, len(steps)):  # strictly increasing within one entity
            t, etype, extra = steps[i]
            if t <= prev:
                t = prev + 1
                steps[i] = (t, etype, extra)
            prev = t
        self._seq += 1
        heapq.heappush(self._heap, (steps[0][0], self._seq, plan, 0))

    def _new_ticket(self, ts: int) -> SimEvent:
        tid, value, plan = self._tickets.new(ts)
        self._schedule(plan)
        return self._finish(TICKETS, tid, value, ts)

    def _new_delivery(self, ts: int) -> SimEvent:
        oid, value, plan = self._logistics.delivery(ts)
        self._schedule(plan)
        return self._finish(LOGISTICS, oid, value, ts)


def _step_ts(step: Step) -> int:
    return step[0]
