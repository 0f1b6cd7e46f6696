"""Tests for the virtual-clock infrastructure: the asyncio loop, the trio clock, the plugin.

Every async test runs on asyncio and trio through the plugin's ``anyio_backend`` fixture.
Time assertions are exact equalities: an autojumping clock lands on each deadline precisely,
so anything looser would hide a clock that drifts or jumps to the wrong timer.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import anyio
import pytest

import anystream
from anystream.testing import VirtualClockEventLoop, run
from anystream.testing.pytest_plugin import _require_trio

pytestmark = pytest.mark.anyio
pytest_plugins = ["pytester"]

# Generous bound for "took no real time": an un-jumped sleep would take 3600 s.
INSTANT = 30.0


async def test_clock_starts_at_zero() -> None:
    assert anyio.current_time() == 0.0


async def test_hour_long_sleep_is_instant_and_exact() -> None:
    start = anyio.current_time()
    real_start = time.monotonic()
    await anyio.sleep(3600)
    assert anyio.current_time() == start + 3600
    assert time.monotonic() - real_start < INSTANT


async def test_sleep_until_lands_on_deadline() -> None:
    await anyio.sleep_until(12.5)
    assert anyio.current_time() == 12.5


async def test_move_on_after_fires_at_exact_virtual_time() -> None:
    start = anyio.current_time()
    with anyio.move_on_after(5) as scope:
        await anyio.sleep(10)
    assert scope.cancelled_caught
    assert anyio.current_time() == start + 5


async def test_fail_after_fires_at_exact_virtual_time() -> None:
    start = anyio.current_time()
    with pytest.raises(TimeoutError), anyio.fail_after(2.5):
        await anyio.sleep(10)
    assert anyio.current_time() == start + 2.5


async def test_fail_after_does_not_fire_early() -> None:
    start = anyio.current_time()
    with anyio.fail_after(2.5):
        await anyio.sleep(2)
    assert anyio.current_time() == start + 2


async def test_concurrent_sleepers_wake_in_deadline_order() -> None:
    start = anyio.current_time()
    woken: list[tuple[float, float]] = []

    async def sleeper(delay: float) -> None:
        await anyio.sleep(delay)
        woken.append((delay, anyio.current_time() - start))

    async with anyio.create_task_group() as tg:
        for delay in (3.0, 1.0, 86_400.0 * 3, 2.0, 0.5):
            tg.start_soon(sleeper, delay)

    delays = sorted([3.0, 1.0, 86_400.0 * 3, 2.0, 0.5])
    assert woken == [(d, d) for d in delays]
    assert anyio.current_time() == start + delays[-1]


async def test_to_thread_works_under_virtual_clock() -> None:
    # No timer is pending, so the loop blocks on the real selector until the thread reports.
    start = anyio.current_time()
    ident = await anyio.to_thread.run_sync(threading.get_ident)
    assert ident != threading.get_ident()
    assert anyio.current_time() == start


async def test_memory_stream_receive_with_timeout() -> None:
    send, receive = anyio.create_memory_object_stream[str]()
    with send, receive:
        start = anyio.current_time()

        async def send_later() -> None:
            await anyio.sleep(1)
            await send.send("hello")

        async with anyio.create_task_group() as tg:
            tg.start_soon(send_later)
            with anyio.fail_after(5):
                assert await receive.receive() == "hello"
        assert anyio.current_time() == start + 1

        with anyio.move_on_after(3) as scope:
            await receive.receive()
        assert scope.cancelled_caught
        assert anyio.current_time() == start + 4


async def test_virtual_clock_is_installed(backend_name: str) -> None:
    if backend_name == "asyncio":
        import asyncio

        assert isinstance(asyncio.get_running_loop(), VirtualClockEventLoop)
    else:
        import trio.lowlevel
        import trio.testing

        assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


@pytest.mark.real_clock
async def test_real_clock_marker_sees_real_time(backend_name: str) -> None:
    real_start = time.monotonic()
    start = anyio.current_time()
    await anyio.sleep(0.05)
    # Small tolerance: asyncio may run a timer up to its clock resolution early.
    assert time.monotonic() - real_start >= 0.049
    assert anyio.current_time() - start >= 0.049
    if backend_name == "asyncio":
        import asyncio

        assert not isinstance(asyncio.get_running_loop(), VirtualClockEventLoop)


async def test_backend_ids_are_exactly_asyncio_and_trio(
    request: pytest.FixtureRequest, backend_name: str
) -> None:
    assert request.node.callspec.id == backend_name
    assert backend_name in {"asyncio", "trio"}


async def _sleep_and_report(seconds: float) -> float:
    await anyio.sleep(seconds)
    return anyio.current_time()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_helper_uses_virtual_clock(backend: Literal["asyncio", "trio"]) -> None:
    assert run(_sleep_and_report, 3600.0, backend=backend) == 3600.0


def test_run_helper_real_clock() -> None:
    real_start = time.monotonic()
    run(_sleep_and_report, 0.01, virtual_clock=False)
    assert time.monotonic() - real_start >= 0.009


def test_run_helper_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        run(_sleep_and_report, 1.0, backend="curio")  # type: ignore[arg-type]


def test_loop_closes_without_leaking() -> None:
    # -W error turns any ResourceWarning from an unclosed selector or socket into a failure.
    loop = VirtualClockEventLoop(start_time=100.0)
    try:
        assert loop.time() == 100.0
        assert loop.run_until_complete(_sleep_and_report(7)) == 107.0
    finally:
        loop.close()
    assert loop.is_closed()


def test_missing_trio_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)
    monkeypatch.setitem(sys.modules, "trio.testing", None)
    with pytest.raises(pytest.fail.Exception, match="trio cannot be imported"):
        _require_trio()


# End-to-end checks of the plugin's wiring, each in a fresh pytest subprocess: which
# anyio_backend fixture wins depends on plugin registration order, which only a real command
# line exercises.

INNER_TEST = """
import anyio
import pytest

@pytest.mark.anyio
async def test_inner():
    assert anyio.current_time() == 0.0
    await anyio.sleep(3600)
    assert anyio.current_time() == 3600.0
"""
PLUGIN = "anystream.testing.pytest_plugin"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Let the subprocess import the anystream under test, installed or not."""
    src = str(Path(anystream.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [src, os.getenv("PYTHONPATH")])))
    return pytester


def test_plugin_via_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_subprocess("-p", "anyio", "-p", PLUGIN)
    result.assert_outcomes(passed=2)


def test_plugin_via_root_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]")
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("args", [["-p", PLUGIN], ["-p", PLUGIN, "-p", "anyio"]])
def test_plugin_before_anyio_is_a_usage_error(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*loaded before anyio's pytest plugin*-p anyio -p " + PLUGIN])


def test_missing_trio_errors_instead_of_skipping(pytester: pytest.Pytester) -> None:
    # Simulate an environment without trio after anyio's plugin has started up.
    pytester.makeconftest(
        "import sys\nsys.modules['trio'] = None\nsys.modules['trio.testing'] = None"
    )
    pytester.makepyfile(INNER_TEST)
    result = pytester.runpytest_subprocess("-p", "anyio", "-p", PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*trio cannot be imported*anystream[[]trio[]]*"])
