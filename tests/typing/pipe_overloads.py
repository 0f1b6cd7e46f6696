"""Write the ``@overload`` signatures of ``Stream.pipe`` (src/anystream/_core/stream.py).

Run ``python tests/typing/pipe_overloads.py`` after changing the shape below;
``test_pipe_overloads.py`` fails while the file and this generator disagree.

The shape, and why (both checkers must infer every lambda they can):

- A :class:`SameOperator` (``take``, ``buffered``, ...) has its own parameter type in
  every position, and its output is the previous type: no new type variable. Its
  generic typing hook is not a ``Pipeable``, so exactly one overload matches a given
  call; had both matched, mypy would have answered ``Stream[Any]`` for a lambda's
  sake (an argument with ``Any`` makes overloads ambiguous).
- The first other operator is a plain ``Pipeable``; each later one is
  ``Pipeable[A, B] | Callable[[Stream[A]], Stream[B]]``. mypy infers the arguments of
  a call in two passes and defers to the second pass the arguments whose parameter
  type holds a callable with a type variable: by then the first pass has solved the
  first operator's output, so the second operator's lambda gets its parameter type.
  The ``Callable`` is also true at run time: ``pipe()`` calls a ``Stream -> Stream``
  function with the stream built so far.
- Each combination is written a second time with the first other operator a
  ``Callable[[Stream[A]], Stream[B]]``: what a generic ``@operator`` that changes the
  item type gives (``listed()``, a generic ``Stream[T] -> Stream[list[T]]`` function),
  or a function of the user's. Not a union with ``Pipeable`` in one overload: that
  would push every first operator to mypy's second pass, and the next lambda would
  lose its type. An operator is not a ``Callable`` for the checkers (its run-time
  ``__call__`` is hidden from them), so it matches only the first copy and a function
  only the second: no ambiguity. mypy infers such a function in its second pass (a
  generic one could not solve its output earlier anyway), so a lambda after it in the
  same call is ``Any`` there.

Every combination is written out for up to ``MAX_COMBINED`` operators (2**n + 2**n - 1
overloads for n operators: mypy lists them all when no overload matches, so not more).
From there to ``MAX_OPERATORS``, one overload per count takes ``Pipeable |
SamePipeable`` in each position: right in pyright, and in mypy only the first operator's
lambda is typed there. A longer pipeline chains ``.pipe()`` calls.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

#: Up to this many operators, one overload per combination of SameOperator and other.
MAX_COMBINED = 5
#: Up to this many, one overload per count (``Pipeable | SamePipeable`` in each position).
MAX_OPERATORS = 8
STREAM_PY = Path(__file__).resolve().parents[2] / "src" / "anystream" / "_core" / "stream.py"
BEGIN = "    # -- pipe() overloads: written by tests/typing/pipe_overloads.py, do not edit --\n"
END = "    # -- end of the generated pipe() overloads --\n"


def overloads() -> str:
    """The generated block, markers included."""
    lines = [BEGIN.rstrip("\n")]
    for n in range(1, MAX_COMBINED + 1):
        for function_first in (False, True):
            for same in itertools.product((True, False), repeat=n):
                if function_first and all(same):
                    continue
                lines += _combined(same, function_first)
    for n in range(MAX_COMBINED + 1, MAX_OPERATORS + 1):
        lines += ["    @overload", "    def pipe(", "        self,"]
        current = "T_co"
        for i in range(1, n + 1):
            out = f"_A{i}"
            either = f"Pipeable[{current}, {out}] | SamePipeable[{current}, {out}]"
            if i == 1:
                lines.append(f"        op{i}: {either},")
            else:
                lines.append(
                    f"        op{i}: {either} | Callable[[Stream[{current}]], Stream[{out}]],"
                )
            current = out
        lines += ["        /,", f"    ) -> Stream[{current}]: ..."]
    lines.append(END.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _combined(same: tuple[bool, ...], function_first: bool) -> list[str]:
    """One overload: ``same[i]`` says whether operator ``i + 1`` is a SameOperator."""
    lines = ["    @overload", "    def pipe(", "        self,"]
    current = "T_co"
    first = True
    for i, is_same in enumerate(same, 1):
        if is_same:
            lines.append(f"        op{i}: SameOperator,")
            continue
        out = f"_A{i}"
        function = f"Callable[[Stream[{current}]], Stream[{out}]]"
        if first and function_first:
            lines.append(f"        op{i}: {function},")
        elif first:
            lines.append(f"        op{i}: Pipeable[{current}, {out}],")
        else:
            lines.append(f"        op{i}: Pipeable[{current}, {out}] | {function},")
        first = False
        current = out
    return [*lines, "        /,", f"    ) -> Stream[{current}]: ..."]


def current_block(text: str) -> str:
    start = text.index(BEGIN)
    end = text.index(END) + len(END)
    return text[start:end]


def main() -> int:
    text = STREAM_PY.read_text()
    new = text.replace(current_block(text), overloads())
    if new != text:
        STREAM_PY.write_text(new)
        print(f"rewrote the pipe() overloads in {STREAM_PY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
