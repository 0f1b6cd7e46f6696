"""Issue 2's benchmark: the reference chain through anystream, fused and buffered.

N raw CSV lines -> parse (drops the malformed 1 in 8) -> where (severity >= info) ->
map (enrich), measured against the hand-written baselines of ``bench/baselines.py``:

- ``anystream_fused``: ``from_iterable(lines) | parse | where | map``, collected. No
  staged operator, so the whole chain is one generated loop in the caller's task.
- ``anystream_buffered``: the same with ``buffered(50)`` after the source and after every
  stage (four hand-offs, one task per segment): the topology of the asyncio.Queue(50)
  pipeline, stage for stage.

Every result (warm-up runs included) is checked in full against the plainest loop, so
ordering and completeness through the buffers are verified, not assumed.

    python -m bench.pipeline                 # N=200000, best of 5, asyncio and trio
    python -m bench.pipeline --quick         # N=50000, best of 3
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from anystream import buffered, from_iterable, map, parse, where
from bench.baselines import BASELINES
from bench.harness import BACKENDS, Candidate, Result, compare, format_table
from bench.workload import (
    EnrichedEvent,
    check_output,
    enrich,
    expected_output,
    is_relevant,
    make_lines,
    parse_line,
)

HOP = 50


async def anystream_fused(lines: list[str]) -> list[EnrichedEvent]:
    return await (
        from_iterable(lines) | parse(parse_line) | where(is_relevant) | map(enrich)
    ).collect()


async def anystream_buffered(lines: list[str]) -> list[EnrichedEvent]:
    s = (
        from_iterable(lines)
        | buffered(HOP)
        | parse(parse_line)
        | buffered(HOP)
        | where(is_relevant)
        | buffered(HOP)
        | map(enrich)
        | buffered(HOP)
    )
    return await s.collect()


CANDIDATES: dict[str, Candidate] = {
    **BASELINES,
    "anystream_fused": Candidate("anystream_fused", anystream_fused),
    "anystream_buffered": Candidate("anystream_buffered", anystream_buffered),
}

#: (candidate, baseline, issue 2 target, issue 9 target): speed ratios.
TARGETS: list[tuple[str, str, float | None, float]] = [
    ("anystream_fused", "async_generator_chain", 0.9, 1.0),
    ("anystream_fused", "sync_loop", None, 0.7),
    ("anystream_fused", "aiostream_chain", None, 3.0),
    ("anystream_buffered", "asyncio_queue_pipeline", 1.0, 2.0),
    ("anystream_buffered", "anyio_stream_pipeline", None, 15.0),
    # issue 20: the trio-native textbook (memory channels), on trio only.
    ("anystream_buffered", "trio_channel_pipeline", None, 10.0),
]


def target_rows(results: Sequence[Result]) -> list[tuple[str, str, str, float, str]]:
    """``(what, vs, backend, ratio, verdict)`` for every target that was measured.

    The trio rows of the asyncio-only baselines compare a trio run with the asyncio
    baseline (there is no trio asyncio.Queue): the issue's targets are "on asyncio and
    on trio", so the cross-backend ratio is the one that says whether trio users get it.
    """
    best = {(r.name, r.backend): r.best for r in results}
    rows = []
    for name, base, t2, t9 in TARGETS:
        for backend in BACKENDS:
            if (name, backend) not in best:
                continue
            base_backend = backend if (base, backend) in best else "asyncio"
            if (base, base_backend) not in best:
                continue
            value = best[base, base_backend] / best[name, backend]
            label = base if base_backend == backend else f"{base} (asyncio)"
            targets = ([f">= {t2:g}x"] if t2 is not None else []) + [f">= {t9:g}x"]
            verdict = (
                "ok"
                if value >= t9
                else ("issue 2 ok" if t2 is not None and value >= t2 else "BELOW")
            )
            rows.append((name, label, backend, value, f"{' / '.join(targets)}: {verdict}"))
    return rows


def format_targets(results: Sequence[Result]) -> str:
    rows = target_rows(results)
    if not rows:
        return "(no target measured)"
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    out = [f"{'candidate':<{w0}}  {'vs':<{w1}}  {'backend':<8} {'ratio':>7}  target (issue 2 / 9)"]
    out.append("-" * len(out[0]))
    for name, base, backend, value, verdict in rows:
        out.append(f"{name:<{w0}}  {base:<{w1}}  {backend:<8} {value:>6.2f}x  {verdict}")
    return "\n".join(out)


def run(
    n: int, repeat: int, warmup: int, backends: Sequence[str], only: Sequence[str] | None = None
) -> list[Result]:
    lines = make_lines(n)
    expected = expected_output(lines)
    names = only or list(CANDIDATES)
    return compare(
        [CANDIDATES[name] for name in names],
        lines,
        backends=backends,
        repeat=repeat,
        warmup=warmup,
        check=lambda result: check_output(result, expected),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=None, help="input lines (default 200000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="N=50000, best of 3")
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--only", action="append", choices=CANDIDATES)
    args = parser.parse_args(argv)
    n = args.n or (50_000 if args.quick else 200_000)
    repeat = args.repeat or (3 if args.quick else 5)
    results = run(n, repeat, args.warmup, args.backend or BACKENDS, args.only)
    print(f"N={n} lines, best of {repeat}; output checked in full on every run")
    print(format_table(results, n, baseline="async_generator_chain"))
    print()
    print(format_targets(results))


if __name__ == "__main__":
    main()
