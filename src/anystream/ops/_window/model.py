"""The :class:`Window` record the window operators emit, and the aggregate shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from ..._core.compat import TypeVar
from ..._core.reprs import html_table, rich_table, short

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Aggregate", "SessionAggregate", "Window"]

T = TypeVar("T")
K = TypeVar("K", default=None)
A = TypeVar("A", default=None)
Acc = TypeVar("Acc")  # the aliases' own (no default may precede T there)

# The default of ``key`` and ``value``: None, typed so that it fits any K and A (a
# window without ``key=`` is a ``Window[T, None, ...]``, so it is None there).
_UNSET: Any = None


@dataclass(slots=True)
class Window(Generic[T, K, A]):
    """A group of items that fell into ``[start, end)``.

    ``items`` is the list of items (empty when the window aggregates), ``value`` the
    aggregate when the operator was given one, ``key`` the key for keyed windows (None
    otherwise). ``count`` (also ``len(window)``) is the number of items that fell into it,
    counted even when only the aggregate is kept.

    ``origin`` is the clock reading when a processing-time window operator started (about
    the run's start), ``None`` for event-time windows and windows made by hand. It is not
    part of equality or ``repr``; displays use it to show a window's times as seconds
    since the run started (``+2.000 s``) instead of raw monotonic clock readings.
    In Jupyter a window shows as a small table (``_repr_html_``); ``__rich__`` draws the
    same in a terminal.

    Typed ``Window[T, K, A]``: ``T`` the item type, ``K`` the key type (``None`` without
    ``key=``), ``A`` the aggregate's type (``None`` without ``aggregate=``). ``Window[T]``
    is ``Window[T, None, None]``; a keyed window of events is ``Window[Event, str]``.
    """

    start: float
    end: float
    items: list[T] = field(default_factory=list)
    key: K = _UNSET
    value: A = _UNSET
    count: int = 0
    origin: float | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return self.count

    def span(self) -> str:
        """``[start, end)`` as text: relative to ``origin`` when it is known."""
        if self.origin is None:
            return f"[{self.start:g}, {self.end:g})"
        return f"[+{self.start - self.origin:.3f} s, +{self.end - self.origin:.3f} s)"

    def _fields(self) -> list[tuple[str, str]]:
        rows = [("count", str(self.count)), ("duration", f"{self.end - self.start:g} s")]
        if self.key is not None:
            rows.append(("key", short(self.key)))
        if self.value is not None:
            rows.append(("value", short(self.value)))
        if self.items:
            shown = ", ".join(short(item, 30) for item in self.items[:_SHOWN_ITEMS])
            more = len(self.items) - _SHOWN_ITEMS
            rows.append(("items", shown + (f", … {more} more" if more > 0 else "")))
        return rows

    def _repr_html_(self) -> str:
        """Jupyter's display: the span, count, key, aggregate and the first items."""
        return html_table(
            f"Window {self.span()}",
            ("field", "value"),
            self._fields(),
            css_class="anystream-window",
            text_columns=(0, 1),
        )

    def __rich__(self) -> Table:
        """rich's display: the same table as ``_repr_html_``."""
        return rich_table(
            f"Window {self.span()}", ("field", "value"), self._fields(), text_columns=(0, 1)
        )


#: How many items a window's display lists before "… n more".
_SHOWN_ITEMS = 5


#: ``aggregate=(make_initial, fold)``: ``fold(acc, item)`` returns the new aggregate.
#: Generic in the aggregate's type and the item type: ``Aggregate[float, Event]``.
Aggregate = tuple[Callable[[], Acc], Callable[[Acc, T], Acc]]
#: As :data:`Aggregate`, optionally with ``merge(acc1, acc2)`` for merging sessions.
SessionAggregate = (
    tuple[Callable[[], Acc], Callable[[Acc, T], Acc]]
    | tuple[Callable[[], Acc], Callable[[Acc, T], Acc], Callable[[Acc, Acc], Acc]]
)


# Documented, pickled and printed under its public home.
Window.__module__ = "anystream.ops.window"
