"""``anystream demo ingest``: the resilient-ingestion scenario (see ``ingest.py``).

Prints a start line, a progress line every ``--every`` seconds while it runs (written,
retried, dead-lettered, queue fill), then the report and the ledger; on a terminal a
live table of the stages replaces the progress lines (``--no-live`` turns it off), and
``--json`` prints one JSON object per line (``start``, ``progress``, ``report``).
Exits 0 when every event is accounted for (written or dead-lettered) and every written
event is in the sink exactly once, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

import anyio

from ..observe.metrics import MetricsSnapshot
from ..testing import run as run_virtual
from ._options import count, non_negative_int, positive, probability
from ._view import DemoOutput, OutputMode, add_output_arguments, output_mode
from .ingest import run_ingest

__all__ = ["HELP", "add_arguments", "run"]

HELP = "resilient ingestion: flaky sink, retries with backoff, dead letters, idempotent writes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop (asyncio)"
    )
    parser.add_argument("--events", type=count, default=500, help="events to ingest (500)")
    parser.add_argument("--concurrency", type=count, default=4, help="concurrent writers (4)")
    parser.add_argument("--retries", type=non_negative_int, default=5, help="retries per event (5)")
    parser.add_argument(
        "--failure-rate",
        type=probability,
        default=0.15,
        help="transient failure probability, 0 to 1 (0.15)",
    )
    parser.add_argument(
        "--abort-after",
        type=count,
        default=None,
        help="simulate a crash after N writes, then replay what was not acknowledged",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help="run on a virtual clock (instant; the latencies are simulated anyway)",
    )
    parser.add_argument(
        "--every",
        type=positive,
        default=2.0,
        metavar="SECONDS",
        help="seconds between progress lines without the live view (2.0)",
    )
    add_output_arguments(parser)


def _progress(snap: MetricsSnapshot, elapsed: float) -> tuple[str, dict[str, Any]]:
    """One progress line (at most 100 characters) and its JSON record."""
    source, queue, write = snap[0], snap[1], snap[2]
    fill = f"{queue.buffer_fill}/{queue.buffer_capacity}" if queue.buffer_fill is not None else "-"
    record = {
        "event": "progress",
        "elapsed": round(elapsed, 3),
        "read": source.emitted,
        "written": write.emitted,
        "retried": write.retried,
        "dead_lettered": write.dead_lettered,
        "queue_fill": queue.buffer_fill,
        "queue_capacity": queue.buffer_capacity,
    }
    text = (
        f"{elapsed:6.1f} s: read {source.emitted}, written {write.emitted}, "
        f"retried {write.retried}, dead-lettered {write.dead_lettered}, queue {fill}"
    )
    return text, record


def _output(mode: OutputMode, every: float = 2.0, console: Any = None) -> DemoOutput:
    return DemoOutput(
        mode, "anystream demo ingest", progress=_progress, every=every, console=console
    )


def run(args: argparse.Namespace) -> int:
    if args.events < 1 or args.concurrency < 1 or args.retries < 0:
        print("anystream demo ingest: --events and --concurrency must be >= 1, --retries >= 0")
        return 2
    out = _output(output_mode(args), args.every)
    main = partial(
        run_ingest,
        args.events,
        seed=args.seed,
        concurrency=args.concurrency,
        retries=args.retries,
        failure_rate=args.failure_rate,
        abort_after=args.abort_after,
        watch=out.watch,
    )
    out.emit(
        f"anystream demo ingest on {args.backend}: {args.events} events, "
        f"{args.concurrency} writers, {args.retries} retries, "
        f"{args.failure_rate:.0%} transient failures",
        {
            "event": "start",
            "backend": args.backend,
            "events": args.events,
            "concurrency": args.concurrency,
            "retries": args.retries,
            "failure_rate": args.failure_rate,
        },
    )
    if args.virtual_clock:
        report = run_virtual(main, backend=args.backend)
    else:
        report = anyio.run(main, backend=args.backend)
    if out.mode == "json":
        print(json.dumps(report.as_dict()), flush=True)
    else:
        for line in report.lines():
            out.emit(line)
    return 0 if report.accounted and report.exactly_once else 1
