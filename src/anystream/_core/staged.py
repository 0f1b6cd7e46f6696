"""The task of a staged operator as a value: a small frozen dataclass with a readable repr.

A :class:`~anystream._core.operator.StagedStep`'s ``run`` is any
``async (rx, tx, ctx) -> None``. The operators in ``ops`` give it as an instance of a
``@dataclass(frozen=True, slots=True)`` subclass of :class:`StageTask` whose fields
are the operator's configuration and whose ``async def __call__(self, rx, tx, ctx)``
runs the task, so that ``step.run`` shows what it will do
(``Throttle(period=1.0, leading=True, trailing=False)``) where a
``functools.partial`` showed only a function and its arguments' default reprs. A
variant that carries acknowledgements is the same value with ``tracked=True``
(``dataclasses.replace(run, tracked=True)``).
"""

from __future__ import annotations

import dataclasses
import types
from typing import TYPE_CHECKING, Any, cast

from .callables import describe

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .operator import StageContext

__all__ = ["StageTask"]

_LONGEST = 60
_FUNCTIONS = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
)
_COLLECTIONS = (str, bytes, list, tuple, dict, set, frozenset)


class StageTask:
    """Base of the staged operators' task dataclasses: the repr names the configuration.

    Fields are shown as ``name=value`` in declaration order; a function is shown by its
    qualified name (``describe``) rather than ``<function ... at 0x...>``; a field left
    at its default ``True`` / ``False`` / ``None`` is left out (``tracked=False``), and
    a field declared with ``repr=False`` is never shown.
    """

    __slots__ = ()

    async def __call__(
        self, rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        """Run the task: read ``rx`` until it ends, write ``tx``, count on ``ctx``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shown: list[str] = []
        for field in dataclasses.fields(cast(Any, self)):
            if not field.repr:
                continue
            value = getattr(self, field.name)
            if field.default is not dataclasses.MISSING and value is field.default:
                continue
            shown.append(f"{field.name}={_show(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _show(value: Any) -> str:
    # Only plain functions and methods get the short form: a callable object with a
    # repr of its own (a Stream, a retry policy) says more about itself.
    if isinstance(value, _FUNCTIONS):
        return describe(value)
    text = repr(value)
    # A long collection (a fallback list) would drown the rest.
    if len(text) > _LONGEST and isinstance(value, _COLLECTIONS):
        return text[: _LONGEST - 3] + "..."
    return text
