"""``timeout(per_item, first=..., fallback=...)`` against RxJS ``timeout-spec.ts`` (the
``{each, first, with}`` configuration) and Kotlin's ``timeout`` documentation, in our own
words; frames of 1 s on the virtual clock, both backends. ``#`` is a ``TimeoutError`` or a
``Boom``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream import Stream, timeout
from anystream._core.source import FactorySource
from anystream.testing import record

from ._marble import Boom, expect, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def draw(stream: Stream[Any]) -> str:
    with anyio.fail_after(100):
        rec = await record(stream, until=60, catch=(Boom, TimeoutError))
    return rec.marbles(frame=1)


def fb(diagram: str) -> Stream[Any]:
    return src(diagram)


CASES: list[tuple[str, str, Any, str]] = [
    # timeout-spec "should timeout after a specified timeout period"
    ("rxjs each: times out", "-------a--b--|", lambda: timeout(5), "-----#"),
    # "should not timeout if source completes before the due time"
    ("rxjs each: completes first", "--a--|", lambda: timeout(5), "--a--|"),
    # "should timeout after specified period between emits"
    ("rxjs each: gap between items", "--a-b------c|", lambda: timeout(3), "--a-b--#"),
    # "should not raise if the source raises first": the source's error comes through
    ("rxjs each: source error first", "--#", lambda: timeout(5), "--#"),
    # an item due at the very instant the limit ends wins the tie (RxJS order)
    ("rxjs each: tie goes to the item", "---a---b|", lambda: timeout(4), "---a---b|"),
    # "should timeout the first value only if first is specified alone"
    ("rxjs first: times out", "------a|", lambda: timeout(first=3), "---#"),
    # "should not timeout later values when only first is given"
    (
        "rxjs first: later gaps free",
        "---a------------b|",
        lambda: timeout(first=5),
        "---a------------b|",
    ),
    # {first: 10, each: 3}: the first item may take 10, the next only 3 each
    ("rxjs first + each", "--------a--b-----c|", lambda: timeout(3, first=10), "--------a--b--#"),
    # {first: 10, each: 3}: the first item late against 10
    ("rxjs first + each: first late", "-----------a|", lambda: timeout(3, first=10), "----------#"),
    # "should switch to with when first times out"
    (
        "rxjs with on first",
        "-------a|",
        lambda: timeout(first=4, fallback=fb("-x-y|")),
        "-----x-y|",
    ),
    # "should switch to with when each times out", after items passed
    (
        "rxjs with on each",
        "-a-b-----c|",
        lambda: timeout(3, fallback=fb("(z|)")),
        "-a-b--(z|)",
    ),
    # "should not switch to with if the source completes in time"
    ("rxjs with: no switch", "--a--|", lambda: timeout(5, fallback=fb("x|")), "--a--|"),
    # "should propagate an error of with"
    ("rxjs with: fallback error", "-----a|", lambda: timeout(2, fallback=fb("-#")), "---#"),
    # "should propagate a source error before the timeout, without switching"
    ("rxjs with: source error", "-#", lambda: timeout(3, fallback=fb("x|")), "-#"),
    # an empty source ends before any limit
    ("empty source", "|", lambda: timeout(first=2, fallback=fb("x|")), "|"),
    # "with" given as a function, called at the timeout
    ("fallback function", "-----a|", lambda: timeout(2, fallback=lambda: ["q"]), "--(q|)"),
    # the fallback as a plain iterable
    ("fallback iterable", "----a|", lambda: timeout(first=1, fallback=["p", "r"]), "-(pr|)"),
    # first met, then never: no further limit without per_item
    ("first then never", "-a-", lambda: timeout(first=3), "-a"),
]


@pytest.mark.parametrize(
    ("given", "make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_timeout_variants(given: str, make: Any, expected: str) -> None:
    assert await draw(src(given) | make()) == expect(expected)


async def test_switching_closes_the_upstream_at_once() -> None:
    # timeout-spec "should unsubscribe from the source when switching to with". anystream
    # closes its end of the hand-off at the switch; the upstream task stops when it next
    # sends, or when the run ends (here: at once, the fallback has one item), not at 10.
    events: list[tuple[str, float]] = []

    async def slow() -> AsyncIterator[int]:
        try:
            await anyio.sleep(10)
            yield 1
        finally:
            events.append(("closed", anyio.current_time()))

    async def fallback() -> AsyncIterator[str]:
        events.append(("fallback", anyio.current_time()))
        yield "f"

    s = Stream(FactorySource(slow, "slow")) | timeout(2, fallback=lambda: fallback())
    start = anyio.current_time()
    with anyio.fail_after(30):
        assert await s.collect() == ["f"]
    assert sorted((e, round(t - start, 6)) for e, t in events) == [
        ("closed", 2.0),
        ("fallback", 2.0),
    ]


async def test_kotlin_timeout_then_catch_doc_example() -> None:
    # Kotlin Flow timeout() doc: items 1, 2, 3 quickly, then a long pause; the timeout's
    # catch emits -1 in its place. Here: the fallback does it.
    s = src("-1-2-3--------4|") | timeout(3, fallback=[-1])
    with anyio.fail_after(30):
        assert await s.collect() == ["1", "2", "3", -1]


async def test_first_timeout_message_names_the_first_item() -> None:
    with anyio.fail_after(30), pytest.raises(TimeoutError, match=r"no first item within 2 s"):
        await (src("-----a|") | timeout(first=2)).collect()


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"timeout\(\): give per_item .* got neither"):
        timeout()
    with pytest.raises(ValueError, match=r"timeout\(\): first must be > 0, got 0"):
        timeout(first=0)
    with pytest.raises(TypeError, match=r"timeout\(\): fallback must be a Stream.*got int 3"):
        timeout(1, fallback=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"timeout\(\): fallback must be a Stream.*got str"):
        timeout(1, fallback="xy")  # type: ignore[arg-type]


def test_names() -> None:
    assert repr(timeout(2, first=5, fallback=a.empty())) == "timeout(2, first=5, fallback)"
    assert repr(timeout(first=5)) == "timeout(first=5)"
