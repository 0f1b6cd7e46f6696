"""Window engines: one run's window state, fed items with timestamps.

An engine does not know which clock it runs on: in event time a timestamp is
``time(item)`` and the watermark follows the largest one seen; in processing time a
timestamp is the arrival time and the driver also moves the watermark with the clock
(``advance``). ``grid_engine`` serves tumbling and sliding windows, ``session_engine``
sessions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .config import Config
from .model import Window

__all__ = ["Engine", "EngineFactory", "grid_engine", "session_engine"]

_INF = math.inf


class Engine:
    """The closures of one run's window state (built fresh per run).

    ``push(item, t)`` adds an item with timestamp ``t`` (it may close windows: the
    watermark follows the largest timestamp), ``advance(w)`` moves the watermark to at
    least ``w`` (the clock, in processing time), ``flush(now)`` closes everything at end
    of input, ``deadline()`` is the end of the earliest open window. Closed windows are
    appended to ``out`` in order of their end; the driver sends and clears it.
    """

    __slots__ = ("advance", "deadline", "flush", "out", "push")

    def __init__(
        self,
        push: Callable[[Any, float], None],
        advance: Callable[[float], None],
        flush: Callable[[float | None], None],
        deadline: Callable[[], float],
        out: list[Window[Any]],
    ) -> None:
        self.push = push
        self.advance = advance
        self.flush = flush
        self.deadline = deadline
        self.out = out


# -- how a window keeps its items ---------------------------------------------------------
#
# Every open window (grid cell or session) is a list ``[acc, count, ...]``. Without an
# aggregate the accumulator is the list of items and "folding" appends to it, so the push
# paths need no branch on the window's kind: they do ``state[0] = fold(state[0], item)``.


def _append(items: list[Any], item: Any) -> list[Any]:
    items.append(item)
    return items


def _extend(items: list[Any], more: list[Any]) -> list[Any]:
    items.extend(more)
    return items


Folds = tuple[Callable[[], Any], Callable[[Any, Any], Any], Callable[[Any, Any], Any]]


def _folds(cfg: Config) -> Folds:
    """``(make_initial, fold, merge)`` for ``cfg``: the list functions without aggregate."""
    if cfg.aggregate is None:
        return list, _append, _extend
    make_initial, fold = cfg.aggregate
    # merge is only called for event-time sessions, which Config makes pass one.
    return make_initial, fold, cfg.merge or _no_merge


def _no_merge(acc: Any, other: Any) -> Any:  # pragma: no cover - Config rules it out
    raise AssertionError("two aggregates to merge without a merge function")


def _window(start: float, end: float, key: Any, state: list[Any], aggregating: bool) -> Window[Any]:
    if aggregating:
        return Window(start, end, [], key, state[0], state[1])
    return Window(start, end, state[0], key, None, state[1])


# -- tumbling and sliding windows ---------------------------------------------------------


def grid_engine(
    cfg: Config,
    size: float,
    step: float,
    origin: float,
    late: Callable[[Any], None],
    between: Callable[[Any], None] | None = None,
) -> Engine:
    """Tumbling (``step == size``), sliding (``step < size``) and hopping (``step > size``)
    windows ``[origin + k*step, ... + size)``; with hopping windows an item in a gap goes to
    ``between``."""
    out: list[Window[Any]] = []
    # rows[k][key] = [accumulator, count]; k is the window's grid index.
    rows: dict[float, dict[Any, list[Any]]] = {}
    key_fn = cfg.key
    lateness = cfg.lateness
    aggregating = cfg.aggregate is not None
    make_initial, fold, _ = _folds(cfg)
    emit_empty = cfg.emit_empty
    tumbling = step == size
    # Windows an item belongs to: ceil(size / step) consecutive grid indexes.
    span = math.ceil(size / step)
    max_t = -_INF
    wm = -_INF
    next_end = _INF

    def end_of(k: float) -> float:
        return origin + k * step + size

    # The window of the previous item, cached by push_tumbling (see there).
    cur_k: float | None = None
    cur: list[Any] = []

    # With emit_empty, the next grid window to emit (processing time, no key only).
    grid_k: float = 0.0
    if emit_empty:
        grid_k = float(-span)
        while end_of(grid_k) <= origin:
            grid_k += 1
        next_end = end_of(grid_k)

    def emit(k: float, row: dict[Any, list[Any]] | None) -> None:
        start = origin + k * step
        end = start + size
        if row is None:  # an empty window, with emit_empty
            row = {None: [make_initial() if aggregating else [], 0]}
        if aggregating:  # one window per key: 100k keys close 100k windows at once
            out.extend([Window(start, end, [], key, s[0], s[1]) for key, s in row.items()])
        else:
            out.extend([Window(start, end, s[0], key, None, s[1]) for key, s in row.items()])

    def emit_grid(until: float, edge: float) -> None:
        """With emit_empty: emit every grid window, empty or not, while its start plus
        ``edge`` (its size, or 0 at end of input) is at most ``until``."""
        nonlocal grid_k
        while origin + grid_k * step + edge <= until:
            emit(grid_k, rows.pop(grid_k, None))
            grid_k += 1

    def close(w: float) -> None:
        nonlocal next_end, cur_k
        cur_k = None  # the cached window may be among those closed
        if emit_empty:
            emit_grid(w, size)
            next_end = end_of(grid_k)
            return
        due = [k for k in rows if end_of(k) <= w]
        if len(due) > 1:
            due.sort()
        for k in due:
            emit(k, rows.pop(k))
        next_end = end_of(min(rows)) if rows else _INF

    def open_state(k: float, key: Any) -> list[Any]:
        """The state of window ``k`` for ``key``, opened if need be."""
        nonlocal next_end
        row = rows.get(k)
        if row is None:
            rows[k] = row = {}
            end = end_of(k)
            if end < next_end:
                next_end = end
        state = row.get(key)
        if state is None:
            row[key] = state = [make_initial(), 0]
        return state

    def push(item: Any, t: float) -> None:
        behind = t < max_t
        if t > max_t:
            advance(t)
        k = (t - origin) // step
        key = None if key_fn is None else key_fn(item)
        first = k
        if not tumbling:
            # Sliding: every j with start(j) <= t < end(j); complete or late, never partial.
            first = k - span + 1
            while end_of(first) <= t:
                first += 1
            if first > k:  # hopping windows: t is in the gap after window k
                if between is not None:
                    between(item)
                return
        if behind and end_of(first) <= wm:
            late(item)
            return
        while first <= k:
            state = open_state(first, key)
            state[0] = fold(state[0], item)
            state[1] += 1
            first += 1

    # The common case gets its own push: tumbling, no key. Events mostly arrive in
    # order, so the window of the previous item is cached and most items cost one
    # comparison, one fold and one increment (the performance issue wants millions of
    # events per second here): no call to advance, open_state or add on that path.
    def push_tumbling(item: Any, t: float) -> None:
        nonlocal max_t, wm, cur_k, cur
        if t >= max_t:
            if t > max_t:
                max_t = t
                wm = t - lateness
                if wm >= next_end:
                    close(wm)
            k = (t - origin) // step
        else:
            k = (t - origin) // step
            if end_of(k) <= wm:
                late(item)
                return
        if k != cur_k:
            cur_k, cur = k, open_state(k, None)
        cur[0] = fold(cur[0], item)
        cur[1] += 1

    # Keyed tumbling windows get theirs too: the row of the previous item's window is
    # cached, so an item costs its key, one dict lookup, one fold and one increment.
    cur_row: dict[Any, list[Any]] = {}

    def push_tumbling_keyed(item: Any, t: float) -> None:
        nonlocal max_t, wm, cur_k, cur_row
        behind = t < max_t
        if t > max_t:
            max_t = t
            wm = t - lateness
            if wm >= next_end:
                close(wm)
        k = (t - origin) // step
        key = key_fn(item)  # only built with a key
        if behind and end_of(k) <= wm:
            late(item)
            return
        if k != cur_k:
            open_state(k, key)
            cur_k, cur_row = k, rows[k]
        state = cur_row.get(key)
        if state is None:
            cur_row[key] = state = [make_initial(), 0]
        state[0] = fold(state[0], item)
        state[1] += 1

    def advance(w: float) -> None:
        nonlocal max_t, wm
        if w > max_t:
            max_t = w
            wm = w - lateness
        if wm >= next_end:
            close(wm)

    def flush(now: float | None) -> None:
        nonlocal cur_k
        if emit_empty and now is not None:
            # Every window that has started, empty or not, keeps its nominal end.
            emit_grid(now, 0.0)
        for k in sorted(rows):
            emit(k, rows[k])
        rows.clear()
        cur_k = None

    def deadline() -> float:
        return next_end

    if tumbling and key_fn is None:
        return Engine(push_tumbling, advance, flush, deadline, out)
    if tumbling and not emit_empty:
        return Engine(push_tumbling_keyed, advance, flush, deadline, out)
    return Engine(push, advance, flush, deadline, out)


# -- sessions -----------------------------------------------------------------------------


def session_engine(cfg: Config, gap: float, late: Callable[[Any], None]) -> Engine:
    """Session windows per key: a session ends ``gap`` after its last item."""
    out: list[Window[Any]] = []
    # sessions[key] = list of [accumulator, count, first t, last t]
    sessions: dict[Any, list[list[Any]]] = {}
    key_fn = cfg.key
    lateness = cfg.lateness
    aggregating = cfg.aggregate is not None
    make_initial, fold, merge = _folds(cfg)
    max_t = -_INF
    wm = -_INF
    # A lower bound of the earliest session end: sessions only ever get longer, so it
    # may be stale (too early), and close() then recomputes it.
    next_end = _INF

    def emit_all(due: list[tuple[Any, list[Any]]]) -> None:
        due.sort(key=lambda pair: (pair[1][3] + gap, pair[1][2]))
        for key, s in due:
            out.append(_window(s[2], s[3] + gap, key, s, aggregating))

    def close(w: float) -> None:
        nonlocal next_end
        due: list[tuple[Any, list[Any]]] = []
        lowest = _INF
        for key in list(sessions):
            open_ = sessions[key]
            keep = []
            for s in open_:
                end = s[3] + gap
                if end <= w:
                    due.append((key, s))
                else:
                    keep.append(s)
                    if end < lowest:
                        lowest = end
            if keep:
                sessions[key] = keep
            else:
                del sessions[key]
        next_end = lowest
        if due:
            emit_all(due)

    def push(item: Any, t: float) -> None:
        nonlocal next_end
        behind = t < max_t
        if t > max_t:
            advance(t)
        key = None if key_fn is None else key_fn(item)
        open_ = sessions.get(key)
        if open_ is None:
            open_ = sessions[key] = []
        hits = [s for s in open_ if s[2] - gap < t < s[3] + gap]
        if not hits:
            if behind and t + gap <= wm:
                if not open_:
                    del sessions[key]
                late(item)
                return
            state: list[Any] = [make_initial(), 0, t, t]
            open_.append(state)
            if t + gap < next_end:
                next_end = t + gap
        else:
            state = hits[0]
            if len(hits) > 1:
                # The item bridges sessions: merge them, in order of their start.
                hits.sort(key=lambda s: s[2])
                state = hits[0]
                for other in hits[1:]:
                    state[0] = merge(state[0], other[0])
                    state[1] += other[1]
                    state[3] = max(state[3], other[3])
                    open_.remove(other)
            if t < state[2]:
                state[2] = t
            if t > state[3]:
                state[3] = t
        state[0] = fold(state[0], item)
        state[1] += 1

    def advance(w: float) -> None:
        nonlocal max_t, wm
        if w > max_t:
            max_t = w
            wm = w - lateness
        if wm >= next_end:
            close(wm)

    def flush(now: float | None) -> None:
        due = [(key, s) for key, open_ in sessions.items() for s in open_]
        sessions.clear()
        emit_all(due)

    def deadline() -> float:
        return next_end

    return Engine(push, advance, flush, deadline, out)


# (origin, late, between): ``between`` takes an item that falls between two hopping
# windows (``step > size``), which belongs to no window.
EngineFactory = Callable[[float, Callable[[Any], None], Callable[[Any], None]], Engine]
