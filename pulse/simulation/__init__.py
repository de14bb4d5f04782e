"""A deterministic after-sales event simulator (SPEC §1, §6 ``pulse simulate`` / ``pulse demo``).

One module per concern:

* :mod:`.scenarios` — the scenarios (normal day, 双11 surge), label mixes, diurnal curve;
* :mod:`.stream` — :class:`Simulator`: arrivals and the heap that interleaves life-cycles;
* :mod:`.tickets` — the ticket life-cycle (replies, transfers, escalations, resolves);
* :mod:`.conversation` — the customer writing again (``ticket.message``, SPEC §7);
* :mod:`.logistics` — deliveries and the return life-cycle;
* :mod:`.bad_messages` — one malformed message per rejection reason;
* :mod:`.records` — the shared pieces (:class:`SimEvent`, weighted choice, timestamps).

SLAs are the service's (``core.config.SlaConfig``), never a copy.
"""

from pulse.simulation.bad_messages import bad_messages
from pulse.simulation.records import SimEvent, rfc3339
from pulse.simulation.scenarios import SCENARIOS, ScenarioConfig, scenario
from pulse.simulation.stream import Simulator

__all__ = [
    "SCENARIOS",
    "ScenarioConfig",
    "SimEvent",
    "Simulator",
    "bad_messages",
    "rfc3339",
    "scenario",
]
