"""Tests for ``anystream.testing.recorder``: recordings, marble parsing and rendering.

Every async test runs on asyncio and trio on a fresh virtual clock (the project's plugin).
"""

from __future__ import annotations

import anyio
import pytest

import anystream
from anystream.testing import (
    Recording,
    ScriptedSource,
    at,
    end,
    hang,
    marbles,
    raise_,
    record,
    scripted,
)

pytestmark = pytest.mark.anyio


# -- await record(...) ---------------------------------------------------------------------


async def test_times_are_rounded_against_float_noise() -> None:
    await anyio.sleep(3.7)  # 3.7 + 0.4 - 3.7 == 0.40000000000000036
    rec = await record(scripted(at(0.4, "a"), at(1.1, "b")))
    assert rec.events == [(0.4, "a"), (1.1, "b")]
    assert rec.end_time == 1.1


async def test_await_records_times_and_end() -> None:
    await anyio.sleep(7)  # times are relative to the start of the recording
    rec = await record(scripted(at(0.5, "a"), at(1.5, "b"), at(2, end())))
    assert rec.events == [(0.5, "a"), (1.5, "b")]
    assert rec.items == ["a", "b"]
    assert rec.times == [0.5, 1.5]
    assert rec.end_time == 2.0
    assert rec.ended
    assert rec.error is None
    assert rec.start == 7.0


async def test_record_through_a_staged_operator() -> None:
    stream = scripted(at(1, 1), at(2, 2), at(3, 3)) | anystream.buffered(2)
    rec = await record(stream | anystream.map(lambda n: n * n))
    assert rec.events == [(1.0, 1), (2.0, 4), (3.0, 9)]


async def test_error_propagates_as_itself_by_default() -> None:
    error = ValueError("boom")
    with pytest.raises(ValueError, match="boom") as info:
        await record(scripted(at(1, "a"), at(2, raise_(error))))
    assert info.value is error


async def test_catch_keeps_the_error() -> None:
    error = ValueError("boom")
    rec = await record(scripted(at(1, "a"), at(2, raise_(error))), catch=ValueError)
    assert rec.events == [(1.0, "a")]
    assert rec.error is error
    assert rec.end_time == 2.0
    assert rec.marbles(frame=1) == "-a#"


async def test_catch_does_not_catch_other_types() -> None:
    with pytest.raises(KeyError):
        await record(scripted(raise_(KeyError("k"))), catch=(ValueError, TypeError))


async def test_until_abandons_a_stream_that_never_ends() -> None:
    source = ScriptedSource(at(1, "a"), at(2, "b"), hang())
    start = anyio.current_time()
    rec = await record(source.as_stream(), until=10)
    assert rec.events == [(1.0, "a"), (2.0, "b")]
    assert not rec.ended
    assert rec.end_time is None
    assert anyio.current_time() - start == 10
    assert source.opened == source.closed == 1
    assert rec.marbles(frame=1) == "-ab"


async def test_until_zero_records_only_the_first_instant() -> None:
    rec = await record(scripted("a", at(1, "b")), until=0)
    assert rec.items == ["a"]


# -- async with record(...) ----------------------------------------------------------------


async def test_context_records_in_the_background() -> None:
    async with record(scripted(at(1, "a"), at(2, "b"), at(3, "c"), hang())) as rec:
        await anyio.sleep(2.5)
        assert rec.items == ["a", "b"]
        await anyio.sleep(1)
    assert rec.events == [(1.0, "a"), (2.0, "b"), (3.0, "c")]
    assert not rec.ended  # leaving the block ended the run


async def test_leaving_the_block_closes_the_source() -> None:
    source = ScriptedSource(*(at(i, i) for i in range(1000)))
    async with record(source.as_stream() | anystream.buffered(4)) as rec:
        await anyio.sleep(3.5)
    assert rec.items == [0, 1, 2, 3]
    assert source.opened == source.closed == 1


async def test_wait_waits_for_the_end() -> None:
    recorder = record(scripted(at(1, "a"), at(5, end())))
    async with recorder as rec:
        done = await recorder.wait()
        assert done is rec
        assert rec.end_time == 5.0
    assert rec.ended


async def test_stop_drains_gracefully() -> None:
    recorder = record(scripted(at(1, "a"), at(2, "b"), hang()) | anystream.buffered(4))
    async with recorder as rec:
        await anyio.sleep(2.5)
        recorder.stop()
        await recorder.wait()
    assert rec.items == ["a", "b"]
    assert rec.end_time == 2.5


async def test_stop_before_the_run_starts() -> None:
    recorder = record(scripted(at(1, "a"), hang()) | anystream.buffered(1))
    recorder.stop()
    async with recorder as rec:
        await recorder.wait()
    assert rec.items == []
    assert rec.ended


async def test_stream_error_interrupts_the_block_and_is_raised_as_itself() -> None:
    error = ValueError("boom")
    reached = []
    start = anyio.current_time()
    with pytest.raises(ValueError, match="boom") as info:
        async with record(scripted(at(1, raise_(error)))):
            await anyio.sleep(100)
            reached.append(True)
    assert info.value is error
    assert not reached
    assert anyio.current_time() - start == 1


