"""The platform-score panels of the Grafana dashboard over a real Prometheus (SPEC §7).

A live service decides turns while a real Prometheus scrapes it with the committed
recording rules, and every query of the dashboard's score panels is asked: the 30-day
score (``increase()`` over the decided-turn counters, the record ``aftersales:score_30d:ratio``)
and today's score equal within ÷ decided, beside the configured target. A replay (as in
test_scale_out.py) has no increase to show: the counters appear once, complete, at the
first scrape after the rebuild; here they grow from 0 under the scrapes, as in production.
The one change to the rule file (tests/deploy/stack.py): the 30-day group is evaluated
every second instead of every 5 minutes.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import orjson
import pytest

from consumers.admin import ensure_topics
from pulse.service import Service
from tests.conftest import scrape
from tests.deploy.stack import (
    DEPLOY,
    RECORDING,
    Prometheus,
    running,
    strip_name,
    wait_until,
)
from tests.integration.helpers import Message, produce

pytestmark = [pytest.mark.broker, pytest.mark.prometheus]

PROBE = {"name": "panel_probe", "title": {"zh": "探针", "en": "probe"}, "channels": ["chat"],
         "hours": "00:00-24:00", "within_s": 2, "clock": "wall", "target": 0.9}


def score_queries() -> dict[str, list[str]]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "aftersales-pulse.json")
                      .read_text("utf-8"))
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in dash["panels"]
            if "score_" in json.dumps(p.get("targets", []))}


def test_score_panels_show_the_30_day_score_and_today_against_the_target(
    make_config, tmp_path: Path
) -> None:
    cfg = make_config(scores=[PROBE])
    assert RECORDING.read_text("utf-8").count("interval: 5m") == 1  # the 30-day group
    prom = Prometheus("prom-scores", tmp_path, [f"127.0.0.1:{cfg.metrics_port}"])  # at 1 s
    ensure_topics(cfg.kafka)
    with Service(cfg) as svc, running(prom.proc):
        assert svc.wait_ready(60)
        prom.wait_ready()
        # Prometheus has seen the counters at 0 before any turn is decided
        wait_until(lambda: (prom.scalar(
            'count_over_time(aftersales_score_turns_total{score="panel_probe"}[1m])') or 0) >= 3,
            60, "three scrapes of the score counters")
        assert prom.scalar('max(aftersales_score_turns_total{score="panel_probe"})') == 0

        now = int(time.time() * 1000)
        topic = cfg.kafka.tickets_topic
        msgs: list[Message] = []
        for i in range(8):  # 8 turns: 6 answered within 2 s, 2 missed at start + 2 s
            msgs.append((topic, f"S{i}", orjson.dumps({
                "event_id": f"c{i}", "type": "ticket.created", "ts": now, "ticket_id": f"S{i}",
                "channel": "chat", "category": "inquiry", "priority": "P3", "region": "east"})))
            if i < 6:
                msgs.append((topic, f"S{i}", orjson.dumps({
                    "event_id": f"r{i}", "type": "ticket.replied", "ts": now + 500,
                    "ticket_id": f"S{i}", "by": "agent"})))
        produce(cfg, msgs)
        wait_until(lambda: 'aftersales_score_turns_total{score="panel_probe"} 8.0' in scrape(
            svc.metrics_url), 30, "8 turns decided")
        assert 'aftersales_score_turns_within_total{score="panel_probe"} 6.0' in scrape(
            svc.metrics_url)

        queries = score_queries()
        assert len(queries) == 3, queries
        want = {"30d": 0.75, "today": 0.75, "target": 0.9, "decided": 8.0, "within": 6.0}

        def results() -> dict[str, float]:
            out: dict[str, float] = {}
            for title, exprs in queries.items():
                for expr in exprs:
                    got = {dict(k).get("score"): v for k, v in strip_name(prom.query(expr)).items()}
                    if "panel_probe" not in got:
                        continue
                    v = got["panel_probe"]
                    if "score_target" in expr:
                        out["target"] = v
                    elif "30 days" in title:
                        out["30d"] = v
                    elif "Score today" in title:
                        out["today"] = v
                    else:
                        out["within" if "within" in expr else "decided"] = v
            return out

        def shown() -> bool:
            got = results()
            return set(got) == set(want) and all(
                math.isclose(got[k], want[k], rel_tol=1e-9) for k in want)

        wait_until(shown, 60, "the score panels show the decided turns")
