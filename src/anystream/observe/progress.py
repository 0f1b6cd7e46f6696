"""A live per-stage view of a running pipeline: a redrawn table in a terminal or notebook.

::

    async with stream.stream() as run, show_progress(run):
        async for item in run:
            ...

Where it draws, decided once when the block is entered:

- in Jupyter (an IPython kernel): an HTML table in the cell's output, replaced in place
  through an IPython display handle. The pipeline runs on the kernel's own event loop
  and the view is updated by a task on that loop, so nothing blocks the kernel;
- in a terminal (stderr is a TTY): a ``rich`` table redrawn in place (``rich.live``) on
  stderr, so that stdout stays the program's own output;
- anywhere else (CI logs, pipes, cron): nothing, unless ``enabled=True`` forces it.

The view is a display, not a log: it never goes through ``logging`` and is never mixed
into the ``anystream`` loggers' records. It samples ``run.stats()`` through
:func:`anystream.observe.monitor.monitor`, so it costs nothing on the pipeline's hot path.

``rich`` is an optional dependency (``pip install 'anystream[progress]'``), imported only
when a terminal view is actually drawn.
"""

from __future__ import annotations

import html
from types import TracebackType
from typing import Any, Literal, Protocol

from .._core.callables import check_choice, check_number
from .._core.owned import Owned
from .._core.runner import Run
from .._core.stream import Stream
from ._where import in_jupyter, is_interactive_terminal
from .metrics import MetricsSnapshot, OperatorMetrics, format_blocked, format_rate
from .monitor import Monitor, monitor
from .plan_view import annotate

__all__ = ["Progress", "ProgressTarget", "show_progress"]

ProgressTarget = Literal["auto", "terminal", "jupyter"]
_TARGETS = ("auto", "terminal", "jupyter")


class _View(Protocol):
    def start(self, snap: MetricsSnapshot) -> None: ...
    def update(self, snap: MetricsSnapshot) -> None: ...
    def stop(self, snap: MetricsSnapshot) -> None: ...


# -- where are we? ----------------------------------------------------------------------


# ``in_jupyter`` and ``is_interactive_terminal`` live in _where.py (plan_view uses them too)
# and stay importable from here.


# -- shared formatting ------------------------------------------------------------------


def _title(snap: MetricsSnapshot, started: float, label: str) -> str:
    elapsed = snap.time - started
    if snap.error is not None:
        state = f"failed: {snap.error}"
    elif snap.final:
        state = "finished"
    else:
        state = "running"
    return f"{label} · {elapsed:.1f} s · {state}"


def _bar(op: OperatorMetrics, width: int = 10) -> str:
    if op.buffer_fill is None or op.buffer_capacity is None:
        return ""
    if op.buffer_capacity == 0:
        cells = ""
    else:
        full = round(width * op.buffer_fill / op.buffer_capacity)
        cells = "█" * full + "░" * (width - full)
    waiting = " +1 waiting" if op.buffer_waiting else ""
    return f"{cells} {op.buffer_fill}/{op.buffer_capacity}{waiting}".strip()


_COLUMNS = ("operator", "in", "out", "in/s", "out/s", "dropped", "errors", "buffer", "blocked")


def _cells(op: OperatorMetrics) -> tuple[str, ...]:
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(op.dropped.items()) if n)
    return (
        op.name,
        str(op.received),
        str(op.emitted),
        format_rate(op.in_rate),
        format_rate(op.out_rate),
        dropped,
        str(op.errors) if op.errors else "",
        _bar(op),
        format_blocked(op.blocked_seconds),
    )


def render_html(snap: MetricsSnapshot, title: str) -> str:
    """The snapshot as a small self-contained HTML table (what the notebook view shows)."""
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in _COLUMNS)
    rows = []
    for op in snap:
        cells = "".join(
            f"<td style='text-align:{'left' if i in (0, 5, 7) else 'right'}'>"
            f"{html.escape(cell)}</td>"
            for i, cell in enumerate(_cells(op))
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        "<div class='anystream-progress'>"
        f"<b>{html.escape(title)}</b>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div>"
    )


def render_text(snap: MetricsSnapshot, title: str) -> str:
    return f"{title}\n{snap.format()}"


# -- the two views ----------------------------------------------------------------------


def _import_rich() -> Any:
    try:
        import rich.console
        import rich.live
        import rich.table
        import rich.text
    except ImportError as exc:
        raise ModuleNotFoundError(
            "the terminal progress view needs rich: pip install 'anystream[progress]' "
            "(or pass enabled=False)"
        ) from exc
    return rich


class _RichView:
    """A rich table redrawn in place; on a non-terminal console, drawn once at the end."""

    def __init__(self, console: Any, label: str) -> None:
        rich = _import_rich()
        self._rich = rich
        self._console = console if console is not None else rich.console.Console(stderr=True)
        self._label = label
        self._started = 0.0
        self._live: Any = None

    def _table(self, snap: MetricsSnapshot) -> Any:
        # Every string drawn is data (operator names, the label, an error message, drop
        # reasons): rich Text objects, never markup, so that ``[link=...]`` prints as
        # typed and ``path[/x]`` cannot raise MarkupError in the middle of a run.
        text = self._rich.text.Text
        table = self._rich.table.Table(
            title=text(_title(snap, self._started, self._label)), title_justify="left"
        )
        for i, column in enumerate(_COLUMNS):
            table.add_column(text(column), justify="left" if i in (0, 5, 7) else "right")
        for op in snap:
            table.add_row(*(text(cell) for cell in _cells(op)))
        return table

    def start(self, snap: MetricsSnapshot) -> None:
        self._started = snap.time
        self._live = self._rich.live.Live(
            self._table(snap), console=self._console, auto_refresh=False, transient=False
        )
        self._live.start(refresh=True)

    def update(self, snap: MetricsSnapshot) -> None:
        self._live.update(self._table(snap), refresh=True)

    def stop(self, snap: MetricsSnapshot) -> None:
        try:
            self.update(snap)
        finally:
            self._live.stop()