async def test_block_error_is_raised_as_itself() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with record(scripted(at(1, "a"), hang())):
            await anyio.sleep(0.5)
            raise KeyError("mine")


async def test_caught_error_in_the_background() -> None:
    async with record(scripted(at(1, raise_(ValueError))), catch=ValueError) as rec:
        await anyio.sleep(2)
    assert isinstance(rec.error, ValueError)
    assert rec.end_time == 1.0


async def test_recorder_is_single_use() -> None:
    recorder = record(scripted("a"))
    await recorder
    with pytest.raises(RuntimeError, match="used once"):
        await recorder


async def test_recording_property_before_start() -> None:
    recorder = record(scripted("a"))
    with pytest.raises(RuntimeError, match="not started"):
        _ = recorder.recording
    await recorder
    assert recorder.recording.items == ["a"]


def test_record_checks_arguments() -> None:
    with pytest.raises(TypeError, match="stream must be an anystream Stream"):
        record([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="until must be >= 0"):
        record(scripted(), until=-1)
    with pytest.raises(TypeError, match="until must be a number"):
        record(scripted(), until="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="catch must be an exception class"):
        record(scripted(), catch=ValueError("x"))  # type: ignore[arg-type]


# -- marbles: parsing ----------------------------------------------------------------------


def test_marbles_parse_items_and_end() -> None:
    assert marbles("--a-b--|", frame=0.1) == [
        at(0.2, "a"),
        at(0.4, "b"),
        at(7 * 0.1, end()),  # frame index times frame, as the clock will see it
    ]


def test_marbles_groups_take_one_frame() -> None:
    assert marbles("(ab)-c(d|)", frame=1) == [
        at(0, "a"),
        at(0, "b"),
        at(2, "c"),
        at(3, "d"),
        at(3, end()),
    ]


def test_marbles_values_error_and_spaces() -> None:
    error = ValueError("bad")
    assert marbles("-x -#", frame=1, values={"x": 42}, error=error) == [
        at(1, 42),
        at(3, raise_(error)),
    ]


def test_marbles_without_end_hang() -> None:
    assert marbles("-a--", frame=1) == [at(1, "a"), at(1, hang())]
    assert marbles("", frame=1) == [at(0, hang())]


@pytest.mark.parametrize(
    ("diagram", "message"),
    [
        ("-a|b", "after its end"),
        ("#-|", "after its end"),
        ("(ab", "'\\(' without '\\)'"),
        ("ab)", "'\\)' without '\\('"),
        ("((a))", "nested"),
        ("()", "empty group"),
        ("(a-b)", "'-' inside a group"),
    ],
)
def test_marbles_reject_malformed_diagrams(diagram: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        marbles(diagram, frame=1)


def test_marbles_check_frame() -> None:
    with pytest.raises(ValueError, match="frame must be a positive"):
        marbles("-a", frame=0)
    with pytest.raises(TypeError, match="frame must be a number"):
        marbles("-a", frame="1")  # type: ignore[arg-type]


# -- marbles: rendering and round trips ----------------------------------------------------


def test_render_groups_and_end_in_the_same_frame() -> None:
    rec: Recording[str] = Recording(start=0.0)
    rec.events += [(0.0, "a"), (0.0, "b"), (0.3, "c")]
    rec.end_time = 0.3
    assert rec.marbles(frame=0.1) == "(ab)--(c|)"


def test_render_labels() -> None:
    rec: Recording[int] = Recording(start=0.0, events=[(1.0, 10), (2.0, 20)])
    assert rec.marbles(frame=1, labels={10: "x", 20: "y"}) == "-xy"
    assert rec.marbles(frame=1, labels=lambda n: chr(ord("a") + n // 10)) == "-bc"
    with pytest.raises(ValueError, match="pass labels="):
        rec.marbles(frame=1)
    with pytest.raises(ValueError, match="one character"):
        rec.marbles(frame=1, labels={10: "-", 20: "y"})


def test_render_empty_recording() -> None:
    assert Recording[str](start=0.0).marbles(frame=1) == ""


@pytest.mark.parametrize(
    "diagram",
    ["--a-b--|", "a-b-c", "(ab)--c---(d|)", "---#", "|", "-(a#)", "----x----y----z-|"],
)
async def test_marble_round_trip(diagram: str) -> None:
    stream = scripted(*marbles(diagram, frame=0.1))
    until = 0.1 * len(diagram) + 1 if "|" not in diagram and "#" not in diagram else None
    rec = await record(stream, until=until, catch=RuntimeError)
    assert rec.marbles(frame=0.1) == diagram


async def test_marbles_through_an_operator() -> None:
    stream = scripted(*marbles("-1-2-3-4-|", frame=0.5)) | anystream.map(int)
    rec = await record(stream | anystream.where(lambda n: n % 2 == 0))
    assert rec.marbles(frame=0.5) == "---2---4-|"
    assert rec.events == [(1.5, 2), (3.5, 4)]


async def test_module_example_with_debounce() -> None:
    # The example of the recorder module's docstring, checked on both backends.
    source = scripted(*marbles("a-b-----c--|", frame=0.1))
    rec = await record(source | anystream.debounce(0.3))
    assert rec.marbles(frame=0.1) == "-----b-----(c|)"
    assert rec.events == [(0.5, "b"), (1.1, "c")]
