"""Argument checks shared by the three time-window operators, and the late-item policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.callables import (
    check_callable,
    check_item_callable,
    check_number,
    check_sync_callable,
    describe,
)
from ..._core.errors import add_operator_note
from ..._core.stats import OpStats

__all__ = ["Config", "between_handler", "late_handler"]


class Config:
    """Validated arguments shared by the three time-window operators."""

    __slots__ = ("aggregate", "emit_empty", "key", "lateness", "merge", "on_late", "time")

    def __init__(
        self,
        op: str,
        *,
        key: Any,
        time: Any,
        allowed_lateness: Any,
        on_late: Any,
        aggregate: Any,
        emit_empty: Any,
        session: bool = False,
    ) -> None:
        if key is not None:
            check_sync_callable(op, "key", key, async_alternative="map_async() before the window")
            check_item_callable(op, "key", key, hint="a plain function")
        if time is not None:
            check_sync_callable(op, "time", time, async_alternative="map_async() before the window")
        lateness = check_number(op, "allowed_lateness", allowed_lateness, allow_zero=True)
        if on_late is not None:
            check_sync_callable(op, "on_late", on_late, async_alternative="a plain function")
        if time is None and lateness:
            raise ValueError(
                f"{op}(): allowed_lateness applies to event-time windows only; "
                "pass time= (an event-time extractor) or leave allowed_lateness at 0"
            )
        if time is None and on_late is not None:
            raise ValueError(
                f"{op}(): on_late applies to event-time windows only (no item is ever late "
                "in processing time); pass time= or drop on_late"
            )
        merge = None
        if aggregate is not None:
            sizes = (2, 3) if session else (2,)
            shape = "(make_initial, fold[, merge])" if session else "(make_initial, fold)"
            if not isinstance(aggregate, tuple | list) or len(aggregate) not in sizes:
                raise TypeError(f"{op}(): aggregate must be a tuple {shape}, got {aggregate!r:.60}")
            check_callable(op, "aggregate[0] (make_initial)", aggregate[0])
            check_callable(op, "aggregate[1] (fold)", aggregate[1])
            if len(aggregate) == 3:
                check_callable(op, "aggregate[2] (merge)", aggregate[2])
                merge = aggregate[2]
            elif session and time is not None:
                raise TypeError(
                    f"{op}(): in event time two sessions that an item bridges merge, which "
                    "needs a way to merge two aggregates: pass aggregate=(make_initial, "
                    "fold, merge) with merge(acc1, acc2) -> acc"
                )
            aggregate = (aggregate[0], aggregate[1])
        if not isinstance(emit_empty, bool):
            raise TypeError(f"{op}(): emit_empty must be True or False, got {emit_empty!r}")
        if emit_empty and (key is not None or time is not None):
            raise ValueError(
                f"{op}(): emit_empty applies to processing-time windows without a key "
                "(with key= or time= there is no one window per period to emit empty)"
            )
        self.key = key
        self.time = time
        self.lateness = lateness
        self.on_late = on_late
        self.aggregate = aggregate
        self.merge = merge
        self.emit_empty = emit_empty

    def __repr__(self) -> str:
        # What differs from the defaults, functions by name: it shows in the repr of a
        # window's task (drivers.py).
        shown = [
            f"{attr}={describe(value) if callable(value) else repr(value)}"
            for attr in ("key", "time", "on_late", "merge")
            if (value := getattr(self, attr)) is not None
        ]
        if self.aggregate is not None:
            shown.append(f"aggregate=({', '.join(describe(fn) for fn in self.aggregate)})")
        if self.lateness:
            shown.append(f"lateness={self.lateness:g}")
        if self.emit_empty:
            shown.append("emit_empty=True")
        return f"Config({', '.join(shown)})"


def late_handler(cfg: Config, stats: OpStats, name: str) -> Callable[[Any], None]:
    on_late = cfg.on_late
    if on_late is None:

        def drop(item: Any) -> None:
            stats.drop("late")

        return drop

    def divert(item: Any) -> None:
        stats.dead_lettered += 1
        try:
            on_late(item)
        except Exception as exc:
            add_operator_note(exc, name)
            raise

    return divert


def between_handler(stats: OpStats) -> Callable[[Any], None]:
    """Count an item that fell between two hopping windows as ``dropped["between_windows"]``."""

    def drop(item: Any) -> None:
        stats.drop("between_windows")

    return drop
