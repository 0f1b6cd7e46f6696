"""Tests for ``anystream.testing.sources``: scripted sources on the virtual clock.

Every test runs on asyncio and trio (the project's plugin); times are exact equalities.
"""

from __future__ import annotations

import anyio
import pytest

import anystream
from anystream.testing import (
    At,
    ScriptedSource,
    at,
    end,
    hang,
    raise_,
    record,
    scripted,
)

pytestmark = pytest.mark.anyio


async def timed(source: ScriptedSource[object]) -> list[tuple[float, object]]:
    """Iterate ``source`` directly (no runner), stamping each item with its time."""
    start = anyio.current_time()
    return [(anyio.current_time() - start, item) async for item in source]


async def test_items_arrive_at_their_times() -> None:
    source = ScriptedSource(at(0.5, "a"), at(1.0, "b"), at(1.0, "c"), at(4.25, "d"))
    assert await timed(source) == [(0.5, "a"), (1.0, "b"), (1.0, "c"), (4.25, "d")]


async def test_bare_items_follow_the_previous_event_at_once() -> None:
    source = ScriptedSource("a", at(2, "b"), "c")
    assert await timed(source) == [(0.0, "a"), (2.0, "b"), (2.0, "c")]


async def test_times_are_relative_to_each_iteration() -> None:
    source = ScriptedSource(at(1, "a"))
    await anyio.sleep(10)
    assert await timed(source) == [(1.0, "a")]
    assert await timed(source) == [(1.0, "a")]
    assert (source.opened, source.closed, source.emitted) == (2, 2, 2)


async def test_end_ends_at_its_time() -> None:
    start = anyio.current_time()
    source = ScriptedSource(at(1, "a"), at(3, end()))
    assert await timed(source) == [(1.0, "a")]
    assert anyio.current_time() - start == 3


async def test_raise_instance_at_its_time() -> None:
    error = ValueError("boom")
    start = anyio.current_time()
    stream = scripted(at(1, "a"), at(2.5, raise_(error)))
    seen: list[str] = []
    with pytest.raises(ValueError, match="boom") as info:
        async with stream.stream() as items:
            async for item in items:
                seen.append(item)
    assert info.value is error
    assert seen == ["a"]
    assert anyio.current_time() - start == 2.5


async def test_raise_class_is_instantiated_per_run() -> None:
    stream = scripted("a", raise_(KeyError))
    errors = []
    for _ in range(2):
        with pytest.raises(KeyError) as info:
            await stream.collect()
        errors.append(info.value)
    assert errors[0] is not errors[1]


async def test_hang_blocks_until_cancelled_and_closes() -> None:
    source = ScriptedSource(at(1, "a"), hang())
    seen: list[tuple[float, object]] = []
    start = anyio.current_time()
    with anyio.move_on_after(100):
        async for item in source:
            seen.append((anyio.current_time() - start, item))
    assert seen == [(1.0, "a")]
    assert anyio.current_time() - start == 100
    assert source.closed == 1


async def test_hang_at_a_time() -> None:
    rec = await record(scripted(at(1, "a"), at(2, hang())), until=50)
    assert rec.events == [(1.0, "a")]
    assert not rec.ended


async def test_graceful_stop_interrupts_a_hang() -> None:
    source = ScriptedSource(at(1, "a"), hang())
    stream = source.as_stream() | anystream.buffered(1)
    seen = []
    async with stream.stream() as items:
        async for item in items:
            seen.append(item)
            items.stop()
    assert seen == ["a"]
    assert source.opened == source.closed == 1


async def test_stream_is_cold_and_rerunnable() -> None:
    stream = scripted(at(1, 1), at(2, 2)) | anystream.map(lambda n: n * 10)
    assert await stream.collect() == [10, 20]
    assert await stream.collect() == [10, 20]


async def test_source_name_in_stats() -> None:
    stream = scripted(1, 2, 3)
    assert await stream.collect() == [1, 2, 3]
    assert stream.stats().operators[0].name == "scripted"


async def test_early_exit_closes_the_script() -> None:
    source = ScriptedSource(*(at(i, i) for i in range(100)))
    assert await (source.as_stream() | anystream.take(3)).collect() == [0, 1, 2]
    assert source.opened == source.closed == 1
    assert source.emitted == 3


async def test_empty_script_ends_at_once() -> None:
    assert await scripted().collect() == []


def test_times_must_not_go_backwards() -> None:
    with pytest.raises(ValueError, match=r"event 1 is at 1 s, before the previous event at 2 s"):
        ScriptedSource(at(2, "a"), at(1, "b"))


def test_nothing_after_a_directive() -> None:
    with pytest.raises(ValueError, match="comes after"):
        ScriptedSource(at(1, end()), at(2, "x"))
    with pytest.raises(ValueError, match="comes after"):
        ScriptedSource(raise_(ValueError("x")), "y")


@pytest.mark.parametrize(
    ("time", "error"),
    [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError), (True, TypeError)],
)
def test_at_checks_time(time: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="time"):
        at(time, "x")  # type: ignore[arg-type]


def test_raise_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="error must be an exception"):
        raise_("boom")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="error must be an exception"):
        raise_(int)  # type: ignore[arg-type]


def test_at_is_a_plain_value() -> None:
    assert at(1, "a") == At(1.0, "a")
    assert repr(ScriptedSource(1, 2)) == "ScriptedSource(2 events)"
