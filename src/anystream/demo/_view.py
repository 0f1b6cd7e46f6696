"""How the demo commands show a run: a live rich view, plain lines, or JSON lines.

Every demo command takes ``--json`` (one JSON object per line, for programs) and
``--no-live`` (plain lines even on a terminal). Without either, the output mode depends
on where stdout goes:

- a terminal: a **live view** redrawn in place below the demo's own lines: one row per
  stage with items in and out, items out per second, what was dropped by reason (and
  dead-lettered or retried), and the fill of each buffer as a bar (``+1`` when an
  upstream waits for room). The demo's lines (windows as they close, the summary) are
  printed above it as they happen;
- anything else (a pipe, a file, CI): **plain lines** of at most :data:`MAX_LINE`
  characters, so nothing wraps in an 80- or 120-column log viewer.

The live view samples the run through :func:`anystream.observe.monitor.monitor`, off the
pipeline's hot path, and needs ``rich`` (the ``progress`` extra); without rich a terminal
gets plain lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

import anyio

from .._core.owned import Owned
from .._core.runner import Run
from ..observe.metrics import MetricsSnapshot, OperatorMetrics, format_rate
from ..observe.monitor import Monitor, monitor

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "MAX_LINE",
    "DemoOutput",
    "LiveView",
    "OutputMode",
    "add_output_arguments",
    "bar",
    "fit",
    "output_mode",
    "render_stages",
]

OutputMode = Literal["live", "lines", "json"]

#: The longest plain line a demo prints (characters).
MAX_LINE = 100


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--no-live``, the same on every demo command."""
    parser.add_argument("--json", action="store_true", help="print one JSON object per line (off)")
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="plain lines even on a terminal, no live view (off: live on a terminal)",
    )


def output_mode(args: argparse.Namespace, stdout: IO[str] | None = None) -> OutputMode:
    """``json`` with ``--json``; ``live`` on a terminal with rich; else ``lines``."""
    if getattr(args, "json", False):
        return "json"
    if getattr(args, "no_live", False):
        return "lines"
    stream = sys.stdout if stdout is None else stdout
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        tty = False
    if not tty or importlib.util.find_spec("rich") is None:
        return "lines"
    return "live"


def fit(line: str, width: int = MAX_LINE) -> str:
    """``line`` cut to ``width`` characters, ending in an ellipsis when it was cut."""
    return line if len(line) <= width else line[: width - 1] + "…"


def bar(fill: int, capacity: int, width: int = 10) -> str:
    """``"█████░░░░░ 25/50"``: a buffer's fill as a bar and its numbers."""
    if capacity <= 0:
        return f"{fill}/{capacity}"
    full = min(width, round(width * fill / capacity))
    return "█" * full + "░" * (width - full) + f" {fill}/{capacity}"


_COLUMNS = ("stage", "in", "out", "out/s", "dropped", "buffer")


def _row(op: OperatorMetrics) -> tuple[str, ...]:
    notes = [f"{reason} {n}" for reason, n in sorted(op.dropped.items()) if n]
    if op.dead_lettered:
        notes.append(f"dead-lettered {op.dead_lettered}")
    if op.retried:
        notes.append(f"retried {op.retried}")
    dropped = "\n".join(notes)  # one per line: a narrow column never splits one
    if op.buffer_fill is not None and op.buffer_capacity is not None:
        buffer = bar(op.buffer_fill, op.buffer_capacity, width=8)
        if op.buffer_waiting:
            buffer += f" +{op.buffer_waiting}"
    else:
        buffer = ""
    return (
        op.name,
        str(op.received),
        str(op.emitted),
        format_rate(op.out_rate),
        dropped,
        buffer,
    )


