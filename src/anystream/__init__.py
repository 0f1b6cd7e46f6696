"""anystream: composable async stream operators on anyio, for asyncio and trio.

::

    from anystream import from_iterable, parse, where, map

    s = from_iterable(["1", "x", "3", "7"]) | parse(int) | where(lambda n: n > 1)
    assert await (s | map(lambda n: n * 10)).collect() == [30, 70]

Each operator family lives in its own module under ``anystream.ops`` and lists its
public names in ``__all__``; this module re-exports them all, with the core types.
"""

from ._core.operator import Operator as Operator
from ._core.operator import operator as operator
from ._core.runner import Run as Run
from ._core.shutdown import Aborted as Aborted
from ._core.stats import OpStats as OpStats
from ._core.stats import RunStats as RunStats
from ._core.stats import StatsSnapshot as StatsSnapshot
from ._core.stream import Stream as Stream
from .ops.aggregate import *  # noqa: F403
from .ops.aggregate import __all__ as _aggregate_all
from .ops.combine import *  # noqa: F403
from .ops.combine import __all__ as _combine_all
from .ops.create import *  # noqa: F403
from .ops.create import __all__ as _create_all
from .ops.delivery import Acked as Acked
from .ops.delivery import from_acked as from_acked
from .ops.errors import DeadLetter as DeadLetter
from .ops.errors import DeadLetters as DeadLetters
from .ops.flow import *  # noqa: F403
from .ops.flow import __all__ as _flow_all
from .ops.offload import *  # noqa: F403
from .ops.offload import __all__ as _offload_all
from .ops.select import *  # noqa: F403
from .ops.select import __all__ as _select_all
from .ops.time import *  # noqa: F403
from .ops.time import __all__ as _time_all
from .ops.transform import *  # noqa: F403
from .ops.transform import __all__ as _transform_all
from .ops.window import *  # noqa: F403
from .ops.window import __all__ as _window_all
from .resilience import IdempotentSink as IdempotentSink
from .resilience import Retry as Retry
from .resilience import SeenKeys as SeenKeys
from .resilience import retry as retry

__version__ = "0.1.0"

__all__ = [
    "Aborted",
    "Acked",
    "DeadLetter",
    "DeadLetters",
    "IdempotentSink",
    "OpStats",
    "Operator",
    "Retry",
    "Run",
    "RunStats",
    "SeenKeys",
    "StatsSnapshot",
    "Stream",
    "from_acked",
    "operator",
    "retry",
    *_aggregate_all,
    *_combine_all,
    *_create_all,
    *_flow_all,
    *_offload_all,
    *_select_all,
    *_time_all,
    *_transform_all,
    *_window_all,
]
