"""``anystream demo [realtime]``: run the reference pipeline until Ctrl-C or ``--duration``.

Output (stdout, flushed at once so a pipe sees it live): start lines, two lines per
window (counts by type; regions and buffer fill), a line when the source stops, the
final partial window, and a closing summary whose last line checks
``read = malformed + filtered + in windows``. Plain lines are at most 100 characters.
On a terminal a live table of the stages (rates, drops by reason, buffer fill as bars)
is redrawn below those lines; ``--no-live`` turns it off (see ``_view.py``). ``--json``
prints one JSON object per line instead, each with an ``"event"`` key: ``start``,
``window``, ``source_stopped``, ``stopping``, ``summary``, ``aborted``.

Exit codes: 0 after a graceful stop (first Ctrl-C or SIGTERM, or ``--duration``) whose
summary balances; 130 after a second Ctrl-C; 1 after any other abort (a second SIGTERM,
or the grace period running out) or if the summary does not balance.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

import anyio

from .._core.runner import Run
from .._core.shutdown import Aborted
from ._options import count, non_negative, positive
from ._view import LiveView, OutputMode, add_output_arguments, fit, output_mode
from .events import SEVERITIES, WindowSummary
from .pipeline import Demo, DemoConfig, DemoSummary, build_demo

__all__ = ["HELP", "add_arguments", "run"]

HELP = (
    "the reference real-time pipeline: feed -> parse -> where -> buffered(50) -> "
    "enrich (30 ms lookup) -> buffered(50) -> tumbling_window; Ctrl-C drains it"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the real-time demo."""
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop (asyncio)"
    )
    parser.add_argument(
        "--window", type=positive, default=2.0, metavar="SECONDS", help="window size (2.0)"
    )
    parser.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        default="info",
        help="drop events below this severity (info)",
    )
    parser.add_argument(
        "--rate",
        type=positive,
        default=None,
        metavar="PER_SECOND",
        help="feed lines per second (default: irregular, one every 10-60 ms); "
        "try 5000 to watch backpressure throttle the feed",
    )
    parser.add_argument("--concurrency", type=count, default=1, help="region lookups at once (1)")
    parser.add_argument(
        "--duration",
        type=positive,
        default=None,
        metavar="SECONDS",
        help="stop gracefully after this long (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--grace",
        type=non_negative,
        default=10.0,
        metavar="SECONDS",
        help="abort if a graceful stop has not drained within this long (10)",
    )
    add_output_arguments(parser)
    parser.add_argument("--seed", type=int, default=None, help="make the feed reproducible")


def _loads(loads: tuple[int, ...], sizes: tuple[int, ...]) -> str:
    """``fill/size`` per buffer, with senders blocked on a full buffer spelled out."""
    parts = []
    for load, size in zip(loads, sizes, strict=True):
        text = f"{min(load, size)}/{size}"
        if load > size:
            text += f" (+{load - size} waiting)"
        parts.append(text)
    return ", ".join(parts)


class _Printer:
    """Everything the demo prints, as text or as JSON lines."""

    def __init__(self, mode: OutputMode = "lines", console: Any = None) -> None:
        self.mode: OutputMode = mode
        self.as_json = mode == "json"
        self.console = console
        self.view: LiveView | None = None
        self.run: Run[Any] | None = None
        self.stopped: anyio.Event | None = None

    def live_view(self) -> LiveView | None:
        """The live view to show during the run (``None`` unless in live mode)."""
        if self.mode != "live":
            return None
        if self.console is None:
            from rich.console import Console

            self.console = Console(file=sys.stdout)
        self.view = LiveView(self.console, "anystream demo")
        return self.view

    def _emit(self, text: str | list[str], record: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(record), flush=True)
            return
        for line in [text] if isinstance(text, str) else text:
            if self.view is not None:
                self.view.print(line)
            elif self.mode == "live" and self.console is not None:
                self.console.print(line, markup=False, highlight=False)
            else:
                print(fit(line), flush=True)

    def start(self, demo: Demo, backend: str, duration: float | None) -> None:
        c = demo.config
        feed = f"{c.rate:g} lines/s" if c.rate is not None else "irregular, one every 10-60 ms"
        until = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
        sizes = "+".join(str(n) for n in demo.buffer_sizes)
        self._emit(
            [
                f"anystream demo on {backend}: {c.window:g} s windows, "
                f"min severity {c.min_severity}, running {until}",
                f"  feed {feed}; buffers {sizes}; enrich ~{c.enrich_capacity:.0f} events/s "
                f"(concurrency {c.concurrency})",
                "  Ctrl-C or SIGTERM drains and stops; a second one aborts",
            ],
            {
                "event": "start",
                "backend": backend,
                "window": c.window,
                "min_severity": c.min_severity,
                "rate": c.rate,
                "concurrency": c.concurrency,
                "buffer_sizes": list(demo.buffer_sizes),
                "enrich_capacity": c.enrich_capacity,
                "duration": duration,
                "seed": c.seed,
            },
        )

    def stopping(self, reason: str) -> None:
        self._emit(f"stopping gracefully: {reason}", {"event": "stopping", "reason": reason})

    def source_stopped(self, lines: int) -> None:
        if self.stopped is not None:
            self.stopped.set()
        draining = self.run is not None and self.run.stopping
        what = "draining what is in flight" if draining else "end of input"
        self._emit(
            f"source stopped after {lines} lines; {what}",
            {"event": "source_stopped", "lines": lines, "draining": draining},
        )

    def window(self, w: WindowSummary, sizes: tuple[int, ...]) -> None:
        types = " ".join(f"{k}={n}" for k, n in w.by_type.items()) or "-"
        regions = " ".join(f"{k}={n}" for k, n in w.by_region.items()) or "-"
        fill = _loads(w.buffer_load, sizes)
        final = " (final, partial)" if w.partial else ""
        self._emit(
            [
                f"window #{w.index} [{w.start:.2f}s-{w.end:.2f}s){final} count={w.count} "
                f"types: {types}",
                f"  regions: {regions}; buffers: {fill}",
            ],
            w.as_dict(),
        )

    def summary(self, s: DemoSummary) -> None:
        rate = s.read / s.elapsed if s.elapsed > 0 else 0.0
        fill = _loads(s.max_buffer_load, s.buffer_sizes)
        check = "balanced" if s.balanced else f"NOT balanced: {s.in_flight} unaccounted"
        self._emit(
            [
                f"ran {s.elapsed:.1f} s: read {rate:.0f} lines/s, {s.windows} windows, "
                f"max buffer fill {fill}",
                f"summary: read {s.read} = malformed {s.malformed} + filtered {s.filtered} + "
                f"in windows {s.in_windows}: {check}; enriched={s.enriched}",
            ],
            s.as_dict(),
        )

    def aborted(self, reason: str, s: DemoSummary | None) -> None:
        lost = f"; {s.in_flight} items in flight discarded" if s is not None else ""
        record: dict[str, Any] = {"event": "aborted", "reason": reason}
        if s is not None:
            record |= {"read": s.read, "in_windows": s.in_windows, "in_flight": s.in_flight}
        self._emit(f"aborted: {reason}{lost}", record)


