"""The reference pipeline at moderate load, in instructions per line: a figure noise cannot move.

    python -m bench.instructions                 # batches of 5 and 11 lines, both backends
    python -m bench.instructions --batch 5 --backend trio

``bench.services`` measures the paced pipeline's CPU% (process time over wall time) in
real time. At 5-20k lines/s that is 5-20% of a core, and on a shared machine the same
run moves by a third between two attempts. This measures what the CPU% stands for with
no timing at all: each candidate runs under valgrind's callgrind, fed ``B`` batches of
``k`` lines with a 10 ms sleep after each batch (the shape a paced source has: its
timer releases the lines that are due, then it sleeps), and the figure is

    (instructions with B2 batches - instructions with B1 batches) / ((B2 - B1) * k)

so start-up, imports and the run's set-up cancel out: what is left is the user-space
instructions per line, for every part of the pipeline, the event loop included. It is
exact and repeatable to a fraction of a percent. What it does not count is kernel time
(``epoll_wait`` and friends, roughly one call per event-loop iteration for every
candidate) and cache effects, so it complements the CPU% rows, it does not replace them.

A paced source at 5k lines/s releases about 5 lines per timer tick on asyncio (its
timers wake at millisecond granularity) and at 20k lines/s about 11 (``k`` = 5 and 11).
Ratio = the asyncio textbook's instructions per line / the candidate's (> 1: fewer).
Skipped, with a message, where valgrind is not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator

CANDIDATES = [
    ("asyncio textbook", "asyncio"),
    ("anystream ordered", "asyncio"),
    ("anystream unordered", "asyncio"),
    ("trio textbook", "trio"),
    ("anystream ordered", "trio"),
    ("anystream unordered", "trio"),
]
GAP = 0.01  # long enough that a batch is done before the next, even under valgrind
LINES = 3_000  # made once per process, whatever B is, so that it cancels out


def child(name: str, backend: str, batches: int, k: int) -> None:
    """One candidate fed ``batches`` batches of ``k`` lines (run under valgrind)."""
    import anyio

    from bench import services
    from bench.workload import make_lines

    made = make_lines(LINES)

    async def batched(lines: list[str], rate: float | None) -> AsyncIterator[services.Stamped]:
        for b in range(batches):
            for line in lines[b * k : (b + 1) * k]:
                yield (0.0, line)
            await anyio.sleep(GAP)

    services._paced = batched  # the paced source, with its timer replaced by batches

    async def main() -> int:
        run = await services._pipeline(name, made, 1.0)()
        return len(run.results)  # not the run itself: its repr would be counted

    if anyio.run(main, backend=backend) == 0:
        raise SystemExit("no results")


def instructions(name: str, backend: str, batches: int, k: int) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--child",
        name,
        backend,
        str(batches),
        str(k),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
    for line in proc.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise RuntimeError(f"callgrind gave no count for {name} on {backend}:\n{proc.stderr[-2000:]}")


def per_line(name: str, backend: str, k: int, b1: int, b2: int) -> float:
    low = instructions(name, backend, b1, k)
    high = instructions(name, backend, b2, k)
    return (high - low) / ((b2 - b1) * k)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", action="append", type=int, help="lines per batch (5, 11)")
    parser.add_argument("--backend", action="append", choices=("asyncio", "trio"))
    parser.add_argument("--batches", type=int, nargs=2, default=(50, 250), metavar=("B1", "B2"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, backend, batches, k = args.child
        child(name, backend, int(batches), int(k))
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing measured (apt-get install valgrind)")
        return
    backends = set(args.backend or ("asyncio", "trio"))
    b1, b2 = args.batches
    print(f"user-space instructions per line (callgrind), batches of k lines, {b1} vs {b2}")
    print(
        f"{'candidate':22s} {'backend':8s} {'k':>3s} {'instr/line':>11s}"
        f" {'vs asyncio textbook':>20s}"
    )
    for k in args.batch or (5, 11):
        base = per_line("asyncio textbook", "asyncio", k, b1, b2)
        for name, backend in CANDIDATES:
            if backend not in backends and name != "asyncio textbook":
                continue
            mine = base if name == "asyncio textbook" else per_line(name, backend, k, b1, b2)
            print(f"{name:22s} {backend:8s} {k:3d} {mine:11.0f} {base / mine:19.2f}x")


if __name__ == "__main__":
    main()
