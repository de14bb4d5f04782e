"""Screenshots of the board in a demo-like run: ``docs/wallboard.png`` and ``-en.png``.

    python tests/dashboard/screenshot.py [--out docs] [--rate 12]

Like ``pulse demo``: a local broker, the service with its evaluator and the board; the
simulator first replays a day (a normal day, then the 双11 surge with the south region's
return spike starting 40 minutes ago), then keeps producing live traffic while headless
Chromium (1920×1080) takes the pictures.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

from board_browser import Browser  # noqa: E402
from conftest import CHROME_FLAGS, CHROMEDRIVER, CHROMIUM  # noqa: E402

from consumers.admin import ensure_topics  # noqa: E402
from consumers.publish import EventPublisher  # noqa: E402
from core.config import load_config  # noqa: E402
from pulse.app import App  # noqa: E402
from pulse.broker import LocalBroker, free_port  # noqa: E402
from pulse.simulation import Simulator, scenario  # noqa: E402

DAY_MS = 86_400_000


def local(ms: int) -> str:
    """A promotion boundary as the config writes it: local time in Asia/Shanghai."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE.parent.parent / "docs"))
    p.add_argument("--rate", type=float, default=12.0)
    p.add_argument("--live-s", type=float, default=25.0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with LocalBroker() as broker:
        now = int(time.time() * 1000)
        start = now - DAY_MS
        cfg = load_config(
            kafka__bootstrap_servers=broker.bootstrap, metrics_port=free_port(),
            dashboard__port=free_port(), dashboard__refresh_s=2.0,
            alerting__promotions=[{"name": "双11", "start": local(now - 40 * 60_000),
                                   "end": local(now + 3600_000)}],
        )
        ensure_topics(cfg.kafka)
        sim = Simulator(scenario("double11", rate=args.rate,
                                 surge_start_s=(DAY_MS - 40 * 60_000) / 1000,
                                 surge_end_s=(DAY_MS + 3600_000) / 1000),
                        seed=11, start_ms=start)
        app = App(cfg).start()
        pub = EventPublisher(cfg.kafka)
        try:
            assert app.service.wait_ready(60)
            n = 0
            for ev in sim.until(now):
                pub.send(ev.topic, ev.key, ev.value)
                n += 1
            pub.flush()
            print(f"replayed {n:,} events", flush=True)
            deadline = time.monotonic() + args.live_s
            while time.monotonic() < deadline:
                for ev in sim.until(int(time.time() * 1000)):
                    pub.send(ev.topic, ev.key, ev.value)
                pub.flush()
                time.sleep(0.3)
            browser = Browser(CHROMIUM, CHROMEDRIVER, CHROME_FLAGS)
            try:
                for lang, name in (("", "wallboard.png"), ("?lang=en", "wallboard-en.png")):
                    browser.get(app.board.url + lang)
                    for _ in range(6):  # keep the stream live while the page settles
                        for ev in sim.until(int(time.time() * 1000)):
                            pub.send(ev.topic, ev.key, ev.value)
                        pub.flush()
                        time.sleep(1.0)
                    browser.screenshot(out / name)
                    print(f"wrote {out / name}", flush=True)
            finally:
                browser.quit()
        finally:
            pub.close()
            app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
