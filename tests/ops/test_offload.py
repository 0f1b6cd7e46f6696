"""map_thread and map_process: results, order, bounds, errors, cancellation, worker death.

Thread and process tests use the real clock: a virtual clock would jump ahead while a
worker runs, since nothing in the event loop is busy. Process tests keep to a few items
and tiny functions: each event loop starts its own workers (~50 ms each).
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from anyio import BrokenWorkerProcess
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import from_iterable, map_process, map_thread, take

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]


# -- functions run in workers (module level: map_process pickles them by reference) ---------


def square(x: int) -> int:
    return x * x


def jittery_square(x: int) -> int:
    """Finish out of order: later items are often faster than earlier ones."""
    time.sleep(0.002 * (3 - x % 4))
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def die(x: int) -> int:
    os._exit(1)


def die_on_two(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x


def interrupt_self(x: int) -> int:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the signal would have been delivered by now
    return x


def exit_three(x: int) -> int:
    sys.exit(3)


def sleep_then(seconds: float, x: int) -> int:
    time.sleep(seconds)
    return x


def worker_pid(x: int) -> int:
    return os.getpid()


class Unpicklable(Exception):
    def __init__(self, lock: Any) -> None:
        super().__init__("carries a lock")
        self.lock = lock

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this")


def raise_unpicklable(x: int) -> int:
    raise Unpicklable(threading.Lock())


# -- helpers ------------------------------------------------------------------------------


class Tracker:
    """Counts concurrent calls of a function running in threads."""

    def __init__(self, delay: float = 0.01) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.delay = delay

    def __call__(self, x: int) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.active -= 1
        return x


def closing_source(n: int, closed: list[str]) -> Any:
    async def gen() -> AsyncIterator[int]:
        try:
            for i in range(n):
                yield i
        finally:
            closed.append("closed")

    return from_iterable(gen())


# -- map_thread -----------------------------------------------------------------------------


async def test_map_thread_ordered_keeps_input_order() -> None:
    result = await (from_iterable(range(40)) | map_thread(jittery_square, workers=4)).collect()
    assert result == [x * x for x in range(40)]


async def test_map_thread_unordered_emits_every_result() -> None:
    op = map_thread(jittery_square, workers=4, ordered=False)
    result = await (from_iterable(range(40)) | op).collect()
    assert sorted(result) == [x * x for x in range(40)]


async def test_map_thread_runs_in_other_threads() -> None:
    main = threading.get_ident()
    idents = await (from_iterable(range(5)) | map_thread(lambda _: threading.get_ident())).collect()
    assert main not in idents


def sleep_and_tag(item: tuple[int, float]) -> int:
    index, delay = item
    time.sleep(delay)
    return index


@settings(max_examples=15, deadline=None)
@given(
    delays=st.lists(st.sampled_from([0.0, 0.0005, 0.002]), max_size=30),
    workers=st.integers(min_value=1, max_value=4),
    ordered=st.booleans(),
)
async def test_map_thread_property_order_and_bound(
    delays: list[float], workers: int, ordered: bool
) -> None:
    # Any mix of call durations: ordered output is the input order, unordered is a
    # permutation, and the stage never holds more than its bound.
    items = list(enumerate(delays))
    bound = 2 * workers if ordered else workers
    stream = from_iterable(items) | map_thread(sleep_and_tag, workers=workers, ordered=ordered)
    out = []
    async with stream.stream() as run:
        async for index in run:
            stats = run.stats()[1]
            assert stats.received - stats.emitted <= bound
            out.append(index)
    if ordered:
        assert out == list(range(len(delays)))
    else:
        assert sorted(out) == list(range(len(delays)))


@pytest.mark.parametrize("ordered", [True, False])
async def test_map_thread_runs_up_to_workers_calls_at_once(ordered: bool) -> None:
    tracker = Tracker()
    stream = from_iterable(range(30)) | map_thread(tracker, workers=3, ordered=ordered)
    assert sorted(await stream.collect()) == list(range(30))
    assert tracker.peak == 3


@pytest.mark.parametrize(("ordered", "bound"), [(True, 2 * 3), (False, 3)])
async def test_map_thread_holds_a_bounded_number_of_items(ordered: bool, bound: int) -> None:
    # A slow consumer: the stage fills up and must stop taking input.
    held = []
    stream = from_iterable(range(60)) | map_thread(square, workers=3, ordered=ordered)
    async with stream.stream() as run:
        consumed = 0
        async for _ in run:
            consumed += 1
            # Taken in by the stage and not yet delivered (the item in the consumer's
            # hand is delivered). A result blocked in its hand-off counts as emitted in
            # the stats, as everywhere in the runner, so count from the consumer's side.
            held.append(run.stats()["map_thread"].received - consumed)
            await anyio.sleep(0.005)
    assert max(held) <= bound
    # The workers did run ahead of the consumer (not necessarily all three at the same
    # moment on a loaded machine: the threads are real).
    assert max(held) >= 2


async def test_map_thread_error_propagates_as_itself_with_note_and_traceback() -> None:
    closed: list[str] = []
    stream = closing_source(10, closed) | map_thread(fail_on_three, workers=2)
    with pytest.raises(ValueError, match="bad item 3") as info:
        await stream.collect()
    assert any("map_thread(fail_on_three)" in note for note in info.value.__notes__)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "fail_on_three" in frames  # the original frame in the worker thread
    assert closed == ["closed"]


async def test_map_thread_early_exit_closes_upstream() -> None:
    closed: list[str] = []
    stream = closing_source(1000, closed) | map_thread(square, workers=2) | take(3)
    assert await stream.collect() == [0, 1, 4]
    assert closed == ["closed"]


async def test_map_thread_break_closes_upstream() -> None:
    closed: list[str] = []
    async with (closing_source(1000, closed) | map_thread(square, workers=2)).stream() as run:
        async for item in run:
            if item == 4:
                break
    assert closed == ["closed"]


@pytest.mark.parametrize("make", [map_thread, map_process])
async def test_graceful_stop_drains_every_item_taken_in(make: Any) -> None:
    # stop() cancels nothing in the stage: what it took in is computed and emitted.
    seen = []
    stream = from_iterable(itertools.count()) | make(square, workers=2)
    async with stream.stream() as run:
        async for item in run:
            seen.append(item)
            if len(seen) == 5:
                run.stop()
    stats = run.stats()[1]
    assert stats.received == stats.emitted == len(seen) >= 5
    assert seen == [x * x for x in range(len(seen))]


async def test_map_thread_waits_for_running_calls_on_cancel_by_default() -> None:
    finished = threading.Event()

    def slow(x: int) -> int:
        time.sleep(0.2)
        finished.set()
        return x

    with anyio.move_on_after(0.05):
        await (from_iterable([1]) | map_thread(slow, workers=1)).collect()
    # Leaving the cancelled run waited for the call: no user code is still running.
    assert finished.is_set()


async def test_map_thread_abandon_on_cancel_returns_at_once() -> None:
    release = threading.Event()
    finished = threading.Event()

    def blocked(x: int) -> int:
        release.wait(5)
        finished.set()
        return x

    start = time.monotonic()
    with anyio.move_on_after(0.05):
        await (from_iterable([1]) | map_thread(blocked, abandon_on_cancel=True)).collect()
    assert time.monotonic() - start < 2
    assert not finished.is_set()  # still running, unobserved
    release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 5)


async def test_map_thread_rejects_a_function_returning_a_coroutine() -> None:
    async def double(x: int) -> int:
        return 2 * x

    # trio detects it itself, with its own message; asyncio needs our check.
    with pytest.raises(TypeError, match=r"returned a coroutine|appears to be asynchronous") as info:
        await (from_iterable([1]) | map_thread(lambda x: double(x))).collect()
    assert any("map_thread" in note for note in info.value.__notes__)


def test_map_thread_argument_checks() -> None:
    async def coro(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="fn must be callable"):
        map_thread(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn is a coroutine function"):
        map_thread(coro)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        map_thread(square, workers=0)
    with pytest.raises(TypeError, match="workers must be an int"):
        map_thread(square, workers=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ordered must be True or False"):
        map_thread(square, ordered="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="abandon_on_cancel must be True or False"):
        map_thread(square, abandon_on_cancel=1)  # type: ignore[arg-type]


# -- map_process ----------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [True, False])
async def test_map_process_results(ordered: bool) -> None:
    stream = from_iterable(range(12)) | map_process(square, workers=2, ordered=ordered)
    result = await stream.collect()
    if ordered:
        assert result == [x * x for x in range(12)]
    else:
        assert sorted(result) == [x * x for x in range(12)]


async def test_map_process_runs_in_other_processes() -> None:
    pids = await (from_iterable(range(6)) | map_process(worker_pid, workers=2)).collect()
    assert os.getpid() not in pids
    assert len(set(pids)) <= 2


async def test_map_process_accepts_a_partial() -> None:
    op = map_process(functools.partial(sleep_then, 0.0), workers=1)
    assert await (from_iterable([5, 6]) | op).collect() == [5, 6]


async def test_map_process_error_keeps_the_worker_traceback() -> None:
    closed: list[str] = []
    stream = closing_source(6, closed) | map_process(fail_on_three, workers=2)
    with pytest.raises(ValueError, match="bad item 3") as info:
        await stream.collect()
    assert any("map_process(fail_on_three)" in note for note in info.value.__notes__)
    remote = info.value.__cause__
    assert remote is not None
    assert 'in fail_on_three\n    raise ValueError(f"bad item {x}")' in str(remote)
    assert closed == ["closed"]


async def test_map_process_unpicklable_exception_arrives_as_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="Unpicklable: carries a lock") as info:
        await (from_iterable([1]) | map_process(raise_unpicklable, workers=1)).collect()
    assert "raise_unpicklable" in str(info.value.__cause__)


async def test_map_process_sys_exit_in_fn_does_not_exit_the_parent() -> None:
    with pytest.raises(RuntimeError, match=r"fn raised SystemExit\(3\) in a worker process"):
        await (from_iterable([1]) | map_process(exit_three, workers=1)).collect()


async def test_map_process_dead_worker_is_a_clear_error() -> None:
    with pytest.raises(BrokenWorkerProcess, match=r"map_process\(die\): the worker process") as e:
        await (from_iterable([1]) | map_process(die, workers=2)).collect()
    assert "died before returning a result" in str(e.value)
    assert any("map_process(die)" in note for note in e.value.__notes__)


async def test_map_process_dead_worker_mid_stream() -> None:
    closed: list[str] = []
    stream = closing_source(6, closed) | map_process(die_on_two, workers=2)
    with pytest.raises(BrokenWorkerProcess, match="died before returning a result"):
        await stream.collect()
    assert closed == ["closed"]
    # The pool is usable afterwards: the dead worker was replaced.
    assert await (from_iterable([1, 2]) | map_process(square, workers=2)).collect() == [1, 4]


async def test_map_process_workers_ignore_sigint() -> None:
    # A Ctrl-C reaches the whole process group; a call in progress must not fail.
    assert await (from_iterable([7]) | map_process(interrupt_self, workers=1)).collect() == [7]


async def test_map_process_kill_on_cancel_does_not_wait_for_the_call() -> None:
    op = map_process(functools.partial(sleep_then, 30.0), workers=1, kill_on_cancel=True)
    start = time.monotonic()
    with anyio.move_on_after(1.0):
        await (from_iterable([1]) | op).collect()
    assert time.monotonic() - start < 10


async def test_map_process_early_exit_closes_upstream() -> None:
    closed: list[str] = []
    stream = closing_source(100, closed) | map_process(square, workers=2) | take(2)
    assert await stream.collect() == [0, 1]
    assert closed == ["closed"]


def test_map_process_argument_checks() -> None:
    def nested(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"fn must be picklable .*<lambda> is not"):
        map_process(lambda x: x)
    with pytest.raises(TypeError, match="fn must be picklable"):
        map_process(nested)
    with pytest.raises(TypeError, match="fn must be callable"):
        map_process("square")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be >= 1"):
        map_process(square, workers=0)
    with pytest.raises(TypeError, match="kill_on_cancel must be True or False"):
        map_process(square, kill_on_cancel=None)  # type: ignore[arg-type]


def test_map_process_operator_is_reusable_and_picklable_fn_checked_once() -> None:
    op = map_process(square)
    assert "map_process(square)" in repr(op)
    pickle.dumps(square)


# -- process-level behaviour: run in fresh interpreters ----------------------------------------


def _run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # This directory on the path, so that the script can import this module's functions.
    path = os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("abandon", [False, True])
def test_no_thread_keeps_the_program_alive_after_an_abort(abandon: bool) -> None:
    # The consumer leaves while a 0.3 s call runs. The program must then exit cleanly once
    # that call has returned (no hang, no "loop is closed" error from the thread).
    result = _run_script(
        f"""
        import time, anyio
        from anystream import from_iterable, map_thread

        def slow(x):
            time.sleep(0.3)
            return x

        async def main():
            op = map_thread(slow, workers=2, abandon_on_cancel={abandon})
            async with (from_iterable(range(100)) | op).stream() as run:
                async for item in run:
                    break

        for backend in ("asyncio", "trio"):
            anyio.run(main, backend=backend)
        print("done")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert result.stderr == ""


def test_worker_processes_end_with_the_event_loop() -> None:
    result = _run_script(
        """
        import os, time, anyio
        from anystream import from_iterable, map_process
        from test_offload import worker_pid

        async def main():
            return await (from_iterable(range(6)) | map_process(worker_pid, workers=2)).collect()

        if __name__ == "__main__":
            for backend in ("asyncio", "trio"):
                pids = set(anyio.run(main, backend=backend))
                deadline = time.monotonic() + 5
                alive = pids
                while alive and time.monotonic() < deadline:
                    alive = set()
                    for pid in pids:
                        try:
                            os.kill(pid, 0)
                        except ProcessLookupError:
                            continue
                        alive.add(pid)
                    time.sleep(0.05)
                print(backend, "alive" if alive else "gone")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["asyncio", "gone", "trio", "gone"]
