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
from typing import TYPE_CHECKING, Literal

from .reprs import html_table, rich_table

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["DROP_FIELDS", "Edge", "OpStats", "RunStats", "StageCounts", "StatsSnapshot"]

#: The drop reasons with a field of their own in :class:`StageCounts`: the ones the
#: per-item loops count (``where``: filtered, ``parse``: malformed) and the generic one.
DROP_FIELDS = ("filtered", "malformed", "dropped")


@dataclass(slots=True)
class StageCounts:
    """The hot counters of one operator (or one hand-off) in one run.

    ``received`` counts items that entered, ``emitted`` items passed on, the other fields
    items discarded for that reason. Whoever handles the items increments the fields
    directly (``counts.received += 1``): a slotted attribute costs no more than a list
    slot, and reads as what it counts. :class:`OpStats` reads them live.

    In a fused loop nothing runs between one kernel passing an item on and the next one
    taking it, so one increment counts both: each piece counts what *enters* it, and
    an operator's ``emitted`` is read from the ``received`` of whatever follows it (see
    :data:`Edge`). A staged operator counts both fields of its own ``StageCounts``.
    """

    received: int = 0
    emitted: int = 0
    filtered: int = 0
    malformed: int = 0
    dropped: int = 0


#: Where one count of items passing from one piece of a run to the next is kept: a
#: :class:`StageCounts` and the name of its field (``"received"``: counted by the piece
#: that took the items, ``"emitted"``: by the one that handed them on).
Edge = tuple[StageCounts, Literal["received", "emitted"]]


class OpStats:
    """Live counters for one operator of one run.

    ``received`` counts items that entered the operator, ``emitted`` items it passed on,
    ``dropped`` items it discarded, by reason. For one-to-one operators
    ``received == emitted + dropped_total + dead_lettered + in_flight``.

    The frequent counts live in a :class:`StageCounts` (``counts``) that the code
    handling the items increments directly; the runner binds each operator to the
    ``StageCounts`` of its run with ``_bind`` (a fused operator's ``emitted`` is the next
    piece's ``received``, see :class:`StageCounts`) or, for an operator that counts
    nothing itself (the source, ``buffered``), to the edges around it with ``_bind_split``.
    Rarer drops, by any reason, are counted with :meth:`drop`.
    """

    __slots__ = (
        "_dropped",
        "_emitted",
        "_received",
        "counts",
        "dead_lettered",
        "name",
        "retried",
    )

    def __init__(self, name: str) -> None:
        self.name: str = name
        #: Where this operator's drops (by the reasons of DROP_FIELDS) are counted, and
        #: its received and emitted unless bound elsewhere.
        self.counts: StageCounts = StageCounts()
        self._received: Edge = (self.counts, "received")
        self._emitted: Edge = (self.counts, "emitted")
        self._dropped: dict[str, int] = {}
        self.retried: int = 0
        self.dead_lettered: int = 0

    def _bind(self, counts: StageCounts, emitted: Edge | None = None) -> None:
        """Read this operator's counters from ``counts`` (its emitted from ``emitted``)."""
        self.counts = counts
        self._received = (counts, "received")
        self._emitted = (counts, "emitted") if emitted is None else emitted

    def _bind_split(self, received: Edge, emitted: Edge) -> None:
        """Read received and emitted from the edges around the operator; drops stay own."""
        self._received = received
        self._emitted = emitted

    @property
    def received(self) -> int:
        counts, name = self._received
        return getattr(counts, name)  # type: ignore[no-any-return]

    @received.setter
    def received(self, value: int) -> None:
        counts, name = self._received
        setattr(counts, name, value)

    @property
    def emitted(self) -> int:
        counts, name = self._emitted
        return getattr(counts, name)  # type: ignore[no-any-return]

    @emitted.setter
    def emitted(self, value: int) -> None:
        counts, name = self._emitted
        setattr(counts, name, value)

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` items discarded for ``reason``."""
        if reason in DROP_FIELDS:
            counts = self.counts
            setattr(counts, reason, getattr(counts, reason) + n)
        else:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    @property
    def dropped(self) -> dict[str, int]:
        """Items discarded so far, by reason (a copy)."""
        result = dict(self._dropped)
        counts = self.counts
        for reason in DROP_FIELDS:
            n: int = getattr(counts, reason)
            if n:
                result[reason] = n
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
