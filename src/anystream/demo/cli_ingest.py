"""``anystream demo ingest``: the resilient-ingestion scenario (see ``ingest.py``).

Prints the report and the ledger; exits 0 when every event is accounted for (written or
dead-lettered) and every written event is in the sink exactly once, 1 otherwise.
"""

from __future__ import annotations

import argparse
from functools import partial

import anyio

from ..testing import run as run_virtual
from ._options import count, non_negative_int, probability
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


def run(args: argparse.Namespace) -> int:
    if args.events < 1 or args.concurrency < 1 or args.retries < 0:
        print("anystream demo ingest: --events and --concurrency must be >= 1, --retries >= 0")
        return 2
    main = partial(
        run_ingest,
        args.events,
        seed=args.seed,
        concurrency=args.concurrency,
        retries=args.retries,
        failure_rate=args.failure_rate,
        abort_after=args.abort_after,
    )
    if args.virtual_clock:
        report = run_virtual(main, backend=args.backend)
    else:
        report = anyio.run(main, backend=args.backend)
    for line in report.lines():
        print(line)
    return 0 if report.accounted and report.exactly_once else 1
