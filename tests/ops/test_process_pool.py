"""map_process's own process pool (ops/_process_pool.py, ops/_process_worker.py).

Pipelining, worker death with calls queued, reuse and retirement of workers, large items
and results, the worker's stdin/stdout, the main script as ``__mp_main__``, and what is
left after an aborted run. The behaviour map_process documents is in test_offload.py.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import BrokenWorkerProcess

import anystream.ops.offload as offload
from anystream import from_iterable, map_process, take
from anystream.ops import _process_pool
from anystream.ops._process_worker import requests_waiting

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]


# -- functions run in workers (module level: pickled by reference) --------------------------


def saw_next_request(x: int) -> bool:
    """For item 0: whether the next request reached this worker while it ran (<= 10 s)."""
    if x != 0:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if requests_waiting():
            return True
        time.sleep(0.001)
    return False


def die_with_next_queued(x: int) -> int:
    if x == 0:
        saw_next_request(x)
        os._exit(7)
    return x


def worker_pid(x: int) -> int:
    return os.getpid()


def slow_pid(x: int) -> int:
    time.sleep(0.02)  # long enough that every worker of the run gets a call
    return os.getpid()


def echo(x: Any) -> Any:
    return x


def chatty(x: int) -> int:
    # Neither may touch the protocol: stdout is the parent's, stdin is /dev/null.
    print("hello from the worker " * 100)
    sys.stdout.flush()
    os.write(1, b"raw bytes on fd 1\n")
    assert sys.stdin.read() == ""
    return x + 1


_LIST_FDS = (
    "import os\n"
    "fds = []\n"
    "for fd in range(3, 256):\n"
    "    try:\n"
    "        os.fstat(fd)\n"
    "    except OSError:\n"
    "        continue\n"
    "    fds.append(fd)\n"
    "print(*fds)\n"
)


def fds_a_grandchild_inherits(x: int) -> tuple[list[int], list[bool]]:
    """What a process spawned by ``fn`` without closing fds sees open beyond 0-2."""
    out = subprocess.run(
        [sys.executable, "-c", _LIST_FDS],
        close_fds=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    from anystream.ops import _process_worker

    served = _process_worker._served  # pyright: ignore[reportPrivateUsage]
    assert served is not None
    return [int(fd) for fd in out.split()], [os.get_inheritable(served[0])]


def identity_len(data: bytes) -> int:
    return len(data)


def make_bytes(n: int) -> bytes:
    return b"x" * n


# -- pipelining ---------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [True, False])
async def test_next_request_is_queued_while_the_worker_computes(ordered: bool) -> None:
    # One worker: its first call sees the second request arrive before returning, so
    # the worker never waits for the parent between calls.
    op = map_process(saw_next_request, workers=1, ordered=ordered)
    result = await (from_iterable([0, 1]) | op).collect()
    assert sorted(result) == [False, True]


@pytest.mark.parametrize("ordered", [True, False])
async def test_warm_workers_pipeline_too(ordered: bool) -> None:
    # Workers already started (a later run in the same event loop): nothing suspends the
    # stage between its first and second request, and the second still goes out at once.
    assert await (from_iterable([5, 6]) | map_process(echo, workers=1)).collect() == [5, 6]
    for _ in range(2):
        op = map_process(saw_next_request, workers=1, ordered=ordered)
        with anyio.fail_after(5):
            result = await (from_iterable([0, 1]) | op).collect()
        assert sorted(result) == [False, True]


async def test_results_flow_while_the_input_waits() -> None:
    # The source produces the next item only once the previous result is out: the stage
    # must not hold a result back until more input arrives.
    got = [anyio.Event() for _ in range(4)]
    results: list[int] = []

    async def source() -> Any:
        for i in range(4):
            yield i
            with anyio.fail_after(10):
                await got[i].wait()

    stream = from_iterable(source()) | map_process(echo, workers=2, ordered=False)
    async with stream.stream() as run:
        async for value in run:
            results.append(value)
            got[value].set()
    assert results == [0, 1, 2, 3]


async def test_at_most_two_calls_in_flight_per_worker() -> None:
    stream = from_iterable(range(40)) | map_process(echo, workers=1, ordered=False)
    held = []
    async with stream.stream() as run:
        async for _ in run:
            stats = run.stats()[1]
            held.append(stats.received - stats.emitted)
            await anyio.sleep(0.002)
    assert max(held) <= 2


@pytest.mark.parametrize(("ordered", "bound"), [(True, 4 * 2), (False, 2 * 2)])
async def test_map_process_holds_a_bounded_number_of_items(ordered: bool, bound: int) -> None:
    # A slow consumer: the stage fills up (two calls in flight per worker, and ordered,
    # as many finished results waiting) and must stop taking input.
    stream = from_iterable(range(80)) | map_process(echo, workers=2, ordered=ordered)
    held = []
    async with stream.stream() as run:
        consumed = 0
        async for _ in run:
            consumed += 1
            held.append(run.stats()["map_process"].received - consumed)
            await anyio.sleep(0.005)
    assert max(held) <= bound
    assert max(held) >= 2  # the workers did run ahead of the consumer


# -- worker death ----------------------------------------------------------------------------


async def test_death_with_a_call_queued_fails_the_run_clearly() -> None:
    op = map_process(die_with_next_queued, workers=1)
    with anyio.fail_after(30):  # never a hang
        with pytest.raises(BrokenWorkerProcess, match="died before returning a result") as info:
            await (from_iterable(range(6)) | op).collect()
    assert "exit code 7" in str(info.value)
    assert any("map_process(die_with_next_queued)" in n for n in info.value.__notes__)
    # The pool is usable afterwards.
    assert await (from_iterable([1, 2, 3]) | map_process(echo, workers=1)).collect() == [1, 2, 3]


async def test_an_idle_worker_killed_from_outside_is_replaced() -> None:
    pids = set(await (from_iterable(range(4)) | map_process(worker_pid, workers=1)).collect())
    (pid,) = pids
    os.kill(pid, 9)
    await anyio.sleep(0.1)
    again = await (from_iterable(range(4)) | map_process(worker_pid, workers=1)).collect()
    assert pid not in again


# -- reuse ---------------------------------------------------------------------------------


async def test_workers_are_reused_across_runs_in_one_event_loop() -> None:
    first = set(await (from_iterable(range(8)) | map_process(worker_pid, workers=2)).collect())
    second = set(await (from_iterable(range(8)) | map_process(worker_pid, workers=2)).collect())
    assert second <= first
    # Another operator (another function) in the same loop uses the same workers.
    third = await (from_iterable(range(8)) | map_process(worker_pid, workers=1)).collect()
    assert set(third) <= first


async def test_concurrent_stages_use_separate_workers() -> None:
    async def run() -> set[int]:
        return set(await (from_iterable(range(6)) | map_process(worker_pid, workers=1)).collect())

    results: list[set[int]] = []

    async def collect_into() -> None:
        results.append(await run())

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect_into)
        tg.start_soon(collect_into)
    assert len(results) == 2
    assert results[0].isdisjoint(results[1])


async def test_idle_workers_are_retired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_process_pool, "IDLE_LIMIT", 0.0)
    first = set(await (from_iterable(range(4)) | map_process(slow_pid, workers=2)).collect())
    assert len(first) == 2
    # The most recently used idle worker is taken; the other one has been idle too long.
    second = set(await (from_iterable(range(4)) | map_process(slow_pid, workers=1)).collect())
    assert second < first
    pool = _process_pool.current_pool()
    assert {w.process.pid for w in pool.workers} == second
    assert [w.process.pid for w in pool.idle] == list(second)


# -- payloads and the worker's standard streams -----------------------------------------------


async def test_large_items_and_results() -> None:
    # Larger than a pipe's buffer both ways: no deadlock between a worker writing a large
    # response and the parent writing a large request.
    sizes = [10, 3 << 20, 5, 2 << 20, 70_000]
    op = map_process(identity_len, workers=2)
    assert await (from_iterable([b"y" * n for n in sizes]) | op).collect() == sizes
    op2 = map_process(make_bytes, workers=2)
    out = await (from_iterable(sizes) | op2).collect()
    assert [len(b) for b in out] == sizes


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_mix_of_small_and_large_items(ordered: bool) -> None:
    # Small requests are pipelined, large ones go to idle workers, in any interleaving;
    # no two writers ever share a worker's pipe.
    rng = random.Random(6)
    sizes = [rng.choice([1, 100, 3000, 5000, 70_000, 300_000]) for _ in range(80)]
    op = map_process(identity_len, workers=3, ordered=ordered)
    with anyio.fail_after(60):
        result = await (from_iterable([b"z" * n for n in sizes]) | op).collect()
    assert result == sizes if ordered else sorted(result) == sorted(sizes)


async def test_print_and_stdin_in_fn_do_not_disturb_the_protocol(
    capfd: pytest.CaptureFixture[str],
) -> None:
    result = await (from_iterable(range(5)) | map_process(chatty, workers=2)).collect()
    assert result == [1, 2, 3, 4, 5]
    assert "hello from the worker" in capfd.readouterr().out


async def test_a_process_fn_spawns_does_not_inherit_the_protocol_pipes() -> None:
    with anyio.fail_after(60):
        result = await (from_iterable([0]) | map_process(fds_a_grandchild_inherits)).collect()
    [(fds, inheritable)] = result
    assert fds == []
    assert inheritable == [False]


async def test_unpicklable_item_is_an_error_naming_the_operator() -> None:
    with pytest.raises(Exception, match="pickle") as info:
        await (from_iterable([lambda: 1]) | map_process(echo, workers=1)).collect()
    assert any("map_process(echo)" in n for n in info.value.__notes__)


async def test_the_anyio_pool_path_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    # Platforms without POSIX pipes for the pool (Windows) use anyio.to_process.
    monkeypatch.setattr(offload, "_PIPELINED", False)
    op = map_process(echo, workers=2)
    assert await (from_iterable(range(6)) | op).collect() == list(range(6))


# -- process-level behaviour: fresh interpreters -------------------------------------------


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_function_of_the_main_script_runs_in_workers(tmp_path: Path) -> None:
    # The worker imports the script as __mp_main__ (its main block does not run again).
    script = tmp_path / "pipeline_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import anyio
            from anystream import from_iterable, map_process

            def triple(x):
                return 3 * x

            print("imported as", __name__)

            async def main():
                return await (from_iterable(range(5)) | map_process(triple, workers=2)).collect()

            if __name__ == "__main__":
                for backend in ("asyncio", "trio"):
                    print(backend, anyio.run(main, backend=backend))
            """
        )
    )
    result = _run([str(script)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "asyncio [0, 3, 6, 9, 12]" in lines
    assert "trio [0, 3, 6, 9, 12]" in lines
    assert lines.count("imported as __main__") == 1
    # Once per worker. The workers print at the same time, so their lines may interleave
    # ("imported asimported as __mp_main__"): look for the name, not for a whole line.
    assert "__mp_main__" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("kill", [False, True])
def test_an_aborted_run_leaves_no_process_after_the_loop(kill: bool) -> None:
    # The consumer leaves while calls are in flight; after the event loop ends no worker
    # is alive, and nothing is printed (no warning from asyncio's child watcher).
    result = _run(
        [
            "-c",
            textwrap.dedent(
                f"""
                import os, time, anyio
                from anystream import from_iterable, map_process, take
                from test_process_pool import worker_pid

                def alive(pids):
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        left = set()
                        for pid in pids:
                            try:
                                os.kill(pid, 0)
                            except ProcessLookupError:
                                continue
                            left.add(pid)
                        if not left:
                            return set()
                        time.sleep(0.05)
                    return left

                async def main():
                    op = map_process(worker_pid, workers=2, kill_on_cancel={kill})
                    pids = set()
                    async with (from_iterable(range(1000)) | op).stream() as run:
                        async for pid in run:
                            pids.add(pid)
                            if len(pids) == 2:
                                break
                    return pids

                for backend in ("asyncio", "trio", "asyncio", "trio"):
                    pids = anyio.run(main, backend=backend)
                    print(backend, len(pids), "alive" if alive(pids) else "gone")
                """
            ),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["asyncio", "2", "gone", "trio", "2", "gone"] * 2
    assert result.stderr == ""


async def test_workers_drain_and_are_reused_after_an_aborted_run() -> None:
    # take() ends the run while calls are in flight: the stage waits for them and the
    # workers go back to the pool, in step with their pipes.
    first = set(await (from_iterable(range(6)) | map_process(slow_pid, workers=2)).collect())
    stopped = await (
        from_iterable(range(100)) | map_process(slow_pid, workers=2) | take(3)
    ).collect()
    assert set(stopped) <= first
    again = await (from_iterable(range(6)) | map_process(slow_pid, workers=2)).collect()
    assert set(again) == first
