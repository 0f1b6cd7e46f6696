"""Scale-out demo: the reference pipeline sharded over Redis Streams partitions.

``produce`` writes ``N`` events (``ts,type,severity,user_id`` lines with an id ``e<n>``)
to ``P`` partitions, ``<prefix>:events:0`` ... ``:P-1``, routed by a stable hash of the
event id; ``--malformed K`` adds K lines that ``parse`` will reject. ``worker`` runs, as
one consumer of a consumer group::

    from_redis_stream(partitions) --> parse --> where(severity) --> buffered(50)
        --> map_async(region lookup) --> buffered(50) --> map_async(commit)

Start several workers with the same group and different consumer names: Redis spreads
the entries; kill one with SIGKILL and, after ``--claim-idle`` seconds, the others claim
what it had taken but not finished.

Why the commit is one Lua script. Delivery is at-least-once: an entry whose worker died
after writing its result but before XACKing it is processed again by another worker. An
in-process dedup (``IdempotentSink``/``SeenKeys``) cannot see what another process wrote,
and "SADD then XADD" as two commands can be cut in half by a SIGKILL. So the check and
the writes run in one script, atomically on the server: ``SADD <prefix>:seen id``; only if
it was new, ``XADD <prefix>:sink`` and ``HINCRBY <prefix>:windows <window> 1``. The sink
therefore holds every event exactly once, and the window counts (event-time tumbling
windows of ``--window`` seconds, counted in Redis) sum to the number of distinct events,
whichever worker handled them and however often they were redelivered.

(The windows are counted per event in Redis rather than by ``tumbling_window`` in each
worker because a window held in a worker's memory is lost with the worker: with
acknowledgements through windows its events would be redelivered and counted by a
survivor, but the commit would then need to be per window; the per-event form is correct
either way and keeps the sink exact.)

Against a Redis Cluster, give ``--url redis+cluster://host:port[,host:port...]``: the
partitions are spread over the cluster's slots (``partition_streams(..., cluster=True)``)
and the sink, seen-set and window keys share the hash tag ``{<prefix>}`` so that the
commit script's keys are in one slot.

Run it by hand: see ``docs/redis.md``.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import anyio

from .._core.runner import Run
from .._core.stream import Stream
from ..connectors._redis_client import (
    Reconnect,
    check_reconnect,
    connection_lost,
    masked_url,
    open_client,
    with_tls_ca,
)
from ..connectors._redis_cluster import is_cluster_url
from ..connectors.redis import (
    RedisEntry,
    from_redis_stream,
    partition_streams,
    to_redis_stream,
)
from ..observe.metrics import MetricsSnapshot
from ..ops.create import from_iterable
from ..ops.flow import buffered
from ..ops.select import where
from ..ops.transform import map_async, parse
from ._options import positive
from ._view import DemoOutput, OutputMode, add_output_arguments, output_mode
from .events import SEVERITIES, TYPES, Event, RegionService, at_least, parse_event

__all__ = [
    "PRODUCE_HELP",
    "WORKER_HELP",
    "WorkerSummary",
    "add_produce_arguments",
    "add_worker_arguments",
    "build_worker",
    "main",
    "produce",
    "produce_command",
    "run_produce",
    "run_worker",
    "worker",
    "worker_command",
]

PRODUCE_HELP = "write N demo events to P Redis stream partitions (scale-out demo)"
WORKER_HELP = (
    "run the reference pipeline as one consumer of a Redis consumer group, into a "
    "deduplicating sink stream (scale-out demo)"
)

#: Atomic dedup-and-write: see the module docstring.
COMMIT_SCRIPT = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], unpack(ARGV, 3))
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
"""


def keys(prefix: str, *, cluster: bool = False) -> dict[str, str]:
    """The Redis keys the demo uses under ``prefix``.

    On a cluster the commit script's three keys share the hash tag ``{prefix}`` (one
    slot, so one script may write them all), and the event partitions are
    ``partition_streams(events, P, cluster=True)``, spread over the slots.
    """
    tag = f"{{{prefix}}}" if cluster else prefix
    return {
        "events": f"{prefix}:events",
        "sink": f"{tag}:sink",
        "seen": f"{tag}:seen",
        "windows": f"{tag}:windows",
    }


# -- produce --------------------------------------------------------------------------------


