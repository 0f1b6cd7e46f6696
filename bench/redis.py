"""Scale-out throughput over Redis Streams: 1, 2, 3 ... worker processes in one run.

    python -m bench.redis [--workers 1,2,3] [--events 20000] [--partitions 6]
                          [--backend asyncio|trio] [--url redis://...]
                          (default: start a private redis-server)

For each worker count, in one process run: write ``--events`` events with the demo
producer under fresh keys, then start that many demo worker processes
(``anystream.demo.redis_demo worker``, one consumer group, lookup latency 0, so this
measures the pipeline and the Redis round trips, not a simulated service) and time them
draining the events into the sink. Per worker count it prints:

- ``wall s`` and ``events/s``: from the workers' start to the moment the sink holds every
  event (process start-up included: about 0.3 s of imports per worker, in parallel);
- ``steady ev/s``: events written between the moment every worker had joined the group
  and 5% of the sink was written, and the moment 95% was; start-up and the tail (the
  last worker finishing its read-ahead alone) are left out. The ratios compare this;
- ``ratio``: steady events/s relative to the first worker count of ``--workers``;
- ``worker CPU s`` and ``CPU us/ev``: user+system CPU time of all worker processes in the
  steady window (``/proc/<pid>/stat``; "n/a" where there is no ``/proc``), and per event;
- ``redis CPU s``: the server's CPU time in the same window (``INFO cpu``).

CPU time says what wall time on a shared machine cannot: whether more workers did the
same work with the same CPU (scale-out is limited by cores) or needed more CPU per event
(contention). Measured figures and their reading: docs/performance.md (Redis).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _command(port: int, *args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(65536)


def _xlen(port: int, key: str) -> int:
    return int(_command(port, "XLEN", key)[1:].split(b"\r\n")[0])


def _consumers(port: int, stream: str, group: str) -> int:
    """How many consumers ``group`` has on ``stream`` (0 while the group does not exist)."""
    reply = _command(port, "XINFO", "CONSUMERS", stream, group)
    if not reply.startswith(b"*"):
        return 0  # "-NOGROUP": no worker has created it yet
    return int(reply[1:].split(b"\r\n")[0])


def _redis_cpu(port: int) -> float:
    """The server's user+system CPU seconds so far (``INFO cpu``)."""
    text = _command(port, "INFO", "cpu").decode()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def _process_cpu(pid: int) -> float | None:
    """User+system CPU seconds of process ``pid`` so far, or None without ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; utime and stime follow its ")".
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _demo(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "anystream.demo.redis_demo", *args, "--url", url]


@dataclass
class Result:
    workers: int
    events: int
    wall: float  # from the workers' start to the last event in the sink
    steady_events: int
    steady_wall: float
    worker_cpu: float | None  # all workers, in the steady window
    redis_cpu: float  # the server, in the steady window

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def steady_rate(self) -> float:
        return self.steady_events / self.steady_wall


def _cpu(procs: list[subprocess.Popen[bytes]]) -> float | None:
    times = [_process_cpu(p.pid) for p in procs]
    return None if any(t is None for t in times) else sum(t for t in times if t is not None)


def run(
    url: str, port: int, *, events: int, partitions: int, workers: int, backend: str, tag: str = ""
) -> Result:
    prefix = f"bench{workers}{tag}"
    subprocess.run(
        _demo(url, "produce", "--events", str(events), "--partitions", str(partitions),
              "--prefix", prefix, "--backend", backend),
        check=True, capture_output=True,
    )  # fmt: skip
    sink = f"{prefix}:sink"
    first, last = max(1, events // 20), events - events // 20
    start = time.perf_counter()
    worker_args = ["--group", "bench", "--prefix", prefix, "--partitions", str(partitions),
                   "--latency", "0", "--concurrency", "8", "--block", "0.1",
                   "--backend", backend]  # fmt: skip
    procs = [
        subprocess.Popen(
            _demo(url, "worker", "--consumer", f"w{i}", *worker_args), stdout=subprocess.DEVNULL
        )
        for i in range(workers)
    ]
    try:
        # The steady window opens once every worker reads (has joined the group) and 5%
        # of the events are through, and closes at 95%.
        while (
            _xlen(port, sink) < first or _consumers(port, f"{prefix}:events:0", "bench") < workers
        ):
            time.sleep(0.005)
        opened = time.perf_counter()
        at_open = _xlen(port, sink)
        cpu_open, redis_open = _cpu(procs), _redis_cpu(port)
        while (written := _xlen(port, sink)) < last:
            time.sleep(0.005)
        closed = time.perf_counter()
        cpu_close, redis_close = _cpu(procs), _redis_cpu(port)
        while _xlen(port, sink) < events:
            time.sleep(0.005)
        wall = time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    worker_cpu = None if cpu_open is None or cpu_close is None else cpu_close - cpu_open
    return Result(
        workers, events, wall, written - at_open, closed - opened, worker_cpu,
        redis_close - redis_open,
    )  # fmt: skip


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--workers must be worker counts separated by commas (1,2,3), got {text!r}"
        ) from None
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"--workers: every count must be >= 1, got {text!r}")
    return counts


def table(rounds: list[list[Result]]) -> str:
    """One row per worker count: the round with the median steady rate (and the spread)."""
    rows: list[tuple[Result, float, float]] = []
    for n in range(len(rounds[0])):
        column = [one_round[n] for one_round in rounds]
        ranked = sorted(column, key=lambda r: r.steady_rate)
        rows.append((ranked[len(ranked) // 2], ranked[0].steady_rate, ranked[-1].steady_rate))
    base = rows[0][0].steady_rate
    lines = [
        "workers  wall s  events/s  steady ev/s  ratio  worker CPU s  CPU us/ev  redis CPU s"
        + ("  steady min-max" if len(rounds) > 1 else ""),
    ]
    for r, low, high in rows:
        cpu = "n/a" if r.worker_cpu is None else f"{r.worker_cpu:.2f}"
        per = "n/a" if r.worker_cpu is None else f"{r.worker_cpu / r.steady_events * 1e6:.0f}"
        spread = f"  {low:6.0f}-{high:.0f}" if len(rounds) > 1 else ""
        lines.append(
            f"{r.workers:7d}  {r.wall:6.2f}  {r.rate:8.0f}  {r.steady_rate:11.0f}  "
            f"{r.steady_rate / base:4.2f}x  {cpu:>12}  {per:>9}  {r.redis_cpu:11.2f}{spread}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workers", type=_worker_counts, default=[1, 2, 3],
                        help="worker counts to compare, in this order (1,2,3)")  # fmt: skip
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every worker count, interleaved; the median round is shown (1)",
    )
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--url", default=None, help="an existing server (default: start one)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    if args.events < 20:
        parser.error(f"--events must be >= 20 (the steady window is 5%..95%), got {args.events}")
    server = None
    tmp = None
    if args.url is None:
        binary = shutil.which("redis-server")
        if binary is None:
            print("redis-server not found: apt-get install redis-server, or pass --url")
            return 2
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        tmp = tempfile.TemporaryDirectory()
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp.name],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}"
        for _ in range(200):
            try:
                _command(port, "PING")
                break
            except OSError:
                time.sleep(0.02)
    else:
        url = args.url
        port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        print(
            f"cores: {os.cpu_count()}, events: {args.events}, partitions: {args.partitions}, "
            f"backend: {args.backend}"
        )
        rounds = [
            [
                run(
                    url,
                    port,
                    events=args.events,
                    partitions=args.partitions,
                    workers=n,
                    backend=args.backend,
                    tag=f"r{i}",
                )
                for n in args.workers
            ]
            for i in range(args.repeat)
        ]
        print(table(rounds))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
