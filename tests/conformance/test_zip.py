"""zip / zip_with against RxJS ``zip-spec.ts``, aiostream ``test_combine.py`` and Kotlin ``zip``.

Every case runs on asyncio and trio on the virtual clock; frames are 1 s.
"""

from __future__ import annotations

import anyio
import pytest

from anystream import Stream, empty, from_iterable, just, never, zip, zip_with
from anystream.testing import ScriptedSource, at, marbles, raise_, record, scripted

pytestmark = pytest.mark.anyio


def m(diagram: str, **values: object) -> Stream[object]:
    return scripted(*marbles(diagram, frame=1, values=values or None))


# (source case, inputs, expected output marbles with tuples drawn by `label`)
CASES = [
    # RxJS zip-spec "should zip the provided observables": a,b,c / d,e,f pairwise.
    ("rxjs zip: pairs in order", ["-a--b--c|", "--d--e--f|"], [(2, "ad"), (5, "be"), (8, "cf")], 8),
    # RxJS "should end once one observable completes and its buffer is empty".
    (
        "rxjs zip: ends with empty buffer",
        ["---a--b--c--|", "------d----e----f----g|"],
        [(6, "ad"), (11, "be"), (16, "cf")],
        16,
    ),
    # RxJS "should end once one observable nexts and zips value from completed other
    # observable whose buffer is empty": A ends at 8 with nothing pending, B at 6.
    ("rxjs zip: A ends 8, B ends 6", ["--a--b--|", "-x--y-|"], [(2, "ax"), (5, "by")], 6),
    # RxJS "should work with two nevers" is covered below; "should work with empty and
    # non-empty": empty ends zip at once.
    ("rxjs zip: empty and non-empty", ["|", "---a--|"], [], 0),
    ("rxjs zip: non-empty and empty", ["---a--|", "|"], [], 0),
    # RxJS "should work with non-empty and throw" is in test_zip_errors.
    # RxJS "should combine an immediately-scheduled source with an immediately-scheduled second".
    ("rxjs zip: same-frame groups", ["(abc|)", "(xyz|)"], [(0, "ax"), (0, "by"), (0, "cz")], 0),
    # RxJS "should work with n-ary symmetric".
    (
        "rxjs zip: three inputs",
        ["-a-b-c-|", "-1-2-3-|", "-x-y-z-|"],
        [(1, "a1x"), (3, "b2y"), (5, "c3z")],
        7,
    ),
    # RxJS "should work with right completes first": the left still had items pending.
    ("rxjs zip: right completes first", ["---a---b---|", "--1-|"], [(3, "a1")], 4),
    # Kotlin Flow zip doc: the shorter flow decides ("zip with the first ended").
    ("kotlin zip: shorter flow ends the result", ["-1-2-3|", "-a-b|"], [(1, "1a"), (3, "2b")], 4),
    # aiostream test_zip: zip of a stream with a one-item stream ends after one pair.
    (
        "aiostream zip: one-item input ends after one pair",
        ["-a-b-c-d-e-f-", "(x|)"],
        [(1, "ax")],
        1,
    ),
]


@pytest.mark.parametrize(
    ("inputs", "events", "end"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_zip_marbles(inputs: list[str], events: list[tuple[int, str]], end: int) -> None:
    rec = await record(zip(*(m(d) for d in inputs)), until=100)
    assert [(t, "".join(row)) for t, row in rec.events] == events
    assert rec.end_time == end


@pytest.mark.parametrize(
    ("inputs", "events", "end"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_zip_with_marbles(inputs: list[str], events: list[tuple[int, str]], end: int) -> None:
    first, *others = (m(d) for d in inputs)
    rec = await record(first | zip_with(*others), until=100)
    assert [(t, "".join(row)) for t, row in rec.events] == events
    assert rec.end_time == end


async def test_zip_never_and_empty_ends_at_once() -> None:
    # RxJS zip-spec "should work with never and empty": completes at once.
    for inputs in ((never(), empty()), (empty(), never()), (never(), never(), empty())):
        with anyio.fail_after(1):
            assert await zip(*inputs).collect() == []


async def test_zip_two_nevers_never_end() -> None:
    # RxJS zip-spec "should work with two nevers": no emission, no completion.
    rec = await record(zip(never(), never()), until=50)
    assert rec.events == []
    assert not rec.ended


async def test_zip_closes_the_other_inputs_promptly() -> None:
    # The idle input is closed as soon as the one-item input ended: not at its own end.
    long_one = ScriptedSource(at(1, "a"), at(1000, "b"))
    rec = await record(zip(long_one.as_stream(), just("x")))
    assert rec.events == [(1, ("a", "x"))]
    assert rec.end_time == 1
    assert long_one.closed == 1


async def test_zip_of_endless_and_one_item() -> None:
    # issue 14: zip(x, from_iterable([2])) must end after the first pair.
    async def forever():  # type: ignore[no-untyped-def]
        n = 0
        while True:
            await anyio.sleep(1)
            yield n
            n += 1

    with anyio.fail_after(10):
        assert await zip(from_iterable(forever()), from_iterable([2])).collect() == [(0, 2)]


async def test_zip_errors() -> None:
    # RxJS zip-spec "should work with non-empty and throw": the error ends zip at once.
    rec = await record(zip(m("---a--|"), m("-#")), catch=RuntimeError)
    assert rec.events == []
    assert rec.end_time == 1
    # "should work with throw and throw": the first error wins.
    rec = await record(zip(m("---#"), m("-#")), catch=RuntimeError)
    assert rec.end_time == 1


async def test_zip_strict_passes_an_input_error_through_as_itself() -> None:
    # issue 14: the input's own error, not a group around a length ValueError.
    async def bad():  # type: ignore[no-untyped-def]
        yield 1
        raise AttributeError("input's own")

    for _ in builtins_range(10):
        with pytest.raises(AttributeError, match="input's own") as info:
            await zip(from_iterable([1, 2, 3]), from_iterable(bad()), strict=True).collect()
        assert not isinstance(info.value, BaseExceptionGroup)
        with pytest.raises(AttributeError, match="input's own"):
            await zip(from_iterable(bad()), from_iterable([1]), strict=True).collect()


async def test_zip_strict_length_error_after_the_shared_rows() -> None:
    got = []
    with pytest.raises(ValueError, match="input 2 is shorter than input 1"):
        async with zip(m("-a-b-c|"), m("-x|"), strict=True).stream() as run:
            async for row in run:
                got.append(row)
    assert got == [("a", "x")]
    # Both ended together: no error.
    assert await zip(m("-a|"), m("--x|"), strict=True).collect() == [("a", "x")]
    # Equal length but the error arrives before the end: the error wins.
    with pytest.raises(RuntimeError):
        await zip(m("-a#"), m("-x|"), strict=True).collect()
    _ = raise_


builtins_range = range
