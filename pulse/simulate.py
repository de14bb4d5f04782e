"""``pulse simulate`` and the demo's traffic: the simulator, paced to the wall clock."""

from __future__ import annotations

import argparse
import logging
import threading
import time

from consumers.admin import ensure_topics
from consumers.publish import EventPublisher
from core.config import Config
from pulse.simulation import Simulator, bad_messages, scenario

__all__ = ["LiveTraffic", "run_simulate"]

log = logging.getLogger(__name__)

_FINAL_FLUSH_S = 120.0  # kafka-python's delivery timeout: longer, and records expire anyway


class LiveTraffic:
    """Backfills ``backfill_s`` of history at full speed, then produces in real time.

    ``customer_messages``: customers write again (``ticket.message``, SPEC §7); on in
    ``pulse simulate`` and ``pulse demo``, a choice of their own for the benchmarks.
    ``diurnal=False``: the same rate at every hour (a test whose traffic must not depend
    on the time of day it runs: at night the diurnal curve leaves gaps of seconds)."""

    def __init__(
        self,
        cfg: Config,
        *,
        scenario_name: str,
        rate: float,
        seed: int,
        backfill_s: float = 0.0,
        surge_after_s: float = 180.0,
        surge_for_s: float = 3600.0,
        with_bad_messages: bool = False,
        customer_messages: bool = False,
        diurnal: bool = True,
    ) -> None:
        now = int(time.time() * 1000)
        self.start_ms = now - int(backfill_s * 1000)
        if scenario_name == "double11":
            surge_start = backfill_s + surge_after_s
            sc = scenario("double11", rate=rate, surge_start_s=surge_start,
                          surge_end_s=surge_start + surge_for_s,
                          customer_messages=customer_messages, diurnal=diurnal)
        else:
            sc = scenario(scenario_name, rate=rate, customer_messages=customer_messages,
                          diurnal=diurnal)
        self.sim = Simulator(sc, seed=seed, start_ms=self.start_ms, sla=cfg.sla)
        self.publisher = EventPublisher(cfg.kafka)
        self.seed = seed
        self.sent = 0
        self._bad = with_bad_messages

    def backfill(self) -> int:
        """Produce everything up to now; returns the number of events."""
        n = self._send_until(int(time.time() * 1000))
        if self._bad:
            for kind, key, raw in bad_messages(self.seed, int(time.time() * 1000)):
                self.publisher.send(kind, key, raw)
        self.publisher.flush()
        return n

    def _send_until(self, end_ms: int) -> int:
        n = 0
        for ev in self.sim.until(end_ms):
            self.publisher.send(ev.topic, ev.key, ev.value)
            n += 1
        self.sent += n
        return n

    def run(self, stop: threading.Event, duration_s: float = 0.0) -> None:
        """Real-time production until ``stop`` (or ``duration_s``) — 10 sends a second.

        A broker that stops answering (paused, failing over) does not stop the traffic:
        events keep their event times and stay buffered in the producer, which retries
        them; once the broker is back they are delivered, and the run goes on.
        """
        t_end = time.monotonic() + duration_s if duration_s > 0 else None
        unconfirmed_since: float | None = None
        while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
            self._send_until(int(time.time() * 1000))
            if self.publisher.try_flush(1.0):
                if unconfirmed_since is not None:
                    log.info("the broker confirms again, after %.0f s",
                             time.monotonic() - unconfirmed_since)
                    unconfirmed_since = None
            elif unconfirmed_since is None:
                unconfirmed_since = time.monotonic()
                log.warning("the broker does not confirm; events stay buffered and are "
                            "retried")
            stop.wait(0.1)
        if not self.publisher.try_flush(_FINAL_FLUSH_S):
            log.error("the broker did not confirm every event within %.0f s of the end; "
                      "the unconfirmed ones are lost", _FINAL_FLUSH_S)
        self.publisher.close()


def run_simulate(cfg: Config, args: argparse.Namespace, stop: threading.Event) -> int:
    if args.create_topics:
        ensure_topics(cfg.kafka)
    traffic = LiveTraffic(
        cfg, scenario_name=args.scenario, rate=args.rate, seed=args.seed,
        backfill_s=args.backfill_hours * 3600, surge_after_s=args.surge_after,
        surge_for_s=args.surge_for, customer_messages=True,
    )
    n = traffic.backfill()
    print(f"backfilled {n} events; producing live ({args.scenario}, {args.rate}/min)",
          flush=True)
    traffic.run(stop, args.duration)
    print(f"sent {traffic.sent} events", flush=True)
    return 0
