"""The trio side of :func:`anystream.observe.notebook.run_in_trio` (trio-specific).

One ``trio.run`` in a worker thread, started and cancelled from the host loop through
trio's thread-safe token. The only module of ``observe`` that names trio.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import anyio

__all__ = ["TrioCall", "import_trio"]


def import_trio() -> Any:
    try:
        import trio
    except ImportError as exc:  # pragma: no cover - trio is a dev dependency
        raise ModuleNotFoundError(
            "run_in_trio() needs trio: pip install 'anystream[trio]'"
        ) from exc
    return trio


class TrioCall:
    """One ``trio.run`` in a worker thread, cancellable from the host loop."""

    def __init__(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._lock = threading.Lock()
        self._token: Any = None
        self._scope: Any = None
        self._cancel_requested = False
        self._finished = False

    def run(self, trio_options: dict[str, Any]) -> Any:
        """The worker thread's body: run ``fn(*args)`` on a fresh trio loop."""
        trio = import_trio()
        try:
            return trio.run(self._main, **trio_options)
        finally:
            with self._lock:
                self._finished = True

    async def _main(self) -> Any:
        trio = import_trio()
        result = None
        with trio.CancelScope() as scope:
            with self._lock:
                self._token = trio.lowlevel.current_trio_token()
                self._scope = scope
                if self._cancel_requested:
                    scope.cancel()
            result = await self._fn(*self._args)
        # When the host cancelled us, result is None: the host raises its own
        # cancellation once this thread is done, so nobody sees it.
        return result

    def cancel(self) -> None:
        """Ask the trio side to cancel (thread-safe; a no-op once trio has finished)."""
        with self._lock:
            self._cancel_requested = True
            if self._finished or self._token is None:
                return
            token, scope = self._token, self._scope
            # trio.RunFinishedError: trio finished between our check and this call.
            with suppress(Exception):
                token.run_sync_soon(scope.cancel)

    async def cancel_when_cancelled(self) -> None:
        """Sleep until cancelled (the host task was), then cancel the trio side."""
        try:
            await anyio.sleep_forever()
        finally:
            self.cancel()
