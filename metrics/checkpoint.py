"""A shard's state as bytes and back: what a checkpoint in Kafka carries (SPEC §2, issue 17).

Not pickle: the checkpoint topic can be written by anyone with access to the cluster, and
unpickling runs code. The encoding is msgpack (``msgspec``) of a tagged tree: plain values
as themselves; a container of plain values only as ``[tag, id, items]`` with its items a
plain msgpack array, so that decoding it costs no call per item (most of a large state:
ticket keys, return ids, index entries; a restart waits for it); other containers as
``[tag, id, ...]`` (tuple, list, dict, set,
frozenset, array, SortedList, SortedKeyList keyed by an ``itemgetter``, SortedArray as
its typecode and bytes); objects of the few state classes named in :data:`_CLASSES` by
their slots; anything seen before as ``["r", id]`` (the
profiles, their family lists, the windows referenced twice); ints beyond msgpack's 64 bits
as ``["i", digits]``. Ints are values: the ticket keys the dict and the indexes share are
shared again after decoding (``TicketBook.share_keys``), as are the return ids of the dict
and of the minute lists (``ReturnBook.share_ids``). Decoding builds only those
types, with ``object.__new__`` and the named slots: a hostile checkpoint can make state
wrong (so the topic needs the same ACLs as the source topics), never run code. Everything
is compressed with zstd (format 3: zlib; zstd decompresses several times faster).

A checkpoint is valid only for the state it was made for: its header holds :data:`FORMAT`
(bumped by hand when the meaning of the state changes), a *layout* hash (the classes' slots
and the components' attributes, so that a change of the engine's internals is noticed
without anyone remembering to bump), and :func:`config_hash`, a hash of every setting
that shapes state (regions, windows, horizon, SLAs, calendars, scores, decoder limits).
Secrets are never in it: the state holds event fields and counts only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
import orjson
import zstandard
from sortedcontainers import SortedKeyList, SortedList

from core.config import Config
from metrics.dedupe import _Run
from metrics.engine import Engine
from metrics.histogram import Histogram
from metrics.sortedarray import SortedArray
from metrics.state import Profile, _ByCreationMinute
from metrics.windows import SlidingWindows, _Chunk, _Today, _Window

__all__ = ["FORMAT", "CheckpointError", "body", "config_hash", "decode", "encode", "header",
           "layout_hash"]

# 2: tickets as keys and columns (metrics/state.py), not tuples; 3: later turns and window
# value series in SortedArrays (metrics/sortedarray.py), not SortedLists; 4: containers of
# plain values as plain arrays, zstd (the same state: 3 is still read, see _READS); its
# object columns ("O") and dicts of references ("R") held the returns, since packed ints
# (metrics/state.py ReturnBook: another layout hash, so those checkpoints are refused)
FORMAT: Final = 4
_READS: Final = frozenset({3, FORMAT})  # the formats whose tree this build decodes

# the classes a checkpoint may hold, by name, with the slots that make their state
_CLASSES: Final[dict[str, type]] = {c.__name__: c for c in (
    Profile, _ByCreationMinute, Histogram, _Run, _Chunk, _Window, _Today,
)}
# classes without slots, held by their instance dict
_DICT_CLASSES: Final[dict[str, type]] = {c.__name__: c for c in (SlidingWindows,)}
# the components of an engine restored in place (their bound methods are cached by it)
_COMPONENTS: Final = ("seen", "windows", "tickets", "returns", "scores")
_NOT_STATE: Final = {  # configuration, rebuilt from it
    "scores": frozenset({"_rules"}), "returns": frozenset({"regions", "_number"})}
# the engine's attributes that are configuration, derived from it, or handled apart;
# every other one is state (an attribute added later is checkpointed, or refused)
_ENGINE_NOT_STATE: Final = frozenset({
    "config", "wall", "topics", "channels", "priorities", "categories", "regions",
    "reasons", "sla", "business_hours", "calendars", "fr_sla_ms", "response_sla_ms",
    "res_sla_ms", "_fr_within", "_resp_within", "_res_within", "clock", "slots", "series",
    "codes", "turn_listener", "_dispatch", "_routes", "_outcome_routes", "_largest_ms",
    "_seen_add", "_add", "_count", *_COMPONENTS,
})


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: ``result`` is the label it is counted under in
    ``aftersales_checkpoint_loads_total`` (corrupt, other_version, other_config)."""

    def __init__(self, message: str, result: str = "corrupt") -> None:
        super().__init__(message)
        self.result = result


