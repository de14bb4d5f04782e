"""kafka-python's fetch buffer, seen from a reader that keeps partitions in event-time step.

kafka-python (3.0) keeps each partition's fetch responses in one buffer and returns them
in arrival order, ``max_poll_records`` at a time; a response holds up to
``max_partition_fetch_bytes`` of one partition. Two habits of it hid partitions from the
reader's alignment (``consumers.alignment``), which needs to know, per partition,
whether Kafka holds records it has not been given yet:

- ``highwater(tp)`` is set when the fetcher *starts returning* a response's records, not
  when the response arrives. A partition whose response waits behind another's shows
  the high watermark of its previous response — its position — and looks read to its
  end. :func:`buffered_highwaters` reads the waiting responses' values.
- No fetch is sent while any response waits unparsed: a partition read to the end of
  its response is not asked about again until the others' responses are all returned.
  :func:`fetch_drained` asks at once.

Under load one tickets partition went unfetched for 13–20 s while the reader drained the
others' responses, and was folded up to 319 minutes of event time behind them; alerts
judged on the way missed its tickets.

A third question the consumer cannot answer at all: *when was a partition last seen at
its end?* "Read to its end" is what the consumer last heard; while a fetch is on its way
(a slow broker, a starved process) nobody knows whether more came. :class:`EndWatch`
keeps, per partition, when the newest fetch was sent that found the partition at its end
— a request answered with the partition's high watermark at the offset asked — so the
reader can wait for such an answer instead of trusting a clock.

The internals used here are looked up, never assumed: on another kafka-python these
functions do nothing and the reader keeps the consumer's own view.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["EndWatch", "buffered_highwaters", "fetch_drained"]


def _pending(consumer: KafkaConsumer) -> list[Any]:
    fetcher: Any = getattr(consumer, "_fetcher", None)
    pending = getattr(fetcher, "_completed_fetches", None)
    # the IO thread appends while we read: iterate a copy, as kafka-python itself does
    return list(pending) if pending else []


def buffered_highwaters(consumer: KafkaConsumer) -> dict[TopicPartition, int]:
    """High watermarks of the fetch responses waiting, unparsed, in ``consumer``'s buffer."""
    out: dict[TopicPartition, int] = {}
    for fetch in _pending(consumer):
        data = getattr(fetch, "partition_data", None)
        high = getattr(data, "high_watermark", -1)
        if getattr(data, "error_code", -1) != 0 or not isinstance(high, int) or high < 0:
            continue
        tp = fetch.topic_partition
        if high > out.get(tp, -1):
            out[tp] = high
    return out


def fetch_drained(consumer: KafkaConsumer) -> None:
    """While responses wait in the buffer, fetch the partitions that have none waiting
    (kafka-python would wait until the buffer is empty). Each partition still has at
    most one response buffered: the memory bound is the consumer's own.

    A send is a round trip to kafka-python's IO thread (a GIL hand-over, up to ms): it
    is made only when a partition is fetchable from a broker with no fetch in flight,
    about once per partition per response, not at every poll."""
    fetcher: Any = getattr(consumer, "_fetcher", None)
    send = getattr(fetcher, "send_fetches", None)
    fetchable = getattr(fetcher, "_fetchable_partitions", None)
    node_of = getattr(fetcher, "_select_read_replica", None)
    in_flight = getattr(fetcher, "_nodes_with_pending_fetch_requests", None)
    if send is None or fetchable is None or node_of is None or in_flight is None:
        return
    if not _pending(consumer):
        return  # kafka-python sends the next fetches itself
    try:
        ask = any(node_of(tp) not in in_flight for tp in fetchable())
    except (KeyError, RuntimeError):  # the assignment changed under us: kafka-python's turn
        return
    if ask:
        send()  # only partitions without buffered data, to nodes without one in flight


class EndWatch:
    """When each partition was last asked and found at its end (``time.monotonic()`` of
    the fetch request's send; the clock is system-wide, so another process may compare).

    It wraps the fetcher's response callback (bound per request at send time, so the
    wrapper sees every fetch sent after :meth:`install`). A requested partition is at its
    end when the answer's high watermark is not beyond the offset asked; one left out of
    the answer (an incremental fetch session omits partitions with nothing new) keeps the
    high watermark last answered. A partition answered with records, or cut off by the
    response's size limit, has a high watermark beyond its offset: not at its end."""

    def __init__(self) -> None:
        self.ended: dict[TopicPartition, float] = {}
        self._high: dict[TopicPartition, int] = {}

    @classmethod
    def install(cls, consumer: KafkaConsumer) -> EndWatch | None:
        fetcher: Any = getattr(consumer, "_fetcher", None)
        handle = getattr(fetcher, "_handle_fetch_response", None)
        if handle is None:
            return None
        watch = cls()

        def handle_and_watch(node_id: Any, fetch_offsets: Any, send_time: Any,
                             response: Any) -> Any:
            out = handle(node_id, fetch_offsets, send_time, response)
            with contextlib.suppress(Exception):  # never let the watch break a fetch
                watch._answered(fetch_offsets, send_time, response)
            return out

        fetcher._handle_fetch_response = handle_and_watch
        return watch

    def _answered(self, fetch_offsets: dict[TopicPartition, int], send_time: float,
                  response: Any) -> None:
        if getattr(response, "error_code", 0):
            return  # the fetch session failed: kafka-python drops the answer, so do we
        high = self._high
        failed = set()
        for topic_data in response.responses:
            for data in topic_data.partitions:
                tp = TopicPartition(topic_data.topic, data.partition_index)
                if data.error_code != 0 or data.high_watermark < 0:
                    failed.add(tp)
                else:
                    high[tp] = data.high_watermark
        ended = self.ended
        for tp, offset in fetch_offsets.items():
            hw = high.get(tp)
            if (tp not in failed and hw is not None and hw <= offset
                    and send_time > ended.get(tp, -1.0)):
                ended[tp] = send_time
