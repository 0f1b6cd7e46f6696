"""Per-operator counters: what went in, what came out, and where the rest went.

Nothing a pipeline drops is silent: ``parse`` counts malformed input, ``where`` counts
what it filtered out, an overflowing ``buffered`` counts what it discarded. Every run
owns one :class:`RunStats` with an :class:`OpStats` per operator, readable while the
run is going (``run.stats()``) and after it ended (``stream.stats()``).

The counters are plain ints updated from the operator's own task, so a snapshot taken
from another task sees a consistent state: in a single-threaded event loop nothing runs
between two of them being updated unless the operator awaits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .reprs import html_table, rich_table

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["OpStats", "RunStats", "StatsSnapshot"]


class OpStats:
    """Live counters for one operator of one run.

    ``received`` counts items that entered the operator, ``emitted`` items it passed on,
    ``dropped`` items it discarded, by reason. For one-to-one operators
    ``received == emitted + dropped_total + dead_lettered + in_flight``.

    Fused operators do not own their counters: the fused loop counts into one list per
    loop (one list increment per item is the cheapest shared counter Python has), and
    the runner binds each operator's view to its slots with ``_bind``.
    """

    __slots__ = (
        "_drop_index",
        "_drop_reason",
        "_dropped",
        "_drops",
        "_in",
        "_in_index",
        "_out",
        "_out_index",
        "dead_lettered",
        "name",
        "retried",
    )

    def __init__(self, name: str) -> None:
        self.name: str = name
        own = [0, 0]
        self._in, self._in_index = own, 0
        self._out, self._out_index = own, 1
        self._drops: list[int] | None = None
        self._drop_index = 0
        self._drop_reason = ""
        self._dropped: dict[str, int] = {}
        self.retried: int = 0
        self.dead_lettered: int = 0

    def _bind(
        self, counts: list[int], in_index: int, out_index: int, drop_index: int, reason: str
    ) -> None:
        self._in, self._in_index = counts, in_index
        self._out, self._out_index = counts, out_index
        self._drops, self._drop_index, self._drop_reason = counts, drop_index, reason

    def _bind_split(self, in_ref: tuple[list[int], int], out_ref: tuple[list[int], int]) -> None:
        self._in, self._in_index = in_ref
        self._out, self._out_index = out_ref

    @property
    def received(self) -> int:
        return self._in[self._in_index]

    @received.setter
    def received(self, value: int) -> None:
        self._in[self._in_index] = value

    @property
    def emitted(self) -> int:
        return self._out[self._out_index]

    @emitted.setter
    def emitted(self, value: int) -> None:
        self._out[self._out_index] = value

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` items discarded for ``reason``."""
        self._dropped[reason] = self._dropped.get(reason, 0) + n

    @property
    def dropped(self) -> dict[str, int]:
        """Items discarded so far, by reason (a copy)."""
        result = dict(self._dropped)
        if self._drops is not None:
            n = self._drops[self._drop_index]
            if n:
                result[self._drop_reason] = result.get(self._drop_reason, 0) + n
        return result

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def in_flight(self) -> int:
        return self.received - self.emitted - self.dropped_total - self.dead_lettered

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(
            name=self.name,
            received=self.received,
            emitted=self.emitted,
            dropped=self.dropped,
            retried=self.retried,
            dead_lettered=self.dead_lettered,
        )

    def __repr__(self) -> str:
        return repr(self.snapshot())


@dataclass(frozen=True)
class StatsSnapshot:
    """An immutable copy of one operator's counters at one moment."""

    name: str
    received: int
    emitted: int
    dropped: Mapping[str, int] = field(default_factory=dict)
    retried: int = 0
    dead_lettered: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def in_flight(self) -> int:
        """Items received and not yet emitted, dropped or dead-lettered."""
        return self.received - self.emitted - self.dropped_total - self.dead_lettered


class RunStats(Mapping[str, OpStats]):
    """The counters of every operator of one run, in pipeline order.

    Index by position (``stats[0]``) or by operator name (``stats["parse"]``: the first
    operator whose name is or starts with ``"parse"``).
    """

    def __init__(self, ops: list[OpStats]) -> None:
        self._ops = ops
        #: Items an abort discarded, by the hand-off that held them (the ``buffered``
        #: step, or "hand-off after <operator>" for one the runner added): in its buffer,
        #: or in the hands of a sender that was cancelled. Empty unless the run was
        #: aborted. Items held inside an operator show as its ``in_flight``.
        self.discarded: dict[str, int] = {}

    def __getitem__(self, key: str | int) -> OpStats:
        if isinstance(key, int):
            return self._ops[key]
        for op in self._ops:
            if op.name == key:
                return op
        for op in self._ops:
            if op.name.split("(", 1)[0] == key:
                return op
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (op.name for op in self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    @property
    def operators(self) -> list[OpStats]:
        return list(self._ops)

    @property
    def dropped(self) -> dict[str, int]:
        """Everything any operator dropped, summed by reason."""
        total: dict[str, int] = {}
        for op in self._ops:
            for reason, n in op.dropped.items():
                total[reason] = total.get(reason, 0) + n
        return total

    @property
    def discarded_total(self) -> int:
        """How many items an abort discarded in hand-offs (see ``discarded``)."""
        return sum(self.discarded.values())

    def snapshot(self) -> list[StatsSnapshot]:
        return [op.snapshot() for op in self._ops]

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{s.name}: in={s.received} out={s.emitted}"
            + (f" dropped={dict(s.dropped)}" if s.dropped else "")
            for s in self.snapshot()
        )
        if self.discarded:
            rows += f"; discarded by the abort: {self.discarded}"
        return f"RunStats({rows})"

    # No "in flight" column: received - emitted means nothing for a window or a batch
    # (many in, one out), and RunStats does not know which operators those are.
    _COLUMNS = ("operator", "in", "out", "dropped", "dead-lettered", "retried")

    def _rows(self) -> list[tuple[str, ...]]:
        return [
            (
                s.name,
                str(s.received),
                str(s.emitted),
                ", ".join(f"{reason} {n}" for reason, n in sorted(s.dropped.items()) if n),
                str(s.dead_lettered) if s.dead_lettered else "",
                str(s.retried) if s.retried else "",
            )
            for s in self.snapshot()
        ]

    def _footer(self) -> str:
        dropped = self.dropped
        if not dropped:
            return "nothing dropped"
        parts = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items()))
        return f"dropped in all: {parts}"

    def _repr_html_(self) -> str:
        """Jupyter's display: one row per operator, the source first."""
        return html_table(
            f"RunStats · {len(self)} operators",
            self._COLUMNS,
            self._rows(),
            css_class="anystream-stats",
            text_columns=(0, 3),
            footer=self._footer(),
        )

    def __rich__(self) -> Table:
        """rich's display: the same table as ``_repr_html_``."""
        return rich_table(
            f"RunStats · {len(self)} operators",
            self._COLUMNS,
            self._rows(),
            text_columns=(0, 3),
            footer=self._footer(),
        )