def make_events(events: int, *, seed: int = 0, malformed: int = 0) -> list[dict[str, str]]:
    """``events`` valid event entries (ids ``e0``...), then ``malformed`` bad ones."""
    rng = random.Random(seed)
    out = []
    for n in range(events):
        ts = n * 0.01
        line = f"{ts:.3f},{rng.choice(TYPES)},{rng.choice(SEVERITIES)},{rng.randint(1, 6)}"
        out.append({"id": f"e{n}", "line": line})
    out += [{"id": f"bad{n}", "line": f"garbage line {n}"} for n in range(malformed)]
    return out


async def produce(
    url: str,
    *,
    events: int,
    partitions: int,
    prefix: str = "demo",
    seed: int = 0,
    malformed: int = 0,
) -> int:
    """Write the demo's events to ``partitions`` streams; return the number written."""
    # On a cluster the sink writes the cluster's partition names (the worker reads them).
    stream = from_iterable(make_events(events, seed=seed, malformed=malformed)) | to_redis_stream(
        url, keys(prefix)["events"], key=lambda e: e["id"], partitions=partitions, batch=500
    )
    written = 0
    async with stream.stream() as run:
        async for _ in run:
            written += 1
    return written


# -- worker ---------------------------------------------------------------------------------


@dataclass
class WorkerSummary:
    """What one worker did: entries read, rejected, filtered, written, duplicates."""

    consumer: str
    read: int = 0
    malformed: int = 0
    filtered: int = 0
    written: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    reconnects: int = 0
    commit_reconnect: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "commit_reconnect"}
        return {"event": "summary", **out}

    def line(self) -> str:
        # Dead letters and reconnects only when there were some: the line stays under 100
        # columns in the usual case.
        extra = "".join(
            f", {label} {n}"
            for label, n in (("dead", self.dead_lettered), ("reconnects", self.reconnects))
            if n
        )
        return (
            f"summary {self.consumer}: read {self.read}, malformed {self.malformed}, "
            f"filtered {self.filtered}, written {self.written}, duplicates {self.duplicates}"
            f"{extra}"
        )


def _parse_entry(entry: RedisEntry) -> tuple[str, Event]:
    # KeyError (no field) and ValueError (bad line) both count as malformed in parse().
    event = parse_event(entry.fields["line"])
    if not math.isfinite(event.ts):
        # "inf" and "nan" parse as floats but have no window: the commit would fail on
        # every delivery. They are malformed input, counted and acknowledged like any.
        raise ValueError(f"timestamp must be a finite number, got {event.ts!r}")
    return entry.fields["id"], event


def build_worker(
    url: str,
    client: Any,
    *,
    group: str,
    consumer: str,
    partitions: int,
    prefix: str = "demo",
    min_severity: str = "debug",
    latency: float = 0.005,
    concurrency: int = 4,
    window: float = 2.0,
    block: float = 0.5,
    claim_idle: float = 30.0,
    claim_interval: float | None = None,
    idle_stop: float | None = None,
    max_deliveries: int | None = 5,
    dead_letter_stream: str | None = None,
    reconnect: float = 30.0,
    summary: WorkerSummary | None = None,
) -> Stream[bool]:
    """The worker's pipeline; it emits True per event written, False per duplicate.

    ``client`` (a coredis client, entered) runs the commit script; the source opens its
    own connection from ``url``.
    """
    cluster = is_cluster_url(url)
    names = keys(prefix, cluster=cluster)
    service = RegionService(latency)
    tally = summary if summary is not None else WorkerSummary(consumer)
    script = client.register_script(COMMIT_SCRIPT)

    async def enrich(item: tuple[str, Event]) -> tuple[str, Event]:
        event_id, event = item
        region = await service.lookup(event.user_id)
        return event_id, Event(event.ts, event.type, event.severity, event.user_id, region)

    reconnect = check_reconnect("worker", reconnect)
    again = Reconnect(client, "worker", masked_url(url), reconnect, 5.0)
    tally.commit_reconnect = again

    async def commit(item: tuple[str, Event]) -> bool:
        event_id, event = item
        bucket = str(math.floor(event.ts / window))
        while True:
            try:
                new = await script(
                    keys=[names["seen"], names["sink"], names["windows"]],
                    args=[event_id, bucket, "type", event.type, "severity", event.severity,
                          "user_id", event.user_id, "region", event.region or "unknown",
                          "ts", repr(event.ts), "worker", consumer],
                )  # fmt: skip
            except Exception as exc:
                # The script is idempotent (SADD decides), so sending it again after a
                # reconnect is safe even if the first one ran.
                if not reconnect or not connection_lost(exc):
                    raise
                await again.recover(exc)
                continue
            break
        if new:
            tally.written += 1
        else:
            tally.duplicates += 1
        return bool(new)

    def keep(item: tuple[str, Event]) -> bool:
        return at_least(min_severity)(item[1])

    source = from_redis_stream(
        url,
        partition_streams(names["events"], partitions, cluster=cluster),
        group=group,
        consumer=consumer,
        batch=50,
        block=block,
        claim_idle=claim_idle,
        claim_interval=claim_interval,
        idle_stop=idle_stop,
        max_deliveries=max_deliveries,
        dead_letter_stream=dead_letter_stream,
        reconnect=reconnect,
    )
    stream = (
        source
        | parse(_parse_entry)
        | where(keep)
        | buffered(50)
        | map_async(enrich, concurrency=concurrency)
        | buffered(50)
        | map_async(commit, concurrency=concurrency)
    )
    return stream


