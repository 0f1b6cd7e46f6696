"""Issue 20's service benchmarks, as ratios measured in one run (process CPU time first).

    python -m bench.services            # full sizes (a few minutes)
    python -m bench.services --quick    # smaller sizes, best of 3
    python -m bench.services --only map_async --only windows --only aiostream

Every figure is the best of ``repeat`` runs, each its own ``anyio.run()``, with candidates
interleaved round by round (rotating start). The primary figure is **process CPU time**
(``time.process_time``): on a shared machine a neighbour's load steals wall time from
whichever candidate happens to run, but hardly changes the CPU the process itself spends.
Wall time (``perf_counter``) is kept as the secondary ratio. ``ratio`` = baseline time /
anystream time (> 1: anystream is faster).

1. ``map_async(f, concurrency=c, ordered=o)`` with a zero-latency coroutine, ``c`` in
   1, 2, 4, 8, 16, 64, ordered and unordered, on asyncio and trio, against the textbook
   worker pool of the same backend (bench/_asyncio_baselines.py, bench/_trio_baselines.py).
   Targets (issue 20): >= 1.0x everywhere, >= 1.5x from c = 8 up.
2. keyed event-time ``tumbling_window(size, key=, time=, aggregate=)`` counting per key and
   window over 200k events (20k with ``--quick``), with 10 keys and with 100k keys,
   against a hand-written async-generator loop doing the same counting.
   Target: >= 0.33x at 100k keys.
3. aiostream (asyncio only, if installed) on section A's chain of bench/run.py, fed from a
   list (``stream.iterate(list)``) and from an async generator, against anystream's fused
   chain: a figure, no target here (bench/run.py holds A's target).

Nothing asserts on time; outputs are checked in full outside the timed region.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import operator
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter, process_time
from typing import Any

import anyio

from anystream import buffered, from_iterable, map_async, parse, tumbling_window, where
from bench.baselines import _is_relevant_event, _parse_or_none
from bench.pipeline import anystream_fused
from bench.workload import (
    EnrichedEvent,
    check_output,
    enrich,
    expected_output,
    is_relevant,
    make_lines,
    parse_line,
)

BACKENDS = ("asyncio", "trio")
CONCURRENCIES = (1, 2, 4, 8, 16, 64)
SECTIONS = ("map_async", "windows", "aiostream", "pipeline")


# -- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One thing to time: ``fn()`` (async) on ``backend``; ``check`` sees its result."""

    name: str
    backend: str
    fn: Callable[[], Any]
    check: Callable[[Any], None]


@dataclass
class Timing:
    cpu: list[float] = field(default_factory=list[float])
    wall: list[float] = field(default_factory=list[float])

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)

    @property
    def best_wall(self) -> float:
        return min(self.wall)


async def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    gc.collect()
    cpu0, wall0 = process_time(), perf_counter()
    result = await fn()
    return process_time() - cpu0, perf_counter() - wall0, result


def run_slots(slots: Sequence[Slot], repeat: int, warmup: int = 1) -> dict[tuple[str, str], Timing]:
    """Every slot ``warmup + repeat`` times, interleaved with a rotating start."""
    timings = {(s.name, s.backend): Timing() for s in slots}
    for round_ in range(warmup + repeat):
        shift = round_ % len(slots)
        for slot in [*slots[shift:], *slots[:shift]]:
            cpu, wall, result = anyio.run(_timed, slot.fn, backend=slot.backend)
            slot.check(result)
            if round_ >= warmup:
                t = timings[slot.name, slot.backend]
                t.cpu.append(cpu)
                t.wall.append(wall)
    return timings


@dataclass
class Row:
    what: str
    backend: str
    figure: str
    ratio: float
    wall_ratio: float
    target: float | None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "-"
        return "ok" if self.ratio >= self.target else "BELOW TARGET"


def _row(
    what: str,
    backend: str,
    n: int,
    unit: str,
    mine: Timing,
    base: Timing,
    target: float | None,
) -> Row:
    return Row(
        what,
        backend,
        f"{mine.best_cpu / n * 1e6:.2f} us/{unit} cpu",
        base.best_cpu / mine.best_cpu,
        base.best_wall / mine.best_wall,
        target,
    )


# -- 1. map_async sweep ---------------------------------------------------------------------


async def _zero(x: int) -> int:
    return x


def _anystream_map(n: int, c: int, ordered: bool) -> Callable[[], Any]:
    async def go() -> list[int]:
        s = from_iterable(range(n)) | map_async(_zero, concurrency=c, ordered=ordered)
        return await s.collect()

    return go


