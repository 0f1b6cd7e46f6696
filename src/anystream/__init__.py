"""anystream: composable async stream operators on anyio, for asyncio and trio.

::

    from anystream import from_iterable, parse, where, map

    s = from_iterable(["1", "x", "3", "7"]) | parse(int) | where(lambda n: n > 1)
    assert await (s | map(lambda n: n * 10)).collect() == [30, 70]

Each operator family lives in its own module under ``anystream.ops`` and lists its
public names in ``__all__``; this module re-exports them all, with the core types.

The re-exports are *lazy*: a name's module is imported the first time the name is
used (PEP 562 ``__getattr__``, as anyio does), so ``import anystream`` costs about
what ``import anyio`` costs and a script that uses three operators does not import the
machinery of the other sixty. ``tests/test_namespace.py`` checks that this table
matches every family's ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core import hooks as _hooks

__version__ = "0.1.0"

# name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "Operator": "._core.operator",
    "Pipeable": "._core.operator",
    "SameOperator": "._core.operator",
    "operator": "._core.operator",
    "Run": "._core.runner",
    "Aborted": "._core.shutdown",
    "OpStats": "._core.stats",
    "RunStats": "._core.stats",
    "StatsSnapshot": "._core.stats",
    "Stream": "._core.stream",
    "Acked": ".ops.delivery",
    "from_acked": ".ops.delivery",
    "DeadLetter": ".ops.errors",
    "DeadLetters": ".ops.errors",
    "IdempotentSink": ".resilience",
    "Retry": ".resilience",
    "SeenKeys": ".resilience",
    "retry": ".resilience",
    "Group": ".ops.aggregate",
    "GroupLimitExceeded": ".ops.aggregate",
    "count": ".ops.aggregate",
    "group_by": ".ops.aggregate",
    "reduce": ".ops.aggregate",
    "concat": ".ops.combine",
    "concat_with": ".ops.combine",
    "merge": ".ops.combine",
    "merge_with": ".ops.combine",
    "zip": ".ops.combine",
    "zip_latest": ".ops.combine",
    "ZippedWith": ".ops.combine",
    "zip_with": ".ops.combine",
    "empty": ".ops.create",
    "from_iterable": ".ops.create",
    "from_lines": ".ops.create",
    "from_receive_stream": ".ops.create",
    "interval": ".ops.create",
    "just": ".ops.create",
    "never": ".ops.create",
    "range": ".ops.create",
    "repeat": ".ops.create",
    "timer": ".ops.create",
    "default_if_empty": ".ops.extend",
    "end_with": ".ops.extend",
    "start_with": ".ops.extend",
    "throw": ".ops.extend",
    "cycle": ".ops.sequence",
    "catch": ".ops.recover",
    "exhaust_map": ".ops.exhaust",
    "with_latest_from": ".ops.latest",
    "on_error_resume": ".ops.recover",
    "retry_stream": ".ops.recover",
    "Shared": ".ops.share",
    "broadcast": ".ops.share",
    "share": ".ops.share",
    "item": ".ops.sequence",
    "slice": ".ops.sequence",
    "buffered": ".ops.flow",
    "map_process": ".ops.offload",
    "map_thread": ".ops.offload",
    "dedupe": ".ops.select",
    "distinct_until_changed": ".ops.select",
    "drop_while": ".ops.select",
    "filter": ".ops.select",
    "skip": ".ops.select",
    "skip_last": ".ops.select",
    "take": ".ops.select",
    "take_last": ".ops.select",
    "take_until": ".ops.select",
    "take_while": ".ops.select",
    "where": ".ops.select",
    "debounce": ".ops.time",
    "delay": ".ops.time",
    "rate_limit": ".ops.time",
    "sample": ".ops.time",
    "throttle": ".ops.time",
    "timeout": ".ops.time",
    "Enumerated": ".ops.transform",
    "Paired": ".ops.transform",
    "enumerate": ".ops.transform",
    "flat_map": ".ops.transform",
    "map": ".ops.transform",
    "map_async": ".ops.transform",
    "merge_map": ".ops.transform",
    "pairwise": ".ops.transform",
    "parse": ".ops.transform",
    "scan": ".ops.transform",
    "starmap": ".ops.transform",
    "switch_map": ".ops.transform",
    "tap": ".ops.transform",
    "Chunked": ".ops.window",
    "Window": ".ops.window",
    "Windowed": ".ops.window",
    "chunks": ".ops.window",
    "session_window": ".ops.window",
    "sliding_window": ".ops.window",
    "tumbling_window": ".ops.window",
}

__all__ = sorted(_EXPORTS)


def _show_progress(run: Any) -> Any:
    """``stream(progress=True)``'s view; ``anystream.observe.progress`` loads on first use."""
    from .observe.progress import show_progress

    return show_progress(run)


