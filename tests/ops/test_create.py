"""Tests for the create family: sources that make a Stream from something else.

Every async test runs on asyncio and trio on a virtual clock (the project's pytest plugin);
time assertions are exact, measured from ``anyio.current_time()`` at the test's start.
Tests that wait on real threads (pipes, stdin) run on the real clock.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from anystream import (
    Stream,
    buffered,
    empty,
    from_iterable,
    from_lines,
    from_receive_stream,
    interval,
    just,
    never,
    range,
    repeat,
    take,
    timer,
)
from anystream import map as map_

pytestmark = pytest.mark.anyio

_range = __builtins__["range"] if isinstance(__builtins__, dict) else __builtins__.range


async def timed(stream: Stream[Any], start: float) -> list[tuple[float, Any]]:
    out = []
    async with stream.stream() as items:
        async for item in items:
            out.append((anyio.current_time() - start, item))
    return out


# -- from_iterable -------------------------------------------------------------------


async def test_from_iterable_sync_and_async() -> None:
    async def agen() -> AsyncIterator[int]:
        for i in _range(3):
            yield i

    assert await from_iterable([1, 2]).collect() == [1, 2]
    assert await from_iterable(agen()).collect() == [0, 1, 2]


def test_from_iterable_rejects_non_iterable() -> None:
    with pytest.raises(TypeError, match="iterable"):
        from_iterable(3)  # type: ignore[call-overload]


# -- range ---------------------------------------------------------------------------


async def test_range_like_builtin_and_rerunnable() -> None:
    for args in [(5,), (2, 7), (10, 0, -3), (0,), (3, 3)]:
        s = range(*args)
        expected = list(_range(*args))
        assert await s.collect() == expected
        assert await s.collect() == expected  # cold: runs again from the start


def test_range_bad_arguments_name_the_argument() -> None:
    with pytest.raises(TypeError, match="1 to 3 arguments"):
        range()
    with pytest.raises(TypeError, match="1 to 3 arguments"):
        range(1, 2, 3, 4)
    with pytest.raises(TypeError, match="stop must be an int"):
        range(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="step must be an int"):
        range(0, 5, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="start must be an int"):
        range(True, 5)
    with pytest.raises(ValueError, match="step must not be zero"):
        range(0, 5, 0)


async def test_range_early_exit() -> None:
    assert await (range(10**12) | take(3)).collect() == [0, 1, 2]


# -- just, empty, repeat ----------------------------------------------------------------


async def test_just_and_empty() -> None:
    assert await just(1, "a", None).collect() == [1, "a", None]
    assert await just().collect() == []
    assert await empty().collect() == []
    assert await (empty() | buffered(2)).collect() == []


async def test_repeat() -> None:
    assert await repeat("x", 3).collect() == ["x", "x", "x"]
    assert await repeat("x", 0).collect() == []
    s = repeat(7) | take(1000)
    assert await s.collect() == [7] * 1000
    assert await s.collect() == [7] * 1000  # an endless repeat is re-runnable too
    s2 = repeat(1, 2)
    assert await s2.collect() == [1, 1]
    assert await s2.collect() == [1, 1]


def test_repeat_bad_times() -> None:
    with pytest.raises(ValueError, match="times must be >= 0"):
        repeat(1, -1)
    with pytest.raises(TypeError, match="times must be an int"):
        repeat(1, 2.0)  # type: ignore[arg-type]


# -- interval, timer, never ---------------------------------------------------------------


async def test_interval_exact_times() -> None:
    start = anyio.current_time()
    got = await timed(interval(0.5) | take(4), start)
    assert got == [(0.5, 0), (1.0, 1), (1.5, 2), (2.0, 3)]


async def test_interval_does_not_drift() -> None:
    # 0.1 is not exact in binary: accumulating it would drift; deadlines are multiplied.
    start = anyio.current_time()
    got = await timed(interval(0.1) | take(1000), start)
    assert [n for _, n in got] == list(_range(1000))
    for t, n in got:
        assert t == pytest.approx((n + 1) * 0.1, abs=1e-9)


async def test_interval_slow_consumer_delays_but_keeps_schedule() -> None:
    # Consumer takes 0.25 s per item with period 1: always on time.
    # Consumer takes 2.5 s per item: items are late but none lost or renumbered,
    # and once the consumer is fast again the stream is back on its absolute schedule.
    start = anyio.current_time()
    got: list[tuple[float, int]] = []
    async with (interval(1.0) | take(8)).stream() as items:
        async for n in items:
            got.append((anyio.current_time() - start, n))
            if n < 2:
                await anyio.sleep(2.5)
    assert [n for _, n in got] == list(_range(8))
    times = [t for t, _ in got]
    assert times[0] == 1.0
    assert times[1] == 3.5  # due at 2.0, asked for at 3.5
    assert times[2] == 6.0  # due at 3.0, asked for at 6.0
    assert times[3:] == [6.0, 6.0, 6.0, 7.0, 8.0]  # overdue 4, 5, 6 at once; then on time


async def test_interval_rerun_counts_from_zero() -> None:
    s = interval(1) | take(2)
    assert await s.collect() == [0, 1]
    start = anyio.current_time()
    assert await timed(s, start) == [(1.0, 0), (2.0, 1)]


async def test_interval_graceful_stop_during_wait() -> None:
    start = anyio.current_time()
    got = []
    async with (interval(1.0) | buffered(0)).stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(3.5)
            run.stop()

        tg.start_soon(stopper)
        async for n in run:
            got.append(n)
    assert got == [0, 1, 2]
    assert anyio.current_time() - start == 3.5


def test_interval_and_timer_bad_arguments() -> None:
    with pytest.raises(ValueError, match="period must be > 0"):
        interval(0)
    with pytest.raises(TypeError, match="period must be a number"):
        interval("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delay must be >= 0"):
        timer(-1)
    with pytest.raises(ValueError, match="delay must be finite"):
        timer(float("inf"))


async def test_timer_exact_time() -> None:
    start = anyio.current_time()
    assert await timed(timer(2.5), start) == [(2.5, 0)]
    start = anyio.current_time()
    assert await timed(timer(0), start) == [(0.0, 0)]


async def test_timer_stop_before_it_fires() -> None:
    start = anyio.current_time()
    async with (timer(10) | buffered(0)).stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(1)
            run.stop()

        tg.start_soon(stopper)
        got = [x async for x in run]
    assert got == []
    assert anyio.current_time() - start == 1.0


async def test_never_is_stoppable_and_cancellable() -> None:
    start = anyio.current_time()
    with anyio.move_on_after(5):
        await never().collect()
    assert anyio.current_time() - start == 5.0
    async with (never() | buffered(0)).stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(2)
            run.stop()

        tg.start_soon(stopper)
        assert [x async for x in run] == []
    assert anyio.current_time() - start == 7.0


# -- from_receive_stream ----------------------------------------------------------------------


async def test_from_receive_stream_until_end_of_stream() -> None:
    tx, rx = anyio.create_memory_object_stream[int](0)

    async def produce() -> None:
        async with tx:
            for i in _range(5):
                await anyio.sleep(1)
                await tx.send(i)

    start = anyio.current_time()
    async with rx, anyio.create_task_group() as tg:
        tg.start_soon(produce)
        got = await timed(from_receive_stream(rx) | map_(lambda x: x * 10), start)
    assert got == [(1.0, 0), (2.0, 10), (3.0, 20), (4.0, 30), (5.0, 40)]


async def test_from_receive_stream_buffered_items() -> None:
    tx, rx = anyio.create_memory_object_stream[int](10)
    with tx, rx:
        for i in _range(10):
            tx.send_nowait(i)
        tx.close()
        assert await from_receive_stream(rx).collect() == list(_range(10))


async def test_from_receive_stream_early_exit_keeps_the_rest() -> None:
    tx, rx = anyio.create_memory_object_stream[int](10)
    with tx, rx:
        for i in _range(10):
            tx.send_nowait(i)
        assert await (from_receive_stream(rx) | take(3)).collect() == [0, 1, 2]
        # Nothing was lost in the receive stream beyond what the pipeline held in hand.
        rest = [rx.receive_nowait() for _ in _range(rx.statistics().current_buffer_used)]
        assert rest[-1] == 9
        assert len(rest) >= 5  # at most one item in hand per task (source, hop)


async def test_from_receive_stream_stop_loses_nothing() -> None:
    """A stop that races with an item arriving still delivers the item.

    The item arrives while the source waits, and in the same scheduling step the run
    is stopped, while the consumer is busy (so the hand-off downstream must wait).
    """
    tx, rx = anyio.create_memory_object_stream[int](0)
    got: list[int] = []
    sent: list[int] = []
    # buffered(0): one hop between source and consumer that holds an item in hand.
    pipeline = from_receive_stream(rx) | buffered(0)
    async with tx, rx, pipeline.stream() as run, anyio.create_task_group() as tg:

        async def produce() -> None:
            await tx.send(0)  # goes to the consumer, which is then busy for 1 s
            await tx.send(1)  # held by the hop between source and consumer
            sent.extend([0, 1])
            await anyio.sleep(0.5)
            tx.send_nowait(2)  # the source is waiting in receive(): handed over
            sent.append(2)
            run.stop()  # ... and the stop comes before the source task resumes

        tg.start_soon(produce)
        async for item in run:
            got.append(item)
            await anyio.sleep(1)  # busy: the source's send must wait
    assert sent == [0, 1, 2]
    assert got == [0, 1, 2]


async def test_from_receive_stream_stop_while_idle() -> None:
    tx, rx = anyio.create_memory_object_stream[int](0)
    start = anyio.current_time()
    # buffered(0): one hop between source and consumer that holds an item in hand.
    pipeline = from_receive_stream(rx) | buffered(0)
    async with tx, rx, pipeline.stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(2)
            run.stop()

        tg.start_soon(stopper)
        assert [x async for x in run] == []
    assert anyio.current_time() - start == 2.0


def test_from_receive_stream_bad_argument() -> None:
    with pytest.raises(TypeError, match="stream must be an anyio ObjectReceiveStream"):
        from_receive_stream([1, 2])  # type: ignore[arg-type]


# -- from_lines ----------------------------------------------------------------------------


async def test_from_lines_path(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"a\nb b\r\n\nlast")
    s = from_lines(path)
    assert await s.collect() == ["a", "b b", "", "last"]
    assert await from_lines(str(path)).collect() == ["a", "b b", "", "last"]
    path.write_text("x\ny\n")
    assert await s.collect() == ["x", "y"]  # cold: reopened per run


async def test_from_lines_large_file_and_early_exit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("".join(f"line {i}\n" for i in _range(50_000)))
    lines = await from_lines(path).collect()
    assert len(lines) == 50_000
    assert lines[0] == "line 0"
    assert lines[-1] == "line 49999"
    assert await (from_lines(path) | take(2)).collect() == ["line 0", "line 1"]


async def test_from_lines_open_files(tmp_path: Path) -> None:
    assert await from_lines(io.StringIO("1\n2\n")).collect() == ["1", "2"]
    assert await from_lines(io.BytesIO(b"1\r\n2")).collect() == [b"1", b"2"]
    path = tmp_path / "f.txt"
    path.write_text("p\nq\n")
    with path.open() as fp:
        assert await from_lines(fp).collect() == ["p", "q"]
        assert not fp.closed  # the caller owns it
    async with await anyio.open_file(path, "rb") as afp:
        assert await from_lines(afp).collect() == [b"p", b"q"]


def test_from_lines_bad_argument() -> None:
    with pytest.raises(TypeError, match="path_or_file must be a path"):
        from_lines(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="path_or_file must be a path"):
        from_lines(b"/tmp/x")  # type: ignore[call-overload]


async def test_from_lines_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await from_lines(tmp_path / "nope.txt").collect()


@pytest.mark.real_clock
async def test_from_lines_pipe_streams_lines_as_written() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as reader, os.fdopen(write_fd, "w") as writer:
        got = []
        async with from_lines(reader).stream() as items:
            writer.write("first\n")
            writer.flush()
            async for line in items:
                got.append(line)
                if line == "first":
                    writer.write("second\nthird\n")
                    writer.flush()
                elif line == "third":
                    writer.close()
        assert got == ["first", "second", "third"]


@pytest.mark.real_clock
async def test_from_lines_stdin_stop_while_nobody_types(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as fake_stdin, os.fdopen(write_fd, "w") as writer:
        monkeypatch.setattr(sys, "stdin", fake_stdin)
        writer.write("hello\n")
        writer.flush()
        got = []
        with anyio.fail_after(5):
            async with from_lines("-").stream(handle_signals=False) as run:
                async for line in run:
                    got.append(line)
                    run.stop()  # nothing more is written: the stop must not wait for a line
        assert got == ["hello"]
        # The reader thread is still blocked in readline(); let it see EOF and end.
        writer.close()
        await anyio.sleep(0.1)


# -- from_lines on a FIFO (issue 22): never an uninterruptible open() -----------------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()


async def _open_writer(path: Path) -> int:
    """The FIFO's write end, once a reader has it open (never blocks the event loop)."""
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            await anyio.sleep(0.01)