async def worker(
    url: str,
    *,
    group: str,
    consumer: str,
    partitions: int,
    prefix: str = "demo",
    min_severity: str = "debug",
    latency: float = 0.005,
    concurrency: int = 4,
    window: float = 2.0,
    block: float = 0.5,
    claim_idle: float = 30.0,
    claim_interval: float | None = None,
    idle_stop: float | None = None,
    max_deliveries: int | None = 5,
    dead_letter_stream: str | None = None,
    reconnect: float = 30.0,
    handle_signals: bool = True,
    summary: WorkerSummary | None = None,
    watch: Callable[[Run[Any]], AbstractAsyncContextManager[Any]] | None = None,
) -> WorkerSummary:
    """Run one worker until stopped (Ctrl-C/SIGTERM: graceful) or idle for ``idle_stop``.

    ``summary`` is filled in as the worker goes (a new one by default); ``watch(run)``,
    if given, is entered around the run (the CLI's live view or progress lines).
    """
    summary = WorkerSummary(consumer) if summary is None else summary
    async with open_client(url, "worker", 5.0) as client:
        stream = build_worker(
            url, client, group=group, consumer=consumer, partitions=partitions,
            prefix=prefix, min_severity=min_severity, latency=latency,
            concurrency=concurrency, window=window, block=block, claim_idle=claim_idle,
            claim_interval=claim_interval, idle_stop=idle_stop,
            max_deliveries=max_deliveries, dead_letter_stream=dead_letter_stream,
            reconnect=reconnect, summary=summary,
        )  # fmt: skip
        async with (
            stream.stream(handle_signals=handle_signals) as run,
            watch(run) if watch is not None else nullcontext(),
        ):
            async for _ in run:
                pass
    ops = stream.stats().operators
    summary.read = ops[0].received
    summary.dead_lettered = ops[0].dead_lettered
    summary.reconnects = ops[0].retried + (
        summary.commit_reconnect.count if summary.commit_reconnect is not None else 0
    )
    summary.malformed = ops[1].dropped.get("malformed", 0)
    summary.filtered = ops[2].dropped.get("filtered", 0)
    return summary


# -- command line ---------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default="redis://localhost:6379",
        help="Redis URL; a cluster: redis+cluster://host:port[,host:port...]",
    )
    parser.add_argument(
        "--tls-ca",
        default=None,
        metavar="PATH",
        help="trust this CA (PEM) for a rediss:// URL (same as ?ssl_ca_certs=PATH)",
    )
    parser.add_argument("--prefix", default="demo", help="key prefix (demo)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions (4)")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")


def add_produce_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--events", type=int, default=1000, help="events to write (1000)")
    parser.add_argument("--malformed", type=int, default=0, help="extra malformed lines (0)")
    parser.add_argument("--seed", type=int, default=0)
    add_output_arguments(parser)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--group", default="workers", help="consumer group (workers)")
    parser.add_argument("--consumer", required=True, help="this worker's consumer name")
    parser.add_argument("--min-severity", choices=SEVERITIES, default="debug")
    parser.add_argument("--latency", type=float, default=0.005, help="lookup latency, s")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--window", type=float, default=2.0, help="event-time window, s")
    parser.add_argument("--block", type=float, default=0.5, help="XREADGROUP block, s")
    parser.add_argument("--claim-idle", type=float, default=30.0, help="claim after, s")
    parser.add_argument("--claim-interval", type=float, default=None)
    parser.add_argument("--idle-stop", type=float, default=None, help="exit when idle, s")
    parser.add_argument(
        "--every",
        type=positive,
        default=2.0,
        metavar="SECONDS",
        help="seconds between progress lines without the live view (2.0)",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--max-deliveries",
        type=_deliveries,
        default=5,
        help="dead-letter an entry delivered this many times without an ack; 0: never (5)",
    )
    parser.add_argument(
        "--reconnect",
        type=_reconnect_seconds,
        default=30.0,
        help="on a lost connection, retry for this many seconds; 0: give up at once (30)",
    )
    parser.add_argument(
        "--dead-letter-stream",
        default=None,
        help="where such entries go (default: <partition stream>:dead)",
    )


