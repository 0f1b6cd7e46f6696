"""A tiny measuring harness: ratios within one process run, never absolute thresholds.

The machine is shared and noisy, so:

- each timed run is one ``anyio.run()`` whose coroutine reads ``perf_counter()`` itself,
  which keeps event-loop start-up and teardown out of the figure;
- ``gc.collect()`` runs just before the clock starts, so one candidate does not pay for the
  garbage the previous one left behind;
- :func:`compare` interleaves candidates (A B C, B C A, C A B, ...) instead of running all
  of A then all of B, so a burst of load from a neighbour hits every candidate alike;
- the reported figure is the best run: noise only ever adds time, so the minimum is the
  most repeatable estimate of what the code costs (the median is kept as a noise gauge).

Dependency-free (stdlib + anyio) so it can time anything, anystream included.
"""

from __future__ import annotations

import gc
import inspect
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import anyio

BACKENDS = ("asyncio", "trio")

Check = Callable[[Any], None]


@dataclass(frozen=True)
class Candidate:
    """Something to time: ``fn(*args)``, sync or async, on the listed backends."""

    name: str
    fn: Callable[..., Any]
    backends: tuple[str, ...] = BACKENDS


@dataclass
class Result:
    name: str
    backend: str
    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


async def _timed(fn: Callable[..., Any], args: tuple[Any, ...], check: Check | None) -> float:
    gc.collect()
    start = perf_counter()
    result = fn(*args)
    if inspect.isawaitable(result):  # lets a plain sync function be a candidate too
        result = await result
    elapsed = perf_counter() - start
    if check is not None:  # outside the timed region
        check(result)
    return elapsed


def run_once(
    fn: Callable[..., Any],
    *args: Any,
    backend: str,
    check: Check | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> float:
    """Seconds taken by one call of ``fn(*args)`` inside a fresh ``anyio.run()``."""
    elapsed: float = anyio.run(
        _timed,
        fn,
        args,
        check,
        backend=backend,
        backend_options=dict(backend_options) if backend_options is not None else None,
    )
    return elapsed


def measure(
    fn: Callable[..., Any],
    *args: Any,
    backend: str,
    repeat: int = 5,
    warmup: int = 1,
    check: Check | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> float:
    """Best of ``repeat`` timed runs (seconds) after ``warmup`` untimed ones."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    times = [
        run_once(fn, *args, backend=backend, check=check, backend_options=backend_options)
        for _ in range(warmup + repeat)
    ]
    return min(times[warmup:])


def compare(
    candidates: Iterable[Candidate],
    *args: Any,
    backends: Sequence[str] = BACKENDS,
    repeat: int = 5,
    warmup: int = 1,
    check: Check | None = None,
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Result]:
    """Time every candidate on every backend it supports, interleaved round by round.

    ``check`` sees every result (including warm-up runs) and should raise if it is wrong.
    ``backend_options`` maps a backend name to its ``anyio.run`` options.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    slots = [(c, b) for c in candidates for b in backends if b in c.backends]
    if not slots:
        raise ValueError("no candidate supports the requested backends")
    results = {(c.name, b): Result(c.name, b) for c, b in slots}
    options = backend_options or {}
    for round_ in range(warmup + repeat):
        # Rotate the starting point each round so no candidate always runs right after
        # the same neighbour or at the same point of the round.
        shift = round_ % len(slots)
        for cand, backend in slots[shift:] + slots[:shift]:
            elapsed = run_once(
                cand.fn, *args, backend=backend, check=check, backend_options=options.get(backend)
            )
            if round_ >= warmup:
                results[cand.name, backend].times.append(elapsed)
    return list(results.values())


def ratio(results: Iterable[Result], name: str, baseline: str, backend: str) -> float:
    """Speed of ``name`` relative to ``baseline`` on ``backend``: > 1 means faster."""
    best = {(r.name, r.backend): r.best for r in results}
    return best[baseline, backend] / best[name, backend]


def format_table(results: Sequence[Result], n_items: int, baseline: str | None = None) -> str:
    """One row per candidate and backend: us/item, items/s, noise, speed vs ``baseline``.

    ``vs base`` is baseline time / candidate time on the same backend (0.5x = half as fast).
    ``noise`` is median/best - 1: when it is large, distrust small ratio differences.
    """
    base = {r.backend: r.best for r in results if r.name == baseline}
    width = max(len("candidate"), *(len(r.name) for r in results))
    header = f"{'candidate':<{width}}  {'backend':<8} {'us/item':>8} {'items/s':>10} {'noise':>6}"
    if baseline is not None:
        header += f" {'vs ' + baseline:>{len(baseline) + 4}}"
    rows = [header, "-" * len(header)]
    for backend in dict.fromkeys(r.backend for r in results):
        for r in (r for r in results if r.backend == backend):
            row = (
                f"{r.name:<{width}}  {r.backend:<8} {r.best / n_items * 1e6:>8.2f}"
                f" {n_items / r.best:>10,.0f} {r.median / r.best - 1:>6.1%}"
            )
            if baseline is not None:
                cell = f"{base[backend] / r.best:.2f}x" if backend in base else "-"
                row += f" {cell:>{len(baseline) + 4}}"
            rows.append(row)
    return "\n".join(rows)


def print_table(results: Sequence[Result], n_items: int, baseline: str | None = None) -> None:
    print(format_table(results, n_items, baseline))
