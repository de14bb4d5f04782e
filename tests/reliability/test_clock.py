"""Clock (issue 7): a far-future event is rejected and moves neither watermark nor clock."""

from __future__ import annotations

import orjson

from consumers.decode import Decoder, Rejection
from core.config import load_config
from core.events import RejectReason
from metrics.engine import Engine

CFG = load_config()
WALL = 1_795_000_000_000


def test_future_event_is_rejected_and_does_not_move_the_clock() -> None:
    dec = Decoder(regions=CFG.regions)
    engine = Engine(CFG, lambda: WALL)
    topic = CFG.kafka.tickets_topic
    for i in range(10):
        ev = dec.decode(orjson.dumps({"event_id": f"g{i}", "type": "ticket.created",
                                      "ts": WALL - 600_000 + i * 1000, "ticket_id": f"T{i}",
                                      "channel": "chat"}), WALL)
        assert not isinstance(ev, Rejection)
        engine.process(topic, ev, WALL)
    engine.tick()
    before = engine.snapshot()
    future = dec.decode(orjson.dumps({"event_id": "f", "type": "ticket.created",
                                      "ts": WALL + 10 * 365 * 86400_000, "ticket_id": "F",
                                      "channel": "chat"}), WALL)
    assert isinstance(future, Rejection)
    assert future.reason is RejectReason.FUTURE_TIMESTAMP
    engine.reject(topic, future.reason)
    engine.tick()
    after = engine.snapshot()
    assert after.watermark_ms == before.watermark_ms == WALL - 600_000 + 9000
    assert after.clock_ms <= WALL
    assert engine.rejected_total[(topic, "future_timestamp")] == 1
    for name in CFG.windows:
        assert after.windows[name].tickets_created["chat"] == 10