class _JupyterView:
    """The plan and an HTML table in the cell's output, replaced in place as the run goes.

    Above the table, the picture of the plan (``stream.explain()``) with each stage's rate
    and each buffer's fill written on it (``anystream.observe.plan_view``), when the view
    was given a run.
    """

    def __init__(self, label: str, run: Any = None) -> None:
        from IPython.display import display

        self._display: Any = display
        self._label = label
        self._started = 0.0
        self._handle: Any = None
        self._plan: Any = None
        stream = getattr(run, "_stream", None)
        if stream is not None:
            self._plan = stream.explain()

    def _bundle(self, snap: MetricsSnapshot) -> dict[str, str]:
        title = _title(snap, self._started, self._label)
        page = render_html(snap, title)
        if self._plan is not None:
            page = f"<div class='anystream-plan'>{annotate(self._plan, snap)}</div>{page}"
        return {"text/plain": render_text(snap, title), "text/html": page}

    def start(self, snap: MetricsSnapshot) -> None:
        self._started = snap.time
        self._handle = self._display(self._bundle(snap), raw=True, display_id=True)

    def update(self, snap: MetricsSnapshot) -> None:
        self._handle.update(self._bundle(snap), raw=True)

    def stop(self, snap: MetricsSnapshot) -> None:
        self.update(snap)


# -- the context manager ----------------------------------------------------------------


class Progress:
    """The context manager :func:`show_progress` returns; see there.

    ``active`` says whether anything is drawn; ``monitor`` is the underlying
    :class:`~anystream.observe.monitor.Monitor` (``None`` when inactive), whose ``latest``
    snapshot stays readable after the block.
    """

    def __init__(
        self,
        run: Run[Any] | Stream[Any],
        *,
        enabled: bool | None,
        interval: float,
        target: ProgressTarget,
        console: Any,
        label: str,
    ) -> None:
        self._run = run
        self._enabled = enabled
        self._interval = interval
        self._target = target
        self._console = console
        self._label = label
        self._view: _View | None = None
        self.monitor: Monitor | None = None
        self._owned = Owned()  # holds the monitor open from __aenter__ to __aexit__

    @property
    def active(self) -> bool:
        return self._view is not None

    def _choose_view(self) -> _View | None:
        if self._enabled is False:
            return None
        target = self._target
        if target == "auto":
            if in_jupyter():
                target = "jupyter"
            elif self._enabled or self._console is not None or is_interactive_terminal():
                target = "terminal"
            else:
                return None  # not interactive: off unless asked for
        if target == "jupyter":
            return _JupyterView(self._label, self._run)
        return _RichView(self._console, self._label)

    async def __aenter__(self) -> Progress:
        view = self._choose_view()
        if view is None:
            return self
        mon = await self._owned.enter(monitor(self._run, self._interval, on_snapshot=view.update))
        assert mon.latest is not None
        try:
            view.start(mon.latest)
        except BaseException as exc:
            await self._owned.fail(exc)
            raise
        self._view, self.monitor = view, mon
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        mon, view = self.monitor, self._view
        if mon is None or view is None:
            return None
        try:
            # The monitor's exit sends the final snapshot through view.update.
            return await self._owned.exit(exc_type, exc, tb)
        finally:
            assert mon.latest is not None
            view.stop(mon.latest)


def show_progress(
    run: Run[Any] | Stream[Any],
    *,
    enabled: bool | None = None,
    interval: float = 0.5,
    target: ProgressTarget = "auto",
    console: Any = None,
    label: str = "anystream",
) -> Progress:
    """Show a live per-stage table while the ``async with`` block runs.

    ::

        async with stream.stream() as run, show_progress(run):
            async for item in run:
                ...

    One row per operator (the source first): items in and out, rates per second, what
    was dropped by reason, errors, the fill of each ``buffered(n)``, and time blocked by
    backpressure (``n/a`` until the core counts it). Redrawn every ``interval`` seconds
    and once more, with the final counts, when the block exits.

    ``enabled=None`` (default) shows it only where someone is watching: in a Jupyter
    kernel, or when stderr is a terminal. ``True`` forces it (in a non-terminal the rich
    table is printed once, at the end), ``False`` turns it off. ``target`` overrides the
    detection (``"terminal"`` or ``"jupyter"``); ``console`` is a ``rich.console.Console``
    to draw on (default: a new one on stderr). ``label`` titles the table.
    """
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"show_progress(): enabled must be True, False or None, got {enabled!r}")
    seconds = check_number("show_progress", "interval", interval)
    chosen = check_choice("show_progress", "target", target, _TARGETS)
    if not isinstance(run, Run | Stream):
        raise TypeError(
            f"show_progress(): run must be a Run (from 'async with stream.stream() as run') "
            f"or a Stream, got {type(run).__name__} {run!r:.60}"
        )
    return Progress(
        run,
        enabled=enabled,
        interval=seconds,
        target=chosen,  # type: ignore[arg-type]
        console=console,
        label=str(label),
    )
