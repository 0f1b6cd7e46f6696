"""The ``Stream.pipe`` overloads are the ones ``pipe_overloads.py`` writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# A plain script next to this file (tests/ has no packages); load it by path.
_spec = importlib.util.spec_from_file_location(
    "anystream_pipe_overloads", Path(__file__).with_name("pipe_overloads.py")
)
assert _spec is not None
assert _spec.loader is not None
pipe_overloads = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipe_overloads)


def test_stream_py_holds_the_generated_overloads() -> None:
    text = pipe_overloads.STREAM_PY.read_text()
    assert pipe_overloads.current_block(text) == pipe_overloads.overloads(), (
        "run python tests/typing/pipe_overloads.py"
    )


def test_every_combination_of_same_and_other_operators_is_written() -> None:
    block = pipe_overloads.overloads()
    n = pipe_overloads.MAX_COMBINED
    longer = pipe_overloads.MAX_OPERATORS - n
    # Every combination, then again each one with an item-changing operator whose first
    # is a function from stream to stream (2**k - 1 of them: not the all-take-like one).
    combined = sum(2**k for k in range(1, n + 1)) + sum(2**k - 1 for k in range(1, n + 1))
    assert block.count("@overload") == combined + longer
    # The first item-changing operator is a plain first-pass argument, the later ones
    # are second-pass arguments (a Callable in their parameter type).
    assert "        op1: Pipeable[T_co, _A1],\n" in block
    assert "        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],\n" in block
    assert "        op1: SameOperator,\n        op2: Pipeable[T_co, _A2],\n" in block
    # The function-first variants: the function is a second-pass argument (a Callable).
    assert "        op1: Callable[[Stream[T_co]], Stream[_A1]],\n" in block
    assert (
        "        op1: SameOperator,\n        op2: Callable[[Stream[T_co]], Stream[_A2]],\n" in block
    )
