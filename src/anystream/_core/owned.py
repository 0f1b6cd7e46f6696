"""``Owned``: an async context manager that an object keeps open across its own block.

A monitor holds a task group open from its ``__aenter__`` to its ``__aexit__``; a
progress display holds a monitor; ``open_aiostream`` holds a run. An ``async with``
cannot span two methods, so each of them drove the inner context by hand
(``await inner.__aenter__()`` ... ``return await inner.__aexit__(exc_type, exc, tb)``).
:class:`Owned` is that pairing, written once::

    async def __aenter__(self) -> Self:
        self._tg = await self._owned.enter(anyio.create_task_group())
        ...

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return await self._owned.exit(exc_type, exc, tb)

The inner context's own ``__aexit__`` is called with the outer block's exception and
its answer (suppress or not) is returned, so the inner context sees exactly what an
``async with`` around the owner's block would show it: no ``AsyncExitStack`` in between
rewrites exception contexts or adds frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["Owned"]

T = TypeVar("T")

_Exit = Callable[
    [type[BaseException] | None, BaseException | None, TracebackType | None],
    Awaitable[bool | None],
]


class Owned:
    """At most one open async context, entered by :meth:`enter`, left by :meth:`exit`."""

    __slots__ = ("_exit",)

    def __init__(self) -> None:
        self._exit: _Exit | None = None

    @property
    def open(self) -> bool:
        """Whether a context was entered and not yet left."""
        return self._exit is not None

    async def enter(self, context: AbstractAsyncContextManager[T, Any]) -> T:
        """Enter ``context`` and return what its ``__aenter__`` returns.

        If entering raises, nothing is held (as with ``async with``: a context whose
        ``__aenter__`` failed is not exited).
        """
        if self._exit is not None:
            raise RuntimeError("Owned.enter(): a context is already open; exit() it first")
        value = await context.__aenter__()
        self._exit = context.__aexit__
        return value

    async def exit(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> bool:
        """Leave the open context with the outer block's exception; True: it suppressed it.

        Does nothing (False) if no context is open, so an owner whose ``__aenter__``
        stopped early can call it unconditionally. Whatever the inner ``__aexit__``
        raises propagates.
        """
        leave, self._exit = self._exit, None
        if leave is None:
            return False
        return bool(await leave(exc_type, exc, tb))

    async def fail(self, error: BaseException) -> bool:
        """Leave the open context because of ``error`` (the owner's own ``__aenter__``
        failed after entering it): :meth:`exit` with ``error`` as the exception."""
        return await self.exit(type(error), error, error.__traceback__)