def _reconnect_seconds(text: str) -> float:
    """``--reconnect``: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"--reconnect must be a finite number of seconds >= 0, got {text!r}"
        )
    return value


def _deliveries(text: str) -> int | None:
    """``--max-deliveries``: a whole number >= 0; 0 means unlimited."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--max-deliveries must be a whole number (0 for unlimited), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"--max-deliveries must be >= 0 (0 for unlimited), got {value}"
        )
    return value or None


def run_produce(args: argparse.Namespace) -> int:
    args.url = with_tls_ca(args.url, args.tls_ca, "produce")

    async def go() -> int:
        return await produce(
            args.url, events=args.events, partitions=args.partitions, prefix=args.prefix,
            seed=args.seed, malformed=args.malformed,
        )  # fmt: skip

    out = DemoOutput(output_mode(args), "anystream demo produce")
    written = anyio.run(go, backend=args.backend)
    out.emit(
        f"produced {written} entries on {args.partitions} partitions of {masked_url(args.url)}",
        {"event": "produced", "entries": written},
    )
    return 0


def _worker_output(
    mode: OutputMode, summary: WorkerSummary, every: float = 2.0, console: Any = None
) -> DemoOutput:
    def progress(snap: MetricsSnapshot, elapsed: float) -> tuple[str, dict[str, Any]]:
        read = snap[0].emitted
        text = (
            f"{elapsed:6.1f} s: read {read}, written {summary.written}, "
            f"duplicates {summary.duplicates}"
        )
        record = {
            "event": "progress",
            "elapsed": round(elapsed, 3),
            "read": read,
            "written": summary.written,
            "duplicates": summary.duplicates,
        }
        return text, record

    label = f"anystream demo worker {summary.consumer}"
    return DemoOutput(mode, label, progress=progress, every=every, console=console)


def run_worker(args: argparse.Namespace) -> int:
    args.url = with_tls_ca(args.url, args.tls_ca, "worker")
    tally = WorkerSummary(args.consumer)
    out = _worker_output(output_mode(args), tally, args.every)

    async def go() -> WorkerSummary:
        out.emit(
            f"anystream demo worker {args.consumer}: group {args.group} on "
            f"{masked_url(args.url)}, {args.partitions} partitions",
            {"event": "start", "consumer": args.consumer},
        )
        return await worker(
            args.url, group=args.group, consumer=args.consumer, partitions=args.partitions,
            prefix=args.prefix, min_severity=args.min_severity, latency=args.latency,
            concurrency=args.concurrency, window=args.window, block=args.block,
            claim_idle=args.claim_idle, claim_interval=args.claim_interval,
            idle_stop=args.idle_stop, max_deliveries=args.max_deliveries,
            dead_letter_stream=args.dead_letter_stream, reconnect=args.reconnect,
            summary=tally, watch=out.watch,
        )  # fmt: skip

    # coredis logs each failed connection attempt with a traceback; the connector says
    # what happens (lost, reconnected, gave up) in one line each, so keep coredis quiet.
    logging.getLogger("coredis").setLevel(logging.CRITICAL)
    try:
        summary = anyio.run(go, backend=args.backend)
    except (ConnectionError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except BaseExceptionGroup as group:
        found, _ = group.split((ConnectionError, PermissionError))
        if found is None:
            raise
        first: BaseException = found
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        print(f"error: {first}", file=sys.stderr, flush=True)
        return 1
    out.emit(summary.line(), summary.as_dict())
    return 0


class _Command:
    """The shape ``anystream.cli`` expects of a demo (HELP, add_arguments, run)."""

    def __init__(self, help: str, add: Any, run: Any) -> None:
        self.HELP = help
        self.add_arguments = add
        self.run = run


produce_command: _Command = _Command(PRODUCE_HELP, add_produce_arguments, run_produce)
worker_command: _Command = _Command(WORKER_HELP, add_worker_arguments, run_worker)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m anystream.demo.redis_demo produce|worker ...``."""
    parser = argparse.ArgumentParser(prog="python -m anystream.demo.redis_demo")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, command in (("produce", produce_command), ("worker", worker_command)):
        sub = commands.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