def _pool(backend: str, n: int, c: int, ordered: bool) -> Callable[[], Any]:
    async def go() -> list[int]:
        if backend == "asyncio":
            from bench._asyncio_baselines import worker_pool
        else:
            from bench._trio_baselines import worker_pool
        return await worker_pool(_zero, n, c, ordered)

    return go


def section_map_async(n: int, repeat: int, backends: Sequence[str]) -> list[Row]:
    expected = list(range(n))

    def check_ordered(result: Any) -> None:
        if result != expected:
            raise AssertionError("ordered output differs from the input")

    def check_unordered(result: Any) -> None:
        if sorted(result) != expected:
            raise AssertionError("unordered output is not a permutation of the input")

    slots: list[Slot] = []
    for backend in backends:
        for c in CONCURRENCIES:
            for ordered in (True, False):
                check = check_ordered if ordered else check_unordered
                tag = f"c={c} {'ordered' if ordered else 'unordered'}"
                slots.append(
                    Slot(f"anystream {tag}", backend, _anystream_map(n, c, ordered), check)
                )
                slots.append(Slot(f"pool {tag}", backend, _pool(backend, n, c, ordered), check))
    t = run_slots(slots, repeat)
    rows: list[Row] = []
    for backend in backends:
        for ordered in (True, False):
            for c in CONCURRENCIES:
                tag = f"c={c} {'ordered' if ordered else 'unordered'}"
                pool = "asyncio.Queue pool" if backend == "asyncio" else "trio channel pool"
                rows.append(
                    _row(
                        f"map_async(zero, concurrency={c}, ordered={ordered}) vs {pool}",
                        backend,
                        n,
                        "item",
                        t[f"anystream {tag}", backend],
                        t[f"pool {tag}", backend],
                        1.5 if c >= 8 else 1.0,
                    )
                )
    return rows


# -- 2. keyed event-time tumbling count -----------------------------------------------------

WINDOW = 10.0
EVENTS_PER_SECOND = 1_000  # 10,000 events per window: 20 windows at 200k events

Event = tuple[float, int]
Counted = tuple[float, int, int]  # (window start, key, count)


def make_events(n: int, keys: int) -> list[Event]:
    # A stride coprime with every key count used spreads the keys over each window.
    return [(i / EVENTS_PER_SECOND, (i * 7_919) % keys) for i in range(n)]


def _count(acc: int, _event: Event) -> int:
    return acc + 1


async def anystream_keyed_count(events: list[Event]) -> list[Counted]:
    s = from_iterable(events) | tumbling_window(
        WINDOW, key=operator.itemgetter(1), time=operator.itemgetter(0), aggregate=(int, _count)
    )
    return [(w.start, w.key, w.value) for w in await s.collect()]