# Wiring of the layers (issue 19): the core calls the progress view through this hook
# instead of importing anystream.observe. The hooks module imports only the standard
# library, and every core module is imported after this package, so it is always set.
_hooks.register_progress(_show_progress)


def _watch_background(handle: Any) -> None:
    """In a Jupyter kernel, abort ``handle`` before the kernel shuts down."""
    import sys

    if "ipykernel" in sys.modules:  # a kernel imported it long before any cell ran
        from .observe._ipykernel_asyncio import abort_on_kernel_shutdown

        abort_on_kernel_shutdown(handle)


_hooks.register_background(_watch_background)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'anystream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # the same names, for type checkers and IDEs
    from ._core.operator import Operator as Operator
    from ._core.operator import Pipeable as Pipeable
    from ._core.operator import SameOperator as SameOperator
    from ._core.operator import operator as operator
    from ._core.runner import Run as Run
    from ._core.shutdown import Aborted as Aborted
    from ._core.stats import OpStats as OpStats
    from ._core.stats import RunStats as RunStats
    from ._core.stats import StatsSnapshot as StatsSnapshot
    from ._core.stream import Stream as Stream
    from .ops.aggregate import Group as Group
    from .ops.aggregate import GroupLimitExceeded as GroupLimitExceeded
    from .ops.aggregate import count as count
    from .ops.aggregate import group_by as group_by
    from .ops.aggregate import reduce as reduce
    from .ops.combine import ZippedWith as ZippedWith
    from .ops.combine import concat as concat
    from .ops.combine import concat_with as concat_with
    from .ops.combine import merge as merge
    from .ops.combine import merge_with as merge_with
    from .ops.combine import zip as zip
    from .ops.combine import zip_latest as zip_latest
    from .ops.combine import zip_with as zip_with
    from .ops.create import empty as empty
    from .ops.create import from_iterable as from_iterable
    from .ops.create import from_lines as from_lines
    from .ops.create import from_receive_stream as from_receive_stream
    from .ops.create import interval as interval
    from .ops.create import just as just
    from .ops.create import never as never
    from .ops.create import range as range
    from .ops.create import repeat as repeat
    from .ops.create import timer as timer
    from .ops.delivery import Acked as Acked
    from .ops.delivery import from_acked as from_acked
    from .ops.errors import DeadLetter as DeadLetter
    from .ops.errors import DeadLetters as DeadLetters
    from .ops.exhaust import exhaust_map as exhaust_map
    from .ops.extend import default_if_empty as default_if_empty
    from .ops.extend import end_with as end_with
    from .ops.extend import start_with as start_with
    from .ops.extend import throw as throw
    from .ops.flow import buffered as buffered
    from .ops.latest import with_latest_from as with_latest_from
    from .ops.offload import map_process as map_process
    from .ops.offload import map_thread as map_thread
    from .ops.recover import catch as catch
    from .ops.recover import on_error_resume as on_error_resume
    from .ops.recover import retry_stream as retry_stream
    from .ops.select import dedupe as dedupe
    from .ops.select import distinct_until_changed as distinct_until_changed
    from .ops.select import drop_while as drop_while
    from .ops.select import filter as filter
    from .ops.select import skip as skip
    from .ops.select import skip_last as skip_last
    from .ops.select import take as take
    from .ops.select import take_last as take_last
    from .ops.select import take_until as take_until
    from .ops.select import take_while as take_while
    from .ops.select import where as where
    from .ops.sequence import cycle as cycle
    from .ops.sequence import item as item
    from .ops.sequence import slice as slice
    from .ops.share import Shared as Shared
    from .ops.share import broadcast as broadcast
    from .ops.share import share as share
    from .ops.time import debounce as debounce
    from .ops.time import delay as delay
    from .ops.time import rate_limit as rate_limit
    from .ops.time import sample as sample
    from .ops.time import throttle as throttle
    from .ops.time import timeout as timeout
    from .ops.transform import Enumerated as Enumerated
    from .ops.transform import Paired as Paired
    from .ops.transform import enumerate as enumerate
    from .ops.transform import flat_map as flat_map
    from .ops.transform import map as map
    from .ops.transform import map_async as map_async
    from .ops.transform import merge_map as merge_map
    from .ops.transform import pairwise as pairwise
    from .ops.transform import parse as parse
    from .ops.transform import scan as scan
    from .ops.transform import starmap as starmap
    from .ops.transform import switch_map as switch_map
    from .ops.transform import tap as tap
    from .ops.window import Chunked as Chunked
    from .ops.window import Window as Window
    from .ops.window import Windowed as Windowed
    from .ops.window import chunks as chunks
    from .ops.window import session_window as session_window
    from .ops.window import sliding_window as sliding_window
    from .ops.window import tumbling_window as tumbling_window
    from .resilience import IdempotentSink as IdempotentSink
    from .resilience import Retry as Retry
    from .resilience import SeenKeys as SeenKeys
    from .resilience import retry as retry
