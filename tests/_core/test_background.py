"""``await stream.start()``: a run in the background, on asyncio and trio (issue 17).

The handle returns once the run has started; the run goes on while the caller does
other things, and ends by itself, by ``stop()`` (graceful drain) or ``abort()``. Its
error is kept and raised by ``wait()``/``stop()``, never dropped. Virtual clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from anystream import buffered, from_iterable, map, parse

pytestmark = pytest.mark.anyio


async def ticks(n: int | None = None, period: float = 0.1) -> AsyncIterator[int]:
    i = 0
    while n is None or i < n:
        await anyio.sleep(period)
        yield i
        i += 1


async def test_start_returns_while_the_run_goes_on_and_it_ends_by_itself() -> None:
    with anyio.fail_after(30):
        s = from_iterable(ticks(20)) | map(lambda n: n * 2)
        run = await s.start(keep=True)
        assert run.state == "running"
        assert run.received == 0
        await anyio.sleep(1.05)
        assert 9 <= run.received <= 11  # the caller went on; so did the run
        assert run.stats()[0].emitted == run.stats()["map"].received
        await run.wait()
    assert run.state == "finished"
    assert run.done
    assert run.items == [n * 2 for n in range(20)]
    assert "finished" in repr(run)
    assert "BackgroundRun · finished · received 20" in run._repr_html_()


async def test_stop_drains_an_endless_run() -> None:
    with anyio.fail_after(30):
        s = from_iterable(ticks()) | buffered(4)
        run = await s.start()
        await anyio.sleep(2.05)
        await run.stop()
    assert run.state == "finished"
    stats = run.stats()
    # Graceful: whatever the source produced came out of the end, nothing in flight.
    assert stats[0].emitted == stats["buffered"].emitted == run.received
    assert run.received >= 19
    assert all(op.in_flight == 0 for op in stats.operators)


async def test_abort_cancels_at_once() -> None:
    with anyio.fail_after(30):
        run = await (from_iterable(ticks(period=10.0))).start()
        before = anyio.current_time()
        await run.abort()
        assert anyio.current_time() - before < 1.0
    assert run.state == "aborted"
    assert run.error is None
    await run.wait()  # an aborted run raises nothing


async def test_an_error_is_kept_and_raised_by_wait_and_stop() -> None:
    def boom(n: int) -> int:
        if n == 3:
            raise ZeroDivisionError("three")
        return n

    with anyio.fail_after(30):
        run = await (from_iterable(ticks(10)) | map(boom)).start()
        with pytest.raises(ZeroDivisionError, match="three"):
            await run.wait()
        assert run.state == "failed"
        assert isinstance(run.error, ZeroDivisionError)
        with pytest.raises(ZeroDivisionError):
            await run.stop()


async def test_two_background_runs_of_one_stream_and_parse_drops_are_counted() -> None:
    s = from_iterable(["1", "x", "2"]) | parse(int)
    with anyio.fail_after(30):
        a = await s.start(keep=True)
        b = await s.start(keep=True)
        await a.wait()
        await b.wait()
    assert a.items == b.items == [1, 2]
    assert a.stats()["parse"].dropped == {"malformed": 1}


async def test_bad_flags_name_the_argument() -> None:
    s = from_iterable([1])
    with pytest.raises(TypeError, match=r"start\(\): keep must be True or False, got 'yes'"):
        await s.start(keep="yes")  # type: ignore[arg-type]
