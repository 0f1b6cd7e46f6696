"""Hooks an outer layer registers into the core, so the core imports nothing outward.

The core (``anystream._core``) must not import ``anystream.observe`` and the other outer
layers (issue 19; ``tools/check_layers.py`` enforces it), not even lazily inside a
function. Where a core feature is implemented outside, the outer side registers a
callable here and the core calls it.

``progress``
    ``stream.stream(progress=True)``: a callable taking the :class:`~anystream.Run` and
    returning the async context manager that shows the live table. ``anystream``'s
    ``__init__`` registers one that imports ``anystream.observe.progress`` when first
    called (the parent package is always imported before the core, so it is in place
    before any run exists).

``background``
    ``await stream.start()``: a callable given each :class:`BackgroundRun` once it has
    started. ``anystream``'s ``__init__`` registers one that, inside a Jupyter kernel,
    makes the kernel's shutdown abort the runs still going first
    (``anystream.observe._ipykernel_asyncio``).

This module imports only the standard library: ``import anystream`` loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

__all__ = [
    "ProgressFactory",
    "background_started",
    "progress_view",
    "register_background",
    "register_progress",
]

ProgressFactory = Callable[[Any], AbstractAsyncContextManager[Any]]

_progress: ProgressFactory | None = None


def register_progress(factory: ProgressFactory) -> None:
    """Make ``factory(run)`` the view ``stream(progress=True)`` enters around the run."""
    global _progress
    if not callable(factory):
        raise TypeError(f"register_progress(): factory must be callable, got {factory!r}")
    _progress = factory


def progress_view(run: Any) -> AbstractAsyncContextManager[Any]:
    """The progress view of ``run``, made by the registered factory."""
    if _progress is None:
        raise RuntimeError(
            "stream(progress=True): no progress view is registered "
            "(anystream's __init__ registers anystream.observe.progress.show_progress)"
        )
    return _progress(run)


_background: Callable[[Any], None] | None = None


def register_background(watcher: Callable[[Any], None]) -> None:
    """Make ``watcher(handle)`` run for every background run once it has started."""
    global _background
    if not callable(watcher):
        raise TypeError(f"register_background(): watcher must be callable, got {watcher!r}")
    _background = watcher


def background_started(handle: Any) -> None:
    """Tell the registered watcher (if any) that ``handle`` has started."""
    if _background is not None:
        _background(handle)
