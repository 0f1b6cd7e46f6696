"""``Owned``: an inner async context held open across an owner's ``__aenter__`` / ``__aexit__``.

The inner context must see what an ``async with`` around the owner's block would show
it: the block's exception, its own suppression honoured, its own errors propagated,
and nothing left open (or exited twice) when the owner's entry fails.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import anyio
import pytest

from anystream._core.owned import Owned

pytestmark = pytest.mark.anyio


class Inner:
    """An async context manager that records what its exit was given."""

    def __init__(self, *, suppress: bool = False, fail_enter: bool = False) -> None:
        self.suppress = suppress
        self.fail_enter = fail_enter
        self.entered = 0
        self.exits: list[tuple[Any, Any, Any]] = []

    async def __aenter__(self) -> str:
        if self.fail_enter:
            raise OSError("cannot enter")
        self.entered += 1
        return "value"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.exits.append((exc_type, exc, tb))
        return self.suppress


class Owner:
    def __init__(self, inner: Inner) -> None:
        self.inner = inner
        self.owned = Owned()
        self.value: str | None = None

    async def __aenter__(self) -> Owner:
        self.value = await self.owned.enter(self.inner)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return await self.owned.exit(exc_type, exc, tb)


async def test_enter_returns_the_inner_value_and_exit_passes_no_exception() -> None:
    inner = Inner()
    async with Owner(inner) as owner:
        assert owner.value == "value"
        assert owner.owned.open
    assert not owner.owned.open
    assert inner.entered == 1
    assert inner.exits == [(None, None, None)]


async def test_the_blocks_exception_reaches_the_inner_exit_and_propagates() -> None:
    inner = Inner()
    with pytest.raises(KeyError) as caught:
        async with Owner(inner):
            raise KeyError("boom")
    ((exc_type, exc, tb),) = inner.exits
    assert exc_type is KeyError
    assert exc is caught.value
    assert tb is not None


async def test_the_inner_contexts_suppression_is_honoured() -> None:
    inner = Inner(suppress=True)
    async with Owner(inner):
        raise KeyError("swallowed")
    assert inner.exits[0][0] is KeyError


async def test_an_error_from_the_inner_exit_propagates() -> None:
    class Failing(Inner):
        async def __aexit__(self, *exc_info: Any) -> bool:
            raise RuntimeError("exit failed")

    with pytest.raises(RuntimeError, match="exit failed"):
        async with Owner(Failing()):
            pass


async def test_a_failed_enter_holds_nothing() -> None:
    owned = Owned()
    inner = Inner(fail_enter=True)
    with pytest.raises(OSError, match="cannot enter"):
        await owned.enter(inner)
    assert not owned.open
    assert await owned.exit() is False  # nothing to leave, nothing exited
    assert inner.exits == []


async def test_exit_and_fail_leave_once() -> None:
    owned = Owned()
    inner = Inner()
    await owned.enter(inner)
    error = ValueError("the owner's own setup failed")
    assert await owned.fail(error) is False
    assert inner.exits == [(ValueError, error, error.__traceback__)]
    assert await owned.exit() is False
    assert len(inner.exits) == 1


async def test_a_second_enter_while_open_is_refused() -> None:
    owned = Owned()
    await owned.enter(Inner())
    second = Inner()
    with pytest.raises(RuntimeError, match="already open"):
        await owned.enter(second)
    assert second.entered == 0
    await owned.exit()


async def test_holds_a_task_group_whose_tasks_run_in_the_owners_block() -> None:
    owned = Owned()
    done = anyio.Event()
    tg = await owned.enter(anyio.create_task_group())

    async def task() -> None:
        done.set()

    tg.start_soon(task)
    await done.wait()
    # No exception to suppress; what the task group answers then differs by backend.
    await owned.exit()
    assert not owned.open