@needs_fifo
@pytest.mark.real_clock
async def test_from_lines_fifo_without_writer_is_cancelled_promptly(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = _open_fds()
    with anyio.fail_after(10):
        with anyio.move_on_after(0.3) as scope:
            await from_lines(fifo).collect()
        assert scope.cancelled_caught
        # Again through a stage of its own, stopped gracefully by another task.
        async with (
            anyio.create_task_group() as tg,
            (from_lines(fifo) | buffered(0)).stream() as run,
        ):
            tg.start_soon(_stop_later, run)
            assert [line async for line in run] == []
    assert _open_fds() == before  # the FIFO was closed both times


async def _stop_later(run: Any) -> None:
    await anyio.sleep(0.2)
    run.stop()


@needs_fifo
@pytest.mark.real_clock
async def test_from_lines_fifo_reads_a_writer_that_comes_later(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[str] = []

    async def write_later() -> None:
        await anyio.sleep(0.2)  # the reader has been waiting for a writer meanwhile
        fd = await _open_writer(fifo)
        try:
            # Pieces split a line, a two-byte character and a "\r\n" between writes.
            e_acute = "\u00e9".encode()
            for piece in (b"first\nsec", b"ond\r\nthi", b"rd " + e_acute[:1], e_acute[1:] + b"\r"):
                os.write(fd, piece)
                await anyio.sleep(0.05)
            os.write(fd, b"\nlast without newline")
        finally:
            os.close(fd)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(write_later)
            async with from_lines(fifo).stream() as items:
                async for line in items:
                    got.append(line)
    assert got == ["first", "second", "third \u00e9", "last without newline"]


@needs_fifo
@pytest.mark.real_clock
async def test_from_lines_fifo_long_lines_and_many_lines(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    long_line = "x" * 300_000  # several reads of the FIFO
    expected = [long_line, *(f"line {i}" for i in _range(20_000)), long_line + "y"]
    data = ("\n".join(expected) + "\n").encode()

    async def write() -> None:
        fd = await _open_writer(fifo)
        try:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    await anyio.wait_writable(fd)
        finally:
            os.close(fd)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            got = await from_lines(fifo).collect()
    assert got == expected


_FIFO_SCRIPT = """
import sys
import anyio
from anystream import from_lines

async def main() -> None:
    print("ready", flush=True)
    if sys.argv[3] == "handled":
        async with from_lines(sys.argv[1]).stream(handle_signals=True) as run:
            assert [line async for line in run] == []
        print("stopped", flush=True)
    else:
        await from_lines(sys.argv[1]).collect()

anyio.run(main, backend=sys.argv[2])
"""


@needs_fifo
@pytest.mark.parametrize("signals", ["handled", "unhandled"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.timeout(60)
def test_a_process_reading_a_fifo_without_writer_exits_on_sigint(
    tmp_path: Path, backend: str, signals: str
) -> None:
    import signal
    import subprocess

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _FIFO_SCRIPT, str(fifo), backend, signals],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        import time

        time.sleep(0.5)  # well inside the wait for a writer
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)  # before the fix: hung here for ever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if signals == "handled":
        assert proc.returncode == 0, err
        assert out == "stopped\n"
    else:
        assert proc.returncode != 0
        assert "KeyboardInterrupt" in err


async def test_core_stop_race_generator_source_loses_item() -> None:
    """CORE BUG (reported to the lead, not a create-family bug): the same race as above
    with an async generator source. The runner cancels the whole source scope on stop; an
    item the generator got just before is yielded into the fused loop, whose ``await
    send()`` downstream then raises Cancelled and the item is lost. Fix proposal in the
    report: cancel a scope around the ``anext()`` call only (a per-pull scope), so that a
    pull that already completed keeps its item and the send is not cancelled.
    """
    tx, rx = anyio.create_memory_object_stream[int](0)

    async def gen() -> AsyncIterator[int]:
        async for item in rx:
            yield item

    got: list[int] = []
    stream = from_iterable(gen()) | buffered(1)
    async with tx, rx, stream.stream() as run, anyio.create_task_group() as tg:

        async def produce() -> None:
            await tx.send(0)
            await tx.send(1)
            await anyio.sleep(0.5)
            tx.send_nowait(2)
            run.stop()

        tg.start_soon(produce)
        async for item in run:
            got.append(item)
            await anyio.sleep(1)
    assert got == [0, 1, 2]