def render_stages(snap: MetricsSnapshot, title: str) -> RenderableType:
    """The live view's table for one snapshot (a pure function: the tests snapshot it)."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(title),
        title_justify="left",
        box=SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, column in enumerate(_COLUMNS):
        # Nothing wraps: at 80 columns the seven demo stages fit as they are.
        table.add_column(column, justify="left" if i in (0, 4, 5) else "right", no_wrap=True)
    for op in snap:
        table.add_row(*(Text(cell) for cell in _row(op)))
    return table


class LiveView:
    """A rich live table of a run's stages, redrawn every ``interval`` seconds.

    ``async with LiveView(console, label).attach(run):`` shows it while the block runs;
    :meth:`print` writes a line above it (rich keeps the table at the bottom). When the
    block exits the table is drawn once more with the final counts and left on screen.
    """

    def __init__(self, console: Console, label: str, interval: float = 0.5) -> None:
        self.console = console
        self.label = label
        self.interval = interval
        self._live: Any = None
        self._monitor: Monitor | None = None
        self._owned = Owned()  # holds _monitor open from __aenter__ to __aexit__
        self._started = 0.0
        self._run: Run[Any] | None = None

    def print(self, line: str) -> None:
        from rich.text import Text

        # Word-wrapped if the terminal is narrower than the line: never cut off.
        self.console.print(Text(line))

    def _title(self, snap: MetricsSnapshot) -> str:
        state = "finished" if snap.final else "running"
        if self._run is not None and self._run.stopping and not snap.final:
            state = "draining"
        return f"{self.label} · {snap.time - self._started:.1f} s · {state}"

    def _update(self, snap: MetricsSnapshot) -> None:
        if self._live is not None:
            self._live.update(render_stages(snap, self._title(snap)), refresh=True)

    def attach(self, run: Run[Any]) -> LiveView:
        self._run = run
        return self

    async def __aenter__(self) -> LiveView:
        from rich.live import Live

        assert self._run is not None, "call attach(run) first"
        mon = await self._owned.enter(monitor(self._run, self.interval, on_snapshot=self._update))
        assert mon.latest is not None
        self._started = mon.latest.time
        self._live = Live(
            render_stages(mon.latest, self._title(mon.latest)),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self._live.start(refresh=True)
        self._monitor = mon
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        mon = self._monitor
        try:
            if mon is None:
                return None
            return await self._owned.exit(exc_type, exc, tb)
        finally:
            if self._live is not None:
                self._live.stop()
                self._live = None


def plain_lines(lines: Sequence[str]) -> list[str]:
    """Every line cut to :data:`MAX_LINE` characters."""
    return [fit(line) for line in lines]


#: Turns a snapshot and the seconds since the run started into a progress line and the
#: same as a JSON record.
Progress = Callable[[MetricsSnapshot, float], tuple[str, dict[str, Any]]]


class DemoOutput:
    """Where a demo's output goes, for its :data:`OutputMode`.

    :meth:`emit` prints one line (plain, cut to :data:`MAX_LINE`), or its JSON record,
    or the line above the live view. :meth:`watch` is entered around a run: in live mode
    it shows the :class:`LiveView`; otherwise, with a ``progress`` function, it emits a
    progress line (or record) every ``every`` seconds, so a long run never shows a blank
    screen.
    """

    def __init__(
        self,
        mode: OutputMode,
        label: str,
        *,
        progress: Progress | None = None,
        every: float = 2.0,
        console: Console | None = None,
    ) -> None:
        self.mode: OutputMode = mode
        self.label = label
        self.progress = progress
        self.every = every
        self.console = console

    def _console(self) -> Console:
        if self.console is None:
            from rich.console import Console

            self.console = Console(file=sys.stdout)
        return self.console

    def emit(self, text: str, record: dict[str, Any] | None = None) -> None:
        if self.mode == "json":
            if record is not None:
                print(json.dumps(record), flush=True)
        elif self.mode == "live":
            from rich.text import Text

            self._console().print(Text(text))
        else:
            print(fit(text), flush=True)

    @asynccontextmanager
    async def watch(self, run: Run[Any]) -> AsyncIterator[None]:
        """Entered around each run: the live view, or progress lines every ``every`` s."""
        if self.mode == "live":
            async with LiveView(self._console(), self.label).attach(run):
                yield
            return
        progress = self.progress
        if progress is None:
            yield
            return
        started = anyio.current_time()

        def line(snap: MetricsSnapshot) -> None:
            if snap.time > started:  # not the snapshot taken on entry
                self.emit(*progress(snap, snap.time - started))

        async with monitor(run, self.every, on_snapshot=line):
            yield
