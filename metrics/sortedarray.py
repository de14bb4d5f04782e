"""A sorted multiset of numbers in flat arrays: :class:`SortedArray`.

``sortedcontainers.SortedList`` holds a pointer per item, and each item is an object of its
own unless it is shared: a float value of a window series costs 24 B and a later turn's
index key (a fresh 60-bit int) 32 B, on top of the 8 B slot. Here an item is its 8 bytes
in an ``array`` chunk (``'d'`` for the window value series, ``'q'`` for turn keys) and no
object: what a million open later turns or a day of responses cost is 8 B each per list.

The layout is sortedcontainers' (sorted chunks of at most ``2 * _LOAD`` items, the maxima
beside them, a positional index rebuilt lazily), so add, remove and bisection are
O(log n) plus one memmove. Values read back are the ones stored (an ``array('d')`` holds a
Python float exactly; a ``'q'`` one an int of 64 bits). An int outside 64 bits (a turn key
of a far-off event time) turns the list into one of list chunks (``typecode`` None): slower
to copy, same answers.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, chain, islice
from typing import Any, overload

__all__ = ["SortedArray"]

_LOAD = 1000  # a chunk is split in two when it reaches twice this many items


class SortedArray(Sequence[Any]):
    """The items in ascending order (duplicates kept), 8 bytes each (``typecode`` None:
    list chunks, for items no array holds)."""

    __slots__ = ("_cum", "_len", "_lists", "_maxes", "typecode")

    def __init__(self, typecode: str | None, iterable: Iterable[Any] = ()) -> None:
        self.typecode: str | None = typecode
        self._lists: list[Any] = []  # sorted chunks (arrays of typecode, or lists)
        self._maxes: list[Any] = []  # the last item of each chunk
        self._len = 0
        self._cum: list[int] | None = None  # items before each chunk (None: rebuild)
        self.update(iterable)

    def _chunk(self, items: Iterable[Any]) -> Any:
        return list(items) if self.typecode is None else array(self.typecode, items)

    def _to_lists(self) -> None:
        """Items an array cannot hold: from now on the chunks are lists."""
        self.typecode = None
        self._lists = [list(c) for c in self._lists]

    # -- writes ------------------------------------------------------------------------
    def add(self, value: Any) -> None:
        maxes, lists = self._maxes, self._lists
        self._cum = None
        if not maxes:
            try:
                lists.append(self._chunk((value,)))
            except OverflowError:
                self._to_lists()
                lists = self._lists
                lists.append([value])
            maxes.append(value)
            self._len = 1
            return
        i = bisect_right(maxes, value)
        if i == len(maxes):
            i -= 1
            chunk = lists[i]
            try:
                chunk.append(value)
            except OverflowError:
                self._to_lists()
                self._lists[i].append(value)
            maxes[i] = value
        else:
            try:
                insort(lists[i], value)
            except OverflowError:
                self._to_lists()
                insort(self._lists[i], value)
        self._len += 1
        self._split(i)

    def _split(self, i: int) -> None:
        chunk = self._lists[i]
        if len(chunk) >= 2 * _LOAD:
            half = chunk[_LOAD:]
            del chunk[_LOAD:]
            self._lists.insert(i + 1, half)
            self._maxes[i] = chunk[-1]
            self._maxes.insert(i + 1, half[-1])

    def update(self, iterable: Iterable[Any]) -> None:
        """Add many: the chunks are rebuilt from one sorted run."""
        values = sorted(chain(self, iterable))
        self._cum = None
        try:
            chunks = [self._chunk(values[k:k + _LOAD]) for k in range(0, len(values), _LOAD)]
        except OverflowError:
            self.typecode = None
            chunks = [values[k:k + _LOAD] for k in range(0, len(values), _LOAD)]
        self._lists = chunks
        self._maxes = [c[-1] for c in chunks]
        self._len = len(values)

    def remove(self, value: Any) -> None:
        """Remove one item equal to ``value``; ValueError when there is none."""
        maxes = self._maxes
        i = bisect_left(maxes, value)
        if i == len(maxes):
            raise ValueError(f"{value!r} not in list")
        chunk = self._lists[i]
        j = bisect_left(chunk, value)
        if chunk[j] != value:
            raise ValueError(f"{value!r} not in list")
        del chunk[j]
        self._len -= 1
        self._cum = None
        if not chunk:
            del self._lists[i]
            del maxes[i]
        elif j == len(chunk):
            maxes[i] = chunk[-1]

    def discard(self, value: Any) -> None:
        if value in self:
            self.remove(value)

    def clear(self) -> None:
        self._lists, self._maxes, self._len, self._cum = [], [], 0, None

    # -- reads -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self._lists)

    def __contains__(self, value: object) -> bool:
        maxes = self._maxes
        i = bisect_left(maxes, value)
        if i == len(maxes):
            return False
        chunk = self._lists[i]
        j = bisect_left(chunk, value)
        return bool(chunk[j] == value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SortedArray):
            return self._len == other._len and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SortedArray({self.typecode!r}, {list(self)!r})"

    def _pos(self, index: int) -> tuple[int, int]:
        """(chunk, offset) of the item at ``index`` (0 <= index < len)."""
        cum = self._cum
        if cum is None:
            cum = self._cum = [0, *accumulate(map(len, self._lists))]
        i = bisect_right(cum, index) - 1
        return i, index - cum[i]

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        n = self._len
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("SortedArray index out of range")
        lists = self._lists
        if index < len(lists[0]):
            return lists[0][index]
        i, j = self._pos(index)
        return lists[i][j]

    def bisect_left(self, value: Any) -> int:
        """How many items are < ``value``."""
        return self._rank(value, bisect_left)

    def bisect_right(self, value: Any) -> int:
        """How many items are <= ``value``."""
        return self._rank(value, bisect_right)

    def _rank(self, value: Any, find: Callable[[Any, Any], int]) -> int:
        """The position ``find`` (``bisect_left`` or ``bisect_right``) gives ``value``:
        in the chunk maxima, then in that chunk."""
        maxes = self._maxes
        i = find(maxes, value)
        if i == len(maxes):
            return self._len
        j = find(self._lists[i], value)
        return j if i == 0 else self._offset(i) + j

    def _offset(self, i: int) -> int:
        cum = self._cum
        if cum is None:
            cum = self._cum = [0, *accumulate(map(len, self._lists))]
        return cum[i]

    def islice(self, start: int = 0, stop: int | None = None) -> Iterator[Any]:
        """The items from ``start`` to ``stop`` (positions), lazily."""
        n = self._len
        stop = n if stop is None else min(stop, n)
        if start >= stop:
            return iter(())
        i, j = self._pos(start)
        first = self._lists[i][j:]
        rest = chain.from_iterable(self._lists[i + 1:])
        return islice(chain(first, rest), stop - start)
