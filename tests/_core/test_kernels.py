"""kernels.py: the instruction set as data, the reference interpreter and its switch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import anyio
import pytest

from anystream import Stream, buffered, from_iterable, map, parse, take, where
from anystream._core import fuse
from anystream._core.kernels import KINDS, drop_reason, interpret
from anystream._core.operator import Kernel, KernelKind
from anystream._core.stats import StageCounts

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_table_covers_every_kernel_kind() -> None:
    assert set(KINDS) == set(get_args(KernelKind))
    assert {kind: drop_reason(kind) for kind in KINDS} == {
        "map": "dropped",
        "amap": "dropped",
        "filter": "filtered",
        "afilter": "filtered",
        "parse": "malformed",
        "take": "dropped",
    }
    assert [k for k, spec in KINDS.items() if spec.awaits] == ["amap", "filter", "afilter"]
    assert [k for k, spec in KINDS.items() if spec.limit] == ["take"]


def _pipeline(items: list[str]) -> Stream[int]:
    return (
        from_iterable(items)
        | parse(int)
        | where(lambda x: x % 3 != 0)
        | buffered(2)
        | map(lambda x: x * 10)
        | take(4)
    )


ITEMS = ["1", "x", "3", "4", "5", "", "7", "8", "9", "10"]


def _figures(s: Stream[Any]) -> list[tuple[str, int, int, dict[str, int]]]:
    return [(op.name, op.received, op.emitted, dict(op.dropped)) for op in s.stats().operators]


@pytest.mark.anyio
async def test_a_pipeline_gives_the_same_items_and_stats_without_fusion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with anyio.fail_after(10):
        fused = _pipeline(ITEMS)
        expected = await fused.collect()
        monkeypatch.setattr(fuse, "FUSE", False)
        assert fuse.compile_kernels([], "iter", "list").__module__ == "anystream._core.kernels"
        interpreted = _pipeline(ITEMS)
        assert await interpreted.collect() == expected == [10, 40, 50, 70]
        assert _figures(interpreted) == _figures(fused)


@pytest.mark.anyio
async def test_an_error_in_the_interpreter_names_the_operator() -> None:
    def boom(x: int) -> int:
        raise RuntimeError(f"bad {x}")

    async def boom_async(x: int) -> int:
        raise RuntimeError(f"bad {x}")

    with anyio.fail_after(10):
        for kernel in (Kernel("map", "map(boom)", boom), Kernel("amap", "m(a)", boom_async)):
            seg = interpret([kernel], "iter", "list")
            out: list[int] = []

            async def close() -> None:
                pass

            with pytest.raises(RuntimeError, match="bad 1") as info:
                await seg([1, 2], out, (StageCounts(), StageCounts()), None, close)
            assert any(kernel.name in note for note in info.value.__notes__)
            assert out == []


def test_the_environment_variable_turns_fusion_off() -> None:
    code = (
        "import anyio\n"
        "from anystream import from_iterable, map, take\n"
        "from anystream._core import fuse\n"
        "seg = fuse.compile_kernels([], 'iter', 'list')\n"
        "print(fuse.FUSE, seg.__module__)\n"
        "print(anyio.run(from_iterable(range(10)).pipe(map(str), take(3)).collect))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    for value, expected in (("1", "False anystream._core.kernels"), ("0", "True")):
        env["ANYSTREAM_NO_FUSE"] = value
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        first, second = result.stdout.splitlines()
        assert first.startswith(expected)
        assert second == "['0', '1', '2']"


@pytest.mark.anyio
async def test_a_loop_given_the_wrong_number_of_counters_says_so() -> None:
    # One StageCounts per kernel plus one for the loop's output: two for one kernel.
    seg = interpret([Kernel("map", "map(str)", str)], "iter", "list")

    async def close() -> None:
        pass

    with pytest.raises(ValueError, match=r"1 kernel\(s\) counts into 2 StageCounts .*got 1"):
        await seg([1], [], (StageCounts(),), None, close)
    counts = (StageCounts(), StageCounts())
    out: list[str] = []
    await seg([1, 2], out, counts, None, close)
    assert out == ["1", "2"]
    assert counts == (StageCounts(received=2), StageCounts(received=2))
