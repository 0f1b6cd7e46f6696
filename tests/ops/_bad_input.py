"""The shape shared by the bad-input tables (``test_bad_input*.py``): rows and how one is run.

A row is either :class:`Refused` (building raises, and the message holds every word) or
:class:`Means` (building succeeds, and the pipeline has an exact output and, when given,
exact drop counts). :func:`check` runs a row under a virtual-clock timeout and a real-time
watchdog, so that a case which hangs fails instead of stalling the suite.
"""

from __future__ import annotations

import faulthandler
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from anystream import from_iterable

REAL_TIME_GUARD = 30.0  # seconds of wall time before the watchdog dumps stacks and exits
VIRTUAL_TIMEOUT = 60.0  # seconds on the (virtual) clock


@dataclass(frozen=True)
class Refused:
    """Building must raise ``error`` with every one of ``words`` in the message."""

    build: Callable[[], object]
    error: type[Exception]
    words: tuple[str, ...]


@dataclass(frozen=True)
class Means:
    """``items | build()`` collects ``expected`` (after ``shape``); drops, when given, exactly."""

    build: Callable[[], Any]
    items: tuple[Any, ...]
    expected: list[Any]
    shape: Callable[[Any], Any] = lambda x: x
    dropped: dict[str, int] | None = None


@contextmanager
def watchdog() -> Iterator[None]:
    """Dump every stack and exit if the block takes more than ``REAL_TIME_GUARD`` seconds."""
    faulthandler.dump_traceback_later(REAL_TIME_GUARD, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


async def check(case: Refused | Means) -> None:
    with watchdog():
        if isinstance(case, Refused):
            with pytest.raises(case.error) as info:
                case.build()
            message = str(info.value)
            for word in case.words:
                assert word in message, f"{word!r} missing from {message!r}"
            return
        s = from_iterable(list(case.items)) | case.build()
        with anyio.fail_after(VIRTUAL_TIMEOUT):
            got = await s.collect()
        assert [case.shape(x) for x in got] == case.expected
        if case.dropped is not None:
            dropped: dict[str, int] = {}
            for stats in s.stats().values():
                for reason, count in stats.dropped.items():
                    dropped[reason] = dropped.get(reason, 0) + count
            assert dropped == case.dropped


def check_names(cases: dict[str, Refused | Means]) -> None:
    """A refused row's words start with ``operator()``, so an unclear message cannot pass."""
    for case_id, case in cases.items():
        if isinstance(case, Refused):
            assert case.words[0].endswith("()"), case_id