async def _stop_after(run: Run[Any], seconds: float, out: _Printer) -> None:
    await anyio.sleep(seconds)
    if not run.stopping:
        out.stopping(f"--duration {seconds:g} s reached")
        run.stop()


async def _bound_drain(run: Run[Any], stopping: anyio.Event, grace: float) -> None:
    """Abort the run if a graceful stop has not drained ``grace`` seconds after it began.

    This is what ``stream(handle_signals=True, grace=...)`` promises, done here because
    that combination fails in the core runner: its grace timer and its signal watcher
    both enter the same ``CancelScope`` (``Run._helper_scope``), and the second entry
    raises ``RuntimeError`` (see tests/_core/test_shutdown.py). The source stopping is
    the moment a stop begins, for a signal as for ``--duration``.
    """
    await stopping.wait()
    await anyio.sleep(grace)
    run.abort(Aborted(f"the graceful stop did not finish within {grace:g} s"))


async def _main(
    demo: Demo, out: _Printer, backend: str, duration: float | None, grace: float
) -> DemoSummary:
    out.start(demo, backend, duration)
    demo.start()
    sizes = demo.buffer_sizes
    try:
        async with demo.stream.stream(handle_signals=True) as run:
            out.run = run
            out.stopped = anyio.Event()
            stats = run.stats()
            # Helper tasks live inside the run, so an abort (which cancels the consuming
            # task) cancels them too and the run's own error surfaces unwrapped.
            view = out.live_view()
            async with anyio.create_task_group() as helpers:
                helpers.start_soon(demo.watch, stats)
                helpers.start_soon(_bound_drain, run, out.stopped, grace)
                if duration is not None:
                    helpers.start_soon(_stop_after, run, duration, out)
                if view is None:
                    async for window in run:
                        out.window(demo.on_window(window, stats), sizes)
                else:
                    async with view.attach(run):
                        async for window in run:
                            out.window(demo.on_window(window, stats), sizes)
                helpers.cancel_scope.cancel()
    finally:
        demo.ended = anyio.current_time()
    summary = demo.summary(demo.stream.stats())
    out.summary(summary)
    return summary


def run(args: argparse.Namespace) -> int:
    """Run the demo with parsed ``args``; return the exit code."""
    out = _Printer(output_mode(args))
    config = DemoConfig(
        window=args.window,
        min_severity=args.min_severity,
        rate=args.rate,
        concurrency=args.concurrency,
        seed=args.seed,
    )
    demo = build_demo(config, on_source_stop=out.source_stopped)
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        print(
            "anystream demo: --backend trio needs trio: pip install 'anystream[trio]'",
            file=sys.stderr,
        )
        return 2
    try:
        summary = anyio.run(
            _main, demo, out, args.backend, args.duration, args.grace, backend=args.backend
        )
    except KeyboardInterrupt:
        # A second Ctrl-C during the drain; or a first one before the run was handling
        # signals (start-up), which Python turns into KeyboardInterrupt by itself.
        second = out.run is not None and out.run.stopping
        out.aborted("a second Ctrl-C" if second else "Ctrl-C", _last_summary(demo))
        return 130
    except Aborted as exc:
        out.aborted(str(exc), _last_summary(demo))
        return 1
    if not summary.balanced:
        print(
            f"anystream demo: the summary does not balance ({summary.in_flight} unaccounted)",
            file=sys.stderr,
        )
        return 1
    return 0


def _last_summary(demo: Demo) -> DemoSummary | None:
    try:
        return demo.summary(demo.stream.stats())
    except RuntimeError:  # the run never started
        return None
