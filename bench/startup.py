"""Benchmark F: ``python -c "import anystream"`` against ``python -c "import anyio"``.

Each command is run ``--runs`` times as a fresh subprocess, the two interleaved so that
noise hits both alike; the best and median wall times are reported and the ratio of the
best times (anystream / anyio; the target is <= 1.5). hyperfine would do the same; it is
not needed.

It also checks, in a fresh interpreter, that ``import anystream`` imports none of the
optional dependencies (trio, aiostream, coredis, rich, opentelemetry): a user without
them must be able to import the package, and one with them must not pay for them.

    python -m bench.startup                # 30 runs each
    python -m bench.startup --runs 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from time import perf_counter

OPTIONAL = ("trio", "aiostream", "coredis", "rich", "opentelemetry")
COMMANDS = {
    "anyio": "import anyio",
    "anystream": "import anystream",
    # For reference: the parts of anyio a pipeline runtime cannot avoid loading (anyio
    # itself imports these lazily, on first use), i.e. the floor for an eager import.
    "anyio_used": "import anyio.streams.memory, anyio.lowlevel; from anyio import CancelScope",
}


def _time(code: str) -> float:
    start = perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return perf_counter() - start


@dataclass
class StartupResult:
    times: dict[str, list[float]]
    optional_imported: list[str]
    top_imports: list[tuple[str, float]]

    def best(self, name: str) -> float:
        return min(self.times[name])

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    @property
    def ratio(self) -> float:
        return self.best("anystream") / self.best("anyio")


def optional_modules_imported() -> list[str]:
    """Optional dependencies present in ``sys.modules`` after ``import anystream``."""
    code = "import sys, json, anystream; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    modules = json.loads(out.stdout)
    return [m for m in modules if m.split(".", 1)[0] in OPTIONAL]


def import_profile(limit: int = 8) -> list[tuple[str, float]]:
    """anystream's own modules by cumulative import time (``-X importtime``), slowest first."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import anystream"],
        check=True,
        capture_output=True,
        text=True,
    )
    rows: list[tuple[str, float]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if cumulative.isdigit():
            rows.append((name, int(cumulative) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:limit]


def run(runs: int = 30) -> StartupResult:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():  # warm the OS file cache, untimed
        _time(code)
    for i in range(runs):
        order = list(COMMANDS.items())
        if i % 2:
            order.reverse()
        for name, code in order:
            times[name].append(_time(code))
    return StartupResult(times, optional_modules_imported(), import_profile())


def format_result(r: StartupResult) -> str:
    lines = [f"{'name':<11} {'best ms':>8} {'median ms':>10}  command"]
    for name, code in COMMANDS.items():
        lines.append(
            f"{name:<11} {r.best(name) * 1e3:>8.1f} {r.median(name) * 1e3:>10.1f}"
            f"  python -c {code!r}"
        )
    lines.append(f"ratio anystream / anyio (best): {r.ratio:.2f}  (target <= 1.5)")
    lines.append(
        f"ratio anyio_used / anyio (best): {r.best('anyio_used') / r.best('anyio'):.2f}"
        "  (the floor for an import that loads anyio's memory streams eagerly)"
    )
    lines.append(
        "optional dependencies imported by 'import anystream': "
        + (", ".join(r.optional_imported) or "none")
    )
    lines.append(
        "slowest imports (cumulative): "
        + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in r.top_imports[:5])
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=30, help="subprocess runs per command")
    args = parser.parse_args(argv)
    print(format_result(run(args.runs)))


if __name__ == "__main__":
    main()
