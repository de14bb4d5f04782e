"""SortedArray (metrics/sortedarray.py) answers as sortedcontainers' SortedList does: a
random mix of adds, removes, bulk updates and reads, on small chunks so that they split
and empty, for both typecodes; an int beyond 64 bits turns it into list chunks."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from sortedcontainers import SortedList

import metrics.sortedarray as sa
from metrics.sortedarray import SortedArray


@pytest.mark.parametrize("typecode", ["d", "q"])
def test_it_answers_as_a_sorted_list(monkeypatch: pytest.MonkeyPatch, typecode: str) -> None:
    monkeypatch.setattr(sa, "_LOAD", 8)
    rnd = random.Random(7)
    gen: Callable[[], float] = ((lambda: rnd.randrange(200) / 7) if typecode == "d"
                                else (lambda: rnd.randrange(-500, 500)))
    a, b = SortedArray(typecode), SortedList()
    for step in range(6000):
        r = rnd.random()
        if r < 0.55 or not b:
            v = gen()
            a.add(v)
            b.add(v)
        elif r < 0.9:
            v = b[rnd.randrange(len(b))]
            a.remove(v)
            b.remove(v)
        elif r < 0.92:
            vs = [gen() for _ in range(rnd.randrange(30))]
            a.update(vs)
            b.update(vs)
        else:
            v = gen()
            assert (a.bisect_left(v), a.bisect_right(v)) == (b.bisect_left(v), b.bisect_right(v))
            assert (v in a) == (v in b)
        assert len(a) == len(b)
        assert bool(a) == bool(b)
        if b and step % 37 == 0:
            k = rnd.randrange(len(b))
            assert (a[k], a[-1], a[0]) == (b[k], b[-1], b[0])
            lo, hi = sorted((rnd.randrange(len(b) + 3), rnd.randrange(len(b) + 3)))
            assert list(a.islice(lo, hi)) == list(b.islice(lo, hi))
        if step % 500 == 0:
            assert list(a) == list(b)
    assert list(a) == list(b)
    with pytest.raises(ValueError):
        a.remove(10**6)
    with pytest.raises(IndexError):
        a[len(a)]


def test_an_int_beyond_64_bits_turns_it_into_lists() -> None:
    x = SortedArray("q", [5, 1])
    x.add(1 << 70)
    x.add(3)
    assert x.typecode is None
    assert list(x) == [1, 3, 5, 1 << 70]
    x.remove(1 << 70)
    assert list(x) == [1, 3, 5]
    assert x.bisect_left(4) == 2
