"""The bookkeeping that notices a log going back (the broker-level proofs are in
tests/reliability/test_log_reset.py; these pin each rule and its non-triggers)."""

from __future__ import annotations

from kafka import TopicPartition

from consumers.log_watch import LogWatch

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_a_position_beyond_the_high_watermark() -> None:
    w = LogWatch()
    assert w.progress(A0, 100, 100) is None
    r = w.progress(A0, 100, 7)
    assert r is not None
    assert (r.tp, r.kind) == (A0, "beyond_highwater")
    assert "100" in r.detail
    assert "7" in r.detail


def test_moving_back_without_our_seek_but_not_with_it() -> None:
    w = LogWatch()
    assert w.fetched(A0, 0, 49) is None
    assert w.progress(A0, 50, 60) is None
    w.seeked(A0, 20)  # the aligner reads again: not a reset
    assert w.fetched(A0, 20, 29) is None
    assert w.progress(A0, 30, 60) is None
    r = w.fetched(A0, 0, 9)  # the client reset an out-of-range position to the start
    assert r is not None
    assert r.kind == "went_back"
    w2 = LogWatch()
    w2.progress(A0, 50, 60)
    r2 = w2.progress(A0, 3, 60)
    assert r2 is not None
    assert r2.kind == "went_back"


def test_a_forward_jump_is_a_reset_only_when_the_log_start_passed_it() -> None:
    w = LogWatch()
    w.fetched(A0, 0, 9)
    w.fetched(A0, 15, 19)  # a compacted range or transaction markers
    assert w.gaps() == [A0]
    assert w.log_start(A0, 0) is None
    assert w.gaps() == []
    w.progress(A0, 40, 90)  # jumped from 20 to 40 with no record
    assert w.gaps() == [A0]
    r = w.log_start(A0, 40)
    assert r is not None
    assert r.kind == "log_start"
    assert "40" in r.detail
    assert "20" in r.detail


def test_a_changed_topic_id_resets_the_topic_s_partitions_only() -> None:
    w = LogWatch()
    assigned = {A0, A1, B0}
    assert w.topic_id("a", "id-1", assigned) == []
    assert w.topic_id("a", None, assigned) == []  # a broker that gives none
    assert w.topic_id("a", "id-1", assigned) == []
    got = w.topic_id("a", "id-2", assigned)
    assert [(r.tp, r.kind) for r in got] == [(A0, "topic_id"), (A1, "topic_id")]
    assert w.topic_id("a", "id-2", assigned) == []


def test_after_a_rebuild_a_log_shorter_than_what_was_read() -> None:
    w = LogWatch()
    w.progress(A0, 500, 500)
    w.progress(A1, 300, 300)
    w.new_generation()  # e.g. a rebalance after the broker restarted empty
    assert w.progress(A0, None, 500) is None  # a high watermark from before: no verdict
    r = w.progress(A0, 0, 12)
    assert r is not None
    assert (r.kind, r.echo) == ("shorter_than_read", False)
    assert w.progress(A0, 12, 12) is None  # said once
    # a log that holds what was read is no reset, ever after
    assert w.progress(A1, 300, 900) is None
    assert w.progress(A1, 300, 10) is not None  # (now a plain beyond-highwater)


def test_the_rebuild_a_reset_started_knows_its_topic() -> None:
    w = LogWatch()
    w.progress(A0, 500, 500)
    w.progress(A1, 400, 400)
    w.progress(B0, 100, 100)
    w.new_generation(reset=[A0], echo_topics=["a"])
    assert w.progress(A0, 0, 3) is None  # its own reset is not reported again
    r = w.progress(A1, 0, 3)
    assert r is not None
    assert (r.kind, r.echo) == ("shorter_than_read", True)
    r = w.progress(B0, 0, 3)
    assert r is not None
    assert r.echo is False
