"""Checkpoints of a shard (metrics/checkpoint.py): a shard read back from its bytes folds
on exactly as the shard it was taken from; damaged, foreign-format and foreign-config
bytes are refused with the reason they are counted under."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from core.config import Config, load_config
from metrics.checkpoint import CheckpointError, body, config_hash, header
from metrics.shards import ShardedEngine
from tests.integration.helpers import Message, simulated
from tests.metrics.test_shards import exposition, feed

CFG = load_config()
HOUR = 3_600_000
START = 1_790_000_000_000


def reload(engine: ShardedEngine, wall_ms: int) -> ShardedEngine:
    out = ShardedEngine(engine.config, lambda: wall_ms)
    for key in engine.shards:
        payload = engine.save(key)
        assert payload is not None
        out.load(key, payload)
    return out


@pytest.fixture(scope="module")
def log() -> list[Message]:
    msgs = simulated(CFG, hours=40, seed=13, rate=3.0, start_ms=START, bad_every=89,
                     customer_messages=True)
    return msgs + msgs[::50]  # re-deliveries, some of them after their period is sealed


# the demo's: business-hours calendars and platform scores (ScoreBook state) too
SECTION7 = load_config("pulse/demo.yaml")


@pytest.mark.parametrize("cfg", [CFG, SECTION7], ids=["default", "section7"])
def test_a_shard_read_back_folds_on_as_the_one_it_was_taken_from(
        log: list[Message], cfg: Config) -> None:
    assert cfg is CFG or cfg.scores
    cfg = replace(cfg, partition_window_series=True)  # each partition's window counts too
    wall = START + 41 * HOUR
    cut = len(log) * 2 // 3
    whole = ShardedEngine(cfg, lambda: wall)
    feed(whole, log[:cut], wall)
    restored = reload(whole, wall)
    restored.tick()
    assert exposition(restored) == exposition(whole)
    assert sum(s.seen.sealed_ids for s in whole.shards.values()) > 0  # the runs went too
    feed(whole, log[cut:], wall)
    feed(restored, log[cut:], wall)
    text = exposition(restored)
    assert text == exposition(whole)
    assert "aftersales_events_duplicate_total{" in text
    assert "aftersales_partition_window_events{" in text
    if cfg.scores:
        assert "aftersales_score_turns_total{" in text


def test_damaged_bytes_are_refused_as_corrupt(log: list[Message]) -> None:
    wall = START + 41 * HOUR
    engine = ShardedEngine(CFG, lambda: wall)
    feed(engine, log[:3000], wall)
    key = next(iter(engine.shards))
    payload = engine.save(key)
    assert payload is not None
    rnd = random.Random(2)
    broken = [payload[: len(payload) // 2], b"", b"not a checkpoint", payload[:40]]
    for _ in range(20):
        b = bytearray(payload)
        i = rnd.randrange(len(header(payload)) + 60, len(b))
        b[i] ^= 0xFF
        broken.append(bytes(b))
    for bad in broken:
        target = ShardedEngine(CFG, lambda: wall)
        with pytest.raises(CheckpointError) as err:
            target.load(key, bad)
        assert err.value.result == "corrupt"
        assert target.shards == {}
        assert target._ids.attached == 0  # nothing half-installed is kept


def _framed(payload: bytes, head: dict[str, object] | None = None,
            packed: bytes | None = None) -> bytes:
    """``payload`` with its header and/or its compressed tree replaced (a forger's bytes)."""
    import msgspec

    n = int.from_bytes(payload[4:8], "big")
    raw_head = payload[8:8 + n] if head is None else msgspec.msgpack.encode(head)
    return (payload[:4] + len(raw_head).to_bytes(4, "big") + raw_head
            + (payload[8 + n:] if packed is None else packed))


def _as_format_3(x: object) -> object:
    """A tree node as format 3 wrote it: every container tagged item by item."""
    if type(x) is not list:
        return x
    tag, rest = x[0], x[1:]
    old = {"L": "l", "T": "t", "U": "S", "P": "s", "F": "f"}
    if tag in old:
        return [old[tag], rest[0], list(rest[1])]
    if tag in ("D", "E", "d"):
        return ["d", rest[0], [_as_format_3(k) for k in rest[1]],
                [_as_format_3(v) for v in rest[2]]]
    if tag in ("l", "t", "s", "f", "S"):
        return [tag, rest[0], [_as_format_3(v) for v in rest[1]]]
    if tag == "o":
        return ["o", rest[0], rest[1], [_as_format_3(v) for v in rest[2]]]
    if tag == "K" or (tag == "A" and rest[1] is None):
        return [tag, rest[0], rest[1], [_as_format_3(v) for v in rest[2]]]
    if tag == "v":
        return ["v", *rest[:3], [_as_format_3(v) for v in rest[3]]]
    return x  # r, a, A, z, i, m


def _tags(x: object) -> set[str]:
    """The tags of every node under x (a node is a list that starts with its tag)."""
    if isinstance(x, dict):
        return set().union(*map(_tags, x.values()))
    if type(x) is not list or not x:
        return set()
    if type(x[0]) is not str:
        return set().union(*map(_tags, x))  # a node's items
    return {x[0]}.union(*map(_tags, x[1:]))


def test_a_checkpoint_of_format_3_is_still_read(log: list[Message]) -> None:
    """Format 4 writes the same state more compactly (plain arrays, object columns,
    zstd): what a format-3 build wrote before an upgrade loads as it did, no rebuild."""
    import zlib

    import msgspec

    wall = START + 41 * HOUR
    engine = ShardedEngine(CFG, lambda: wall)
    feed(engine, log[:6000], wall)
    tags: set[str] = set()
    now, then = ShardedEngine(CFG, lambda: wall), ShardedEngine(CFG, lambda: wall)
    for key in engine.shards:
        payload = engine.save(key)
        tree = msgspec.msgpack.decode(body(payload))
        tags |= _tags(tree["engine"]) | _tags(tree["components"])
        tree["engine"] = {a: _as_format_3(v) for a, v in tree["engine"].items()}
        tree["components"] = {
            c: None if attrs is None else {a: _as_format_3(v) for a, v in attrs.items()}
            for c, attrs in tree["components"].items()}
        old = _framed(payload, {**header(payload), "format": 3},
                      zlib.compress(msgspec.msgpack.encode(tree), 1))
        now.load(key, payload)
        then.load(key, old)
    assert {"L", "D", "E"} <= tags  # the new forms were written, and taken apart
    now.tick()
    then.tick()
    assert exposition(then) == exposition(now) == exposition(engine)


def _first(x: object, tag: str) -> list[object] | None:
    """The first node tagged ``tag`` under x, in the order it is decoded."""
    if isinstance(x, dict):
        x = list(x.values())
    if type(x) is not list or not x:
        return None
    if x[0] == tag:
        return x
    for v in x:
        found = _first(v, tag)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize(("tag", "forge"), [
    ("D", lambda n: n[3].pop()),  # keys without their values
    ("L", lambda n: n.__setitem__(2, 7)),  # items that are no array
    ("T", lambda n: n.__setitem__(2, None)),
], ids=["D-unequal", "L-scalar", "T-none"])
def test_a_forged_tree_is_refused_as_corrupt(log: list[Message], tag: str, forge) -> None:
    """Well compressed, well checksummed, wrong inside (a hostile writer of the topic):
    refused as corrupt, and nothing of it installed."""
    import msgspec
    import zstandard

    wall = START + 41 * HOUR
    engine = ShardedEngine(CFG, lambda: wall)
    feed(engine, log[:6000], wall)
    for key in engine.shards:
        payload = engine.save(key)
        tree = msgspec.msgpack.decode(body(payload))
        node = _first(tree["components"], tag) or _first(tree["engine"], tag)
        if node is None:
            continue
        forge(node)
        forged = _framed(payload, packed=zstandard.ZstdCompressor(write_checksum=True)
                         .compress(msgspec.msgpack.encode(tree)))
        target = ShardedEngine(CFG, lambda: wall)
        with pytest.raises(CheckpointError) as err:
            target.load(key, forged)
        assert err.value.result == "corrupt"
        assert target.shards == {}
        assert target._ids.attached == 0
        target.load(key, payload)  # the genuine one still loads
        return
    pytest.fail(f"no shard wrote a node tagged {tag}")


def test_another_config_or_format_is_refused_by_name(log: list[Message]) -> None:
    wall = START + 41 * HOUR
    engine = ShardedEngine(CFG, lambda: wall)
    feed(engine, log[:2000], wall)
    key = next(iter(engine.shards))
    payload = engine.save(key)
    assert payload is not None
    other = load_config(windows={"15m": 900, "1h": 3600, "12h": 43200})
    assert config_hash(other) != config_hash(CFG)
    assert config_hash(load_config(kafka__group_id="elsewhere")) == config_hash(CFG)
    with pytest.raises(CheckpointError) as err:
        ShardedEngine(other, lambda: wall).load(key, payload)
    assert err.value.result == "other_config"
    forged = _framed(payload, {**header(payload), "format": 999})
    with pytest.raises(CheckpointError) as err:
        ShardedEngine(CFG, lambda: wall).load(key, forged)
    assert err.value.result == "other_version"


def test_a_checkpoint_holds_no_setting_and_no_secret(log: list[Message]) -> None:
    secret = "s3cr3t-Pa55-7f3a"
    cfg = load_config(kafka__sasl_plain_password=secret, kafka__client={
        "sasl_plain_username": "pulse-user-7f3a"}, kafka__group_id="group-7f3a")
    wall = START + 41 * HOUR
    engine = ShardedEngine(cfg, lambda: wall)
    feed(engine, log[:2000], wall)
    for key in engine.shards:
        payload = engine.save(key)
        tree = body(payload)
        for text in (secret, "pulse-user-7f3a", "group-7f3a"):
            assert text.encode() not in payload + tree


def test_ticket_keys_are_shared_again_and_far_off_creations_round_trip() -> None:
    """A ticket is one key int held by the dict and every index (metrics/state.py): read
    back, the indexes hold the dict's own objects again (not one int per reference), and
    a creation or a later turn far from the first creation (a key beyond msgpack's 64
    bits; a turn index of such keys is a SortedArray of lists) survives."""
    wall = START + HOUR
    engine = ShardedEngine(CFG, lambda: wall)
    shard = engine.shard("aftersales.tickets", 0)
    book = shard.tickets
    assert book.create("NEAR", START, "chat", "refund", "P1", "east")
    assert book.create("FAR", 5_000, "chat", "refund", "P1", "east")  # ts 1970
    assert book.create("LATE", START + 1, "email", "refund", "P2", "east")
    assert book.agent_replied(book.tickets["LATE"])
    assert book.open_turn(book.tickets["LATE"], START + 2)  # a later turn
    assert book.create("OLDTURN", START + 3, "email", "refund", "P2", "east")
    assert book.agent_replied(book.tickets["OLDTURN"])
    assert book.open_turn(book.tickets["OLDTURN"], 6_000)  # a turn key beyond 64 bits
    assert not -(1 << 63) <= book.tickets["FAR"] < 1 << 63
    out = reload(engine, wall).shard("aftersales.tickets", 0).tickets
    assert out.tickets == book.tickets
    assert out.created(out.tickets["FAR"]) == 5_000
    assert [out.id_of(k) for k in out.open_by_priority["P1"]] == ["FAR", "NEAR"]
    assert out.turn_start(out.tickets["LATE"]) == START + 2
    assert [out.ms_of(k) for k in out.awaiting_later["email"]] == [6_000, START + 2]
    assert out.awaiting_later["email"].typecode is None  # list chunks: beyond an array's
    for index in (*out.open_by_priority.values(), *out.awaiting.values()):
        for k in index:
            assert k is out.tickets[out.id_of(k)]
    for bucket in out._order._buckets.values():
        for k in bucket:
            assert k is out.tickets[out.id_of(k)]