_MAGIC: Final = b"APCK"


def _slots(cls: type) -> tuple[str, ...]:
    out: list[str] = []
    for c in reversed(cls.__mro__):
        s = c.__dict__.get("__slots__", ())
        out += [s] if isinstance(s, str) else list(s)
    return tuple(out)


_LAYOUT: Final = {name: _slots(cls) for name, cls in _CLASSES.items()}


def _state_attrs(name: str, obj: Any) -> list[str]:
    attrs = sorted(_slots(type(obj)) or vars(obj))
    return [a for a in attrs if a not in _NOT_STATE.get(name, ())]


def _engine_attrs(engine: Engine) -> list[str]:
    return sorted(a for a in vars(engine) if a not in _ENGINE_NOT_STATE)


def layout_hash(engine: Engine) -> str:
    """What the engine's state is made of: class slots and component attributes."""
    parts: dict[str, Any] = {"classes": _LAYOUT, "engine": _engine_attrs(engine),
                             "dict_classes": sorted(_DICT_CLASSES)}
    for name in _COMPONENTS:
        obj = getattr(engine, name)
        parts[name] = None if obj is None else _state_attrs(name, obj)
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _canon(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _canon(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return sorted(([str(k), _canon(v)] for k, v in x.items()), key=lambda kv: kv[0])
    if isinstance(x, set | frozenset):
        return sorted(str(_canon(v)) for v in x)
    if isinstance(x, list | tuple):
        return [_canon(v) for v in x]
    if isinstance(x, dt.date):
        return x.isoformat()
    if x is None or isinstance(x, bool | int | float | str):
        return x
    return repr(x)


def config_hash(config: Config) -> str:
    """A hash of every setting that shapes state (never the Kafka or secret settings)."""
    shaping = {
        name: _canon(getattr(config, name)) for name in (
            "regions", "windows", "sla", "state_horizon_s", "max_future_skew_s",
            "live_threshold_s", "max_message_bytes", "business_hours", "today_window",
            "scores",
        )
    }
    return hashlib.sha256(orjson.dumps(shaping, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


# -- the tagged tree ---------------------------------------------------------------------
class _Encoder:
    def __init__(self, instead: Mapping[int, Any] | None = None) -> None:
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # the encoded objects stay alive: ids stay unique
        self.instead = instead or {}  # id of an object -> what is written in its place

    def _id(self, obj: Any) -> int:
        n = self.memo[id(obj)] = len(self.memo)
        self.keep.append(obj)
        return n

    def enc(self, x: Any) -> Any:
        if x is None or type(x) in (bool, float, str, bytes):
            return x
        if type(x) is int:  # msgpack's range; a ticket key of a far-off ts may exceed it
            return x if -_I64 <= x < _I64 else ["i", str(x)]
        ref = self.memo.get(id(x))
        if ref is not None:
            return ["r", ref]
        if self.instead:
            sub = self.instead.get(id(x))
            if sub is not None:  # every reference to x: the substitute, once
                return self.enc(sub)
        t = type(x)
        enc = self.enc
        if t is tuple:
            n = self._id(x)
            if _plain(x):
                return ["T", n, list(x)]
            return ["t", n, [enc(v) for v in x]]
        if t is list:
            n = self._id(x)
            if _plain(x):
                return ["L", n, x]
            return ["l", n, [enc(v) for v in x]]
        if t is dict:
            n = self._id(x)
            if _plain(x):
                values = x.values()
                if _plain(values):
                    return ["D", n, list(x), list(values)]
                return ["E", n, list(x), [enc(v) for v in values]]
            return ["d", n, [enc(k) for k in x], [enc(v) for v in x.values()]]
        if t is set or t is frozenset:
            n = self._id(x)
            if _plain(x):
                return ["P" if t is set else "F", n, list(x)]
            return ["s" if t is set else "f", n, [enc(v) for v in x]]
        if t is array:
            n = self._id(x)
            return ["a", n, x.typecode, x.tobytes()]
        if t is SortedList:
            n = self._id(x)
            if _plain(x):
                return ["U", n, list(x)]
            return ["S", n, [enc(v) for v in x]]
        if t is SortedArray:
            n = self._id(x)
            if x.typecode is None:  # items beyond 64 bits: list chunks
                return ["A", n, None, [enc(v) for v in x]]
            return ["A", n, x.typecode, array(x.typecode, x).tobytes()]
        if t is SortedKeyList:
            n = self._id(x)
            key = x.key
            if type(key) is not itemgetter:
                raise CheckpointError(f"SortedKeyList key {key!r} has no checkpoint encoding")
            return ["K", n, list(key.__reduce__()[1]), [enc(v) for v in x]]
        if t is ZoneInfo:
            return ["z", str(x.key)]
        name = t.__name__
        if _CLASSES.get(name) is t:
            n = self._id(x)
            return ["o", n, name, [enc(getattr(x, a, _MISSING)) for a in _LAYOUT[name]]]
        if _DICT_CLASSES.get(name) is t:
            n = self._id(x)
            attrs = sorted(vars(x))
            return ["v", n, name, attrs, [enc(getattr(x, a)) for a in attrs]]
        if x is _MISSING:
            return ["m"]
        raise CheckpointError(f"{t.__module__}.{t.__qualname__} has no checkpoint encoding")


_MISSING: Final = type("_Missing", (), {})()  # an unset slot
_SORTED_ARRAY_CODES: Final = frozenset("dq")
_I64: Final = 1 << 63
# what msgpack holds as itself, types and all (an int only within 64 bits)
_PLAIN: Final = frozenset({type(None), bool, float, str, bytes, int})
_PLAIN_BUT_INT: Final = _PLAIN - {int}
_PLAIN_TAGS: Final = frozenset("LTDUPF")  # their last item is an array of plain values


def _plain(items: Iterable[Any]) -> bool:
    """Every item is written as itself, so the container is written as a plain msgpack
    array and read back without a call per item (most of a large state: ticket keys, ids,
    index entries). Checked at C speed; an int is plain within msgpack's 64 bits."""
    types = set(map(type, items))
    if int not in types:
        return types <= _PLAIN_BUT_INT
    if types != {int}:
        return False  # ints among other types: min/max would not compare; the slow way
    return bool(min(items) >= -_I64 and max(items) < _I64)


class _Decoder:
    """The tags by how often a large state has them (objects and references first), and
    a plain value inline, never through a call: a restart waits for this loop."""

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}

    def dec(self, x: Any) -> Any:
        if type(x) is not list:
            return x
        tag = x[0]
        dec, memo = self.dec, self.memo
        if tag == "r":
            return memo[x[1]]
        out: Any
        if tag == "o":
            cls = _CLASSES.get(x[2])
            if cls is None:
                raise CheckpointError(f"unknown class {x[2]!r}")
            out = memo[x[1]] = object.__new__(cls)
            attrs = _LAYOUT[x[2]]
            if len(attrs) != len(x[3]):
                raise CheckpointError(f"{x[2]}: {len(x[3])} slots, {len(attrs)} expected")
            for a, v in zip(attrs, x[3], strict=True):
                if type(v) is list:
                    v = dec(v)
                    if v is _MISSING:
                        continue
                setattr(out, a, v)
            return out
        # containers of plain values (see _plain): msgpack gave them as they were
        if tag in _PLAIN_TAGS and type(x[-1]) is not list:
            raise CheckpointError(f"a {tag!r} container of no array")
        if tag == "L":
            out = memo[x[1]] = x[2]
            return out
        if tag == "T":
            out = memo[x[1]] = tuple(x[2])
            return out
        if tag == "D":
            out = memo[x[1]] = dict(zip(x[2], x[3], strict=True))
            return out
        if tag == "E":
            out = memo[x[1]] = {}
            out.update(zip(x[2], [dec(v) if type(v) is list else v for v in x[3]],
                           strict=True))
            return out
        if tag == "U":
            out = memo[x[1]] = SortedList(x[2])
            return out
        if tag == "P" or tag == "F":
            out = memo[x[1]] = set(x[2]) if tag == "P" else frozenset(x[2])
            return out
        if tag == "a":
            out = array(x[2])
            out.frombytes(x[3])
        elif tag == "t":
            out = tuple([dec(v) if type(v) is list else v for v in x[2]])
        elif tag == "l":
            out = memo[x[1]] = []
            out.extend([dec(v) if type(v) is list else v for v in x[2]])
            return out
        elif tag == "d":
            out = memo[x[1]] = {}
            keys, values = x[2], x[3]
            if len(keys) != len(values):
                raise CheckpointError("a dict with unequal keys and values")
            for k, v in zip(keys, values, strict=True):
                out[dec(k)] = dec(v)
            return out
        elif tag in ("s", "f"):
            items = [dec(v) for v in x[2]]
            out = set(items) if tag == "s" else frozenset(items)
        elif tag == "S":  # registered before its items (a profile's index holds them)
            out = memo[x[1]] = SortedList()
            out.update([dec(v) for v in x[2]])
            return out
        elif tag == "A":
            code = x[2]
            if code is None:
                numbers = [dec(v) for v in x[3]]
                if not all(type(v) in (int, float) for v in numbers):
                    raise CheckpointError("a SortedArray of other than numbers")
                out = SortedArray(None, numbers)
            elif code in _SORTED_ARRAY_CODES:
                packed = array(code)
                packed.frombytes(x[3])
                out = SortedArray(code, packed)
            else:
                raise CheckpointError(f"a SortedArray of typecode {code!r}")
        elif tag == "K":
            if not x[2] or not all(type(i) is int for i in x[2]):
                raise CheckpointError("a SortedKeyList key that is not an item index")
            out = memo[x[1]] = SortedKeyList(key=itemgetter(*x[2]))
            out.update([dec(v) for v in x[3]])
            return out
        elif tag == "z":
            return ZoneInfo(x[1])
        elif tag == "i":
            return int(x[1])
        elif tag == "m":
            return _MISSING
        elif tag == "v":
            cls = _DICT_CLASSES.get(x[2])
            if cls is None:
                raise CheckpointError(f"unknown class {x[2]!r}")
            out = memo[x[1]] = object.__new__(cls)
            for a, v in zip(x[3], x[4], strict=True):
                if type(a) is not str or a.startswith("__"):
                    raise CheckpointError(f"{x[2]}: attribute {a!r}")
                setattr(out, a, dec(v))
            return out
        else:
            raise CheckpointError(f"unknown tag {tag!r}")
        memo[x[1]] = out
        return out


# -- an engine -------------------------------------------------------------------------
def encode(engine: Engine, instead: Mapping[int, Any] | None = None) -> bytes:
    """The shard's state (not its configuration) as bytes: a header (format, layout and
    configuration hashes, the clock) and the compressed tree. ``instead``: by ``id``, the
    objects written in place of others (the shard's own part of value series it shares
    with the other shards of its process, metrics/shards.py)."""
    e = _Encoder(instead)
    routes = [[topic, cls.__name__, r.accepted]
              for topic, by_class in engine._routes.items() for cls, r in by_class.items()
              if r.accepted]
    outcomes = [[topic, etype, r.accepted]
                for (topic, etype), r in engine._outcome_routes.items() if r.accepted]
    tree = {
        "engine": {a: e.enc(getattr(engine, a)) for a in _engine_attrs(engine)},
        "components": {
            name: None if (obj := getattr(engine, name)) is None else
            {a: e.enc(getattr(obj, a)) for a in _state_attrs(name, obj)}
            for name in _COMPONENTS
        },
        "routes": routes,
        "outcomes": outcomes,
    }
    clock = engine.clock
    header = msgspec.msgpack.encode({
        "format": FORMAT, "layout": layout_hash(engine), "config": config_hash(engine.config),
        "clock_ms": clock.clock_ms, "watermark_ms": clock.watermark_ms,
    })
    packed = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(
        msgspec.msgpack.encode(tree))
    return _MAGIC + len(header).to_bytes(4, "big") + header + packed


def header(payload: bytes) -> dict[str, Any]:
    """The header of a checkpoint (raises CheckpointError when there is none)."""
    if payload[:4] != _MAGIC or len(payload) < 8:
        raise CheckpointError("not a checkpoint")
    n = int.from_bytes(payload[4:8], "big")
    try:
        head = msgspec.msgpack.decode(payload[8:8 + n])
    except msgspec.DecodeError as exc:
        raise CheckpointError(f"header: {exc}") from None
    if not isinstance(head, dict):
        raise CheckpointError("header: not a mapping")
    return head


def body(payload: bytes, fmt: int = FORMAT) -> bytes:
    """The tree of a checkpoint of format ``fmt``, uncompressed (msgpack)."""
    packed = memoryview(payload)[8 + int.from_bytes(payload[4:8], "big"):]  # no copy
    return zlib.decompress(packed) if fmt == 3 else zstandard.ZstdDecompressor().decompress(packed)


def decode(payload: bytes, make: Callable[[], Engine]) -> tuple[Engine, int, int | None]:
    """A fresh engine from ``make()`` holding the state of ``payload``, with the clock and
    watermark it was taken at. Raises CheckpointError: ``other_version`` for another
    format or engine layout, ``other_config`` for another configuration, else ``corrupt``."""
    head = header(payload)
    engine = make()
    fmt = head.get("format")
    if type(fmt) is not int or fmt not in _READS or head.get("layout") != layout_hash(engine):
        raise CheckpointError(f"format {head.get('format')!r}/{head.get('layout')!r}, this "
                              f"build reads {FORMAT}/{layout_hash(engine)}", "other_version")
    if head.get("config") != config_hash(engine.config):
        raise CheckpointError("made with another configuration of windows, horizon, SLAs, "
                              "calendars or scores", "other_config")
    clock_ms, watermark_ms = head.get("clock_ms"), head.get("watermark_ms")
    if type(clock_ms) is not int or not (watermark_ms is None or type(watermark_ms) is int):
        raise CheckpointError("header: no clock")
    collecting = gc.isenabled()
    gc.disable()  # it builds millions of objects that live on: a collection finds nothing
    try:
        tree = msgspec.msgpack.decode(body(payload, fmt))
        d = _Decoder()
        values = tree["engine"]
        if sorted(values) != _engine_attrs(engine):
            raise CheckpointError("engine attributes do not match")
        for a, v in values.items():
            setattr(engine, a, d.dec(v))
        for name in _COMPONENTS:
            obj, state = getattr(engine, name), tree["components"][name]
            if (obj is None) != (state is None):
                raise CheckpointError(f"{name}: present in one of checkpoint and engine only")
            if obj is None:
                continue
            if sorted(state) != _state_attrs(name, obj):
                raise CheckpointError(f"{name}: attributes do not match")
            for a, v in state.items():
                setattr(obj, a, d.dec(v))
        engine.tickets.share_keys()
        engine.returns.share_ids()
        by_name = {cls.__name__: cls for cls in engine._dispatch}
        for topic, cls_name, n in tree["routes"]:
            routes = engine._routes.get(topic) or engine._route(topic)
            routes[by_name[cls_name]].accepted = int(n)
        for topic, etype, n in tree["outcomes"]:
            if topic not in engine._routes:
                engine._route(topic)
            engine._outcome_route(topic, etype).accepted = int(n)
    except CheckpointError:
        raise
    except Exception as exc:  # whatever a damaged payload makes the decoder trip on
        raise CheckpointError(f"{type(exc).__name__}: {exc}") from None
    finally:
        if collecting:
            gc.enable()
    return engine, clock_ms, watermark_ms
