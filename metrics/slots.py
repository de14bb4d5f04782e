"""The window layout: which counter slot holds which (metric, label), which value series
holds which quantiles, and the entry code of every combination the fold writes.

Every window counts the same slots (:class:`WindowSlots`); an event's window entry is one
code that names all the slots it increments (:class:`EntryCodes`), interned up front so
the hot path only indexes a dict.
"""

from __future__ import annotations

import copy
from itertools import product
from typing import Any

from metrics.windows import SlidingWindows

__all__ = ["PARTITION_GAUGES", "EntryCodes", "SeriesLayout", "WindowSlots"]

PARTITION_GAUGES = (
    "tickets_created", "first_responses", "first_responses_within_sla", "resolutions",
    "resolutions_within_sla", "orders_delivered", "returns_requested",
)
"""The window gauges also exported per source partition, summed over their label
(``aftersales_partition_window_events``, with ``partition_window_series: true``): the
counts behind the SLA attainments and the return rate, the ones a dashboard sums across
replicas. A partition's series moves with it, so a handover between replicas can be
bridged in PromQL; the rest stay per process."""

Slot = tuple[str, str]  # (metric, label); label "" for a metric without one


class WindowSlots:
    """The counter layout shared by every window: one slot per (metric, label)."""

    def __init__(self, channels: tuple[str, ...], priorities: tuple[str, ...],
                 regions: tuple[str, ...], reasons: tuple[str, ...]) -> None:
        self.index: dict[Slot, int] = {}
        for metric, labels in (
            ("tickets_created", channels), ("first_responses", channels),
            ("first_responses_within_sla", channels), ("resolutions", priorities),
            ("resolutions_within_sla", priorities), ("orders_delivered", regions),
            ("deliveries_late", regions), ("returns_requested", regions),
            ("returns_by_reason", reasons), ("turns", channels), ("responses", channels),
            ("responses_within_sla", channels),
        ):
            for label in labels:
                self.index[(metric, label)] = len(self.index)
        for metric in (
            "resolutions_first_contact", "resolutions_by_bot", "escalations", "transfers",
            "reopens", "csat_ratings", "csat_satisfied", "nps_ratings", "nps_promoters",
            "nps_detractors",
        ):
            self.index[(metric, "")] = len(self.index)

    def __getitem__(self, key: Slot) -> int:
        return self.index[key]

    def __len__(self) -> int:
        return len(self.index)


class SeriesLayout:
    """The value series of the windows (exact quantiles): first-response seconds per
    channel, then response seconds (every answered turn, SPEC §7) per channel."""

    def __init__(self, channels: tuple[str, ...]) -> None:
        self.first_response = {c: i for i, c in enumerate(channels)}
        self.response = {c: len(channels) + i for i, c in enumerate(channels)}

    def __len__(self) -> int:
        return len(self.first_response) + len(self.response)


class EntryCodes:
    """The window entry code of every combination of slots an event increments."""

    def __init__(self, windows: SlidingWindows, slots: WindowSlots, series: SeriesLayout,
                 channels: tuple[str, ...], priorities: tuple[str, ...],
                 regions: tuple[str, ...], reasons: tuple[str, ...]) -> None:
        def code(*key: Slot, series: int = -1) -> int:
            return windows.code([slots[k] for k in key], series)

        flags = (False, True)
        # channel -> a new ticket (its first turn starts too); a repeated creation
        self.created_new = {c: code(("tickets_created", c), ("turns", c)) for c in channels}
        self.created_again = {c: code(("tickets_created", c)) for c in channels}
        self.turn_opened = {c: code(("turns", c)) for c in channels}
        # (channel, within SLA) -> first response / response, with their value series
        self.first_response = {
            (c, ok): code(("first_responses", c), *([("first_responses_within_sla", c)] * ok),
                          series=series.first_response[c])
            for c in channels for ok in flags
        }
        self.response = {
            (c, ok): code(("responses", c), *([("responses_within_sla", c)] * ok),
                          series=series.response[c])
            for c in channels for ok in flags
        }
        # (channel, first response within SLA, response within SLA) -> both at once: a
        # ticket's first reply answering its first turn (one entry, two value series)
        self.first_reply = {
            (c, ok, rok): windows.code(
                [slots[k] for k in (("first_responses", c),
                                    *([("first_responses_within_sla", c)] * ok),
                                    ("responses", c), *([("responses_within_sla", c)] * rok))],
                series.first_response[c], series.response[c])
            for c in channels for ok in flags for rok in flags
        }
        # (priority, within SLA, first contact, by bot) -> resolution
        self.resolution: dict[tuple[str, bool, bool, bool], int] = {}
        for p, ok, fcr, bot in product(priorities, flags, flags, flags):
            key: list[Slot] = [("resolutions", p)]
            key += [("resolutions_within_sla", p)] * ok
            key += [("resolutions_first_contact", "")] * fcr
            key += [("resolutions_by_bot", "")] * bot
            self.resolution[(p, ok, fcr, bot)] = code(*key)
        # (csat satisfied or None, nps class or None) -> rating
        self.rating: dict[tuple[bool | None, str | None], int] = {}
        for csat, nps in product((None, False, True), (None, "promoter", "detractor", "")):
            key = []
            if csat is not None:
                key += [("csat_ratings", "")] + [("csat_satisfied", "")] * csat
            if nps is not None:
                key.append(("nps_ratings", ""))
                if nps:
                    key.append((f"nps_{nps}s", ""))
            self.rating[(csat, nps)] = code(*key)
        # region -> (on time, late)
        self.delivered = {
            r: (code(("orders_delivered", r)),
                code(("orders_delivered", r), ("deliveries_late", r)))
            for r in regions
        }
        self.return_requested = {
            (r, why): code(("returns_requested", r), ("returns_by_reason", why))
            for r in regions for why in reasons
        }
        self.transfer = code(("transfers", ""))
        self.escalation = code(("escalations", ""))
        self.reopen = code(("reopens", ""))

    def shifted(self, base: int) -> EntryCodes:
        """The same codes moved by ``base``: a shard's codes in its space of the windows
        its process shares (metrics/window_spaces.py); ``-base`` moves them back."""
        out = copy.copy(self)
        for name, v in vars(self).items():
            setattr(out, name, {k: _shift(c, base) for k, c in v.items()}
                    if isinstance(v, dict) else _shift(v, base))
        return out


def _shift(code: Any, base: int) -> Any:
    return tuple(c + base for c in code) if isinstance(code, tuple) else code + base