async def _source(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def _count_windows(events: AsyncIterator[Event]) -> AsyncIterator[Counted]:
    """Per-key counts per window; a window closes when an event of a later one arrives.

    The events are in time order (so no lateness handling is needed); keys of a window are
    emitted in the order they first appeared, as ``tumbling_window`` does.
    """
    start: float | None = None
    counts: dict[int, int] = {}
    async for ts, key in events:
        window_start = ts - ts % WINDOW
        if window_start != start:
            if start is not None:
                for k, n in counts.items():
                    yield (start, k, n)
            start, counts = window_start, {}
        counts[key] = counts.get(key, 0) + 1
    if start is not None:
        for k, n in counts.items():
            yield (start, k, n)


async def hand_written_keyed_count(events: list[Event]) -> list[Counted]:
    return [w async for w in _count_windows(_source(events))]


def _bind(
    fn: Callable[[list[Event]], Awaitable[list[Counted]]], events: list[Event]
) -> Callable[[], Awaitable[list[Counted]]]:
    return lambda: fn(events)


def section_windows(n: int, repeat: int, backends: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    for keys in (10, 100_000):
        events = make_events(n, keys)
        expected = anyio.run(hand_written_keyed_count, events)

        def check(result: Any, expected: list[Counted] = expected) -> None:
            if result != expected:
                raise AssertionError(f"window counts differ: {result[:2]} vs {expected[:2]}")

        slots = [
            Slot(name, backend, _bind(fn, events), check)
            for backend in backends
            for name, fn in (
                ("anystream", anystream_keyed_count),
                ("hand-written", hand_written_keyed_count),
            )
        ]
        t = run_slots(slots, repeat)
        for backend in backends:
            rows.append(
                _row(
                    f"tumbling_window(key=, time=, aggregate=) {n:,} events, {keys:,} keys,"
                    f" {len(expected):,} windows vs async-gen loop",
                    backend,
                    n,
                    "event",
                    t["anystream", backend],
                    t["hand-written", backend],
                    0.33 if keys == 100_000 else None,
                )
            )
    return rows


# -- 3. aiostream, list source and async-generator source -------------------------------------


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _aiostream(lines: list[str], from_agen: bool) -> list[EnrichedEvent]:
    from aiostream import pipe, stream  # optional, benchmark only (GPL: never copied)

    source = stream.iterate(_lines(lines) if from_agen else lines)
    xs = (
        source
        | pipe.map(_parse_or_none)  # type: ignore[arg-type]
        | pipe.filter(_is_relevant_event)
        | pipe.map(enrich)  # type: ignore[arg-type]
        | pipe.list()
    )
    result: list[EnrichedEvent] = await xs
    return result


def section_aiostream(n: int, repeat: int) -> list[Row]:
    if importlib.util.find_spec("aiostream") is None:
        print("aiostream is not installed: section 3 skipped")
        return []
    lines = make_lines(n)
    expected = expected_output(lines)

    def check(result: Any) -> None:
        check_output(result, expected)

    slots = [
        Slot("anystream_fused", "asyncio", lambda: anystream_fused(lines), check),
        Slot("aiostream list", "asyncio", lambda: _aiostream(lines, False), check),
        Slot("aiostream agen", "asyncio", lambda: _aiostream(lines, True), check),
    ]
    t = run_slots(slots, repeat)
    return [
        _row(
            f"section A chain, anystream fused vs aiostream fed from {label}",
            "asyncio",
            n,
            "line",
            t["anystream_fused", "asyncio"],
            t[name, "asyncio"],
            None,
        )
        for name, label in (("aiostream list", "a list"), ("aiostream agen", "an async gen"))
    ]


# -- 4. the reference pipeline, unpaced and paced -------------------------------------------
#
# parse -> where -> buffered(50) -> map_async(enrich, concurrency=8) -> sink, on items
# ``(scheduled time, line)`` from an async generator. Unpaced, the generator never waits
# (saturation: CPU time per line). Paced, it releases each line at its scheduled time
# (every line due when it wakes, then sleeps until the next one): the sink records the
# latency from the scheduled time, the run records its CPU% (process time / wall time).

Stamped = tuple[float, Any]
WORKERS = 8


async def _paced(lines: list[str], rate: float | None) -> AsyncIterator[Stamped]:
    if rate is None:
        for line in lines:
            yield (0.0, line)
        return
    start = perf_counter()
    i, n = 0, len(lines)
    while i < n:
        due = min(n, int((perf_counter() - start) * rate) + 1)
        while i < due:
            yield (start + i / rate, lines[i])
            i += 1
        await anyio.sleep(max(0.0, start + i / rate - perf_counter()))


def _parse_stamped(item: Stamped) -> Stamped:
    return (item[0], parse_line(item[1]))


def _relevant_stamped(item: Stamped) -> bool:
    return is_relevant(item[1])


async def _enrich_stamped(item: Stamped) -> Stamped:
    return (item[0], enrich(item[1]))


@dataclass
class PipelineRun:
    """What one run of a reference-pipeline candidate measured."""

    cpu: float
    wall: float
    latencies: list[float]
    results: list[EnrichedEvent]


def _pipeline(candidate: str, lines: list[str], rate: float | None) -> Callable[[], Any]:
    async def go() -> PipelineRun:
        latencies: list[float] = []
        results: list[EnrichedEvent] = []
        paced = rate is not None

        def sink(item: Stamped) -> None:
            if paced:
                latencies.append(perf_counter() - item[0])
            results.append(item[1])

        gc.collect()  # as _timed does: no candidate pays for another's garbage
        cpu0, wall0 = process_time(), perf_counter()
        source = _paced(lines, rate)
        if candidate.startswith("anystream"):
            s = (
                from_iterable(source)
                | parse(_parse_stamped)
                | where(_relevant_stamped)
                | buffered(50)
                | map_async(
                    _enrich_stamped, concurrency=WORKERS, ordered=candidate == "anystream ordered"
                )
            )
            async with s.stream() as items:
                async for item in items:
                    sink(item)
        elif candidate == "asyncio textbook":
            from bench._asyncio_baselines import reference_pipeline

            await reference_pipeline(
                source, _parse_stamped, _relevant_stamped, _enrich_stamped, sink, WORKERS
            )
        else:
            from bench._trio_baselines import reference_pipeline as trio_pipeline

            await trio_pipeline(
                source, _parse_stamped, _relevant_stamped, _enrich_stamped, sink, WORKERS
            )
        return PipelineRun(process_time() - cpu0, perf_counter() - wall0, latencies, results)

    return go


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def section_pipeline(n: int, seconds: float, repeat: int, backends: Sequence[str]) -> list[Row]:
    """The reference pipeline unpaced (CPU time) and paced at 5k and 20k lines/s (CPU%)."""
    lines = make_lines(n)
    expected = expected_output(lines)
    candidates = [("anystream ordered", b) for b in backends]
    candidates += [("anystream unordered", b) for b in backends]
    candidates += [("asyncio textbook", "asyncio")]
    if "trio" in backends:
        candidates += [("trio textbook", "trio")]

    def check(result: Any, ordered: bool, expected: list[EnrichedEvent]) -> None:
        got = result.results
        if ordered:
            check_output(got, expected)
        elif sorted(got) != sorted(expected):
            raise AssertionError("the unordered pipeline lost or added results")

    rows: list[Row] = []
    for rate in (None, 5_000.0, 20_000.0):
        best: dict[tuple[str, str], PipelineRun] = {}
        use = lines if rate is None else lines[: int(rate * seconds)]
        want = expected if rate is None else expected_output(use)
        for round_ in range(1 + repeat):
            shift = round_ % len(candidates)
            for name, backend in [*candidates[shift:], *candidates[:shift]]:
                run = anyio.run(_pipeline(name, use, rate), backend=backend)
                check(run, name == "anystream ordered", want)
                key = (name, backend)
                if round_ and (key not in best or run.cpu < best[key].cpu):
                    best[key] = run
        base = best["asyncio textbook", "asyncio"]
        for name, backend in candidates:
            if name == "asyncio textbook":
                continue
            mine = best[name, backend]
            if rate is None:
                rows.append(
                    Row(
                        f"reference pipeline unpaced, {name} vs asyncio textbook",
                        backend,
                        f"{mine.cpu / len(use) * 1e6:.2f} us/line cpu",
                        base.cpu / mine.cpu,
                        base.wall / mine.wall,
                        1.2 if name == "anystream ordered" and backend == "asyncio" else None,
                    )
                )
                continue
            lat = mine.latencies
            base_pct = 100 * base.cpu / base.wall
            figure = (
                f"cpu {100 * mine.cpu / mine.wall:.0f}% (textbook {base_pct:.0f}%)"
                f" p50/p99/max {_pct(lat, 0.5) * 1e3:.2f}/{_pct(lat, 0.99) * 1e3:.2f}/"
                f"{max(lat) * 1e3:.1f} ms (textbook {_pct(base.latencies, 0.5) * 1e3:.2f}/"
                f"{_pct(base.latencies, 0.99) * 1e3:.2f}/{max(base.latencies) * 1e3:.1f})"
            )
            target = None
            if name == "anystream ordered":
                target = 1.0 if backend == "asyncio" else 1 / 1.5
            rows.append(
                Row(
                    f"reference pipeline paced {rate / 1000:g}k lines/s, {name}: cpu% vs textbook",
                    backend,
                    figure,
                    (base.cpu / base.wall) / (mine.cpu / mine.wall),
                    base.wall / mine.wall,
                    target,
                )
            )
    return rows


# -- table ----------------------------------------------------------------------------------


def format_rows(rows: Sequence[Row]) -> str:
    w = max(len(r.what) for r in rows)
    header = (
        f"{'what':<{w}}  {'backend':<8} {'figure (anystream)':>22} {'cpu ratio':>9}"
        f" {'wall':>6}  {'target':<7} verdict"
    )
    out = [header, "-" * len(header)]
    for r in rows:
        target = "-" if r.target is None else f">= {r.target:g}x"
        out.append(
            f"{r.what:<{w}}  {r.backend:<8} {r.figure:>22} {r.ratio:>8.2f}x"
            f" {r.wall_ratio:>5.2f}x  {target:<7} {r.verdict}"
        )
    return "\n".join(out)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, best of 3")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="repeatable")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeatable")
    args = parser.parse_args(argv)
    sections = set(args.only or SECTIONS)
    backends = tuple(args.backend or BACKENDS)
    quick: bool = args.quick
    repeat = 3 if quick else 5
    print(f"load average at start: {_load()}")
    rows: list[Row] = []
    if "map_async" in sections:
        rows += section_map_async(10_000 if quick else 50_000, repeat, backends)
    if "windows" in sections:
        rows += section_windows(20_000 if quick else 200_000, repeat, backends)
    if "aiostream" in sections and "asyncio" in backends:
        rows += section_aiostream(50_000 if quick else 200_000, repeat)
    if "pipeline" in sections:
        rows += section_pipeline(
            50_000 if quick else 100_000, 2.0 if quick else 5.0, repeat, backends
        )
    print(
        f"anystream service benchmarks ({'quick' if quick else 'full'}), best of {repeat}:"
        " ratio = baseline time / anystream time on the same backend (> 1: anystream faster);"
        " cpu = process_time (primary), wall = perf_counter"
    )
    print(format_rows(rows))
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
