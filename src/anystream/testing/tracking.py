"""A counting source and an error-note check: what early-exit and error tests assert on.

::

    src = CountingSource(1_000)
    assert await (src.stream() | take(3)).collect() == [0, 1, 2]
    assert src.closed and src.pulled == 3       # closed at once, nothing pulled ahead

    with pytest.raises(ValueError) as info:
        await (src.stream() | map(parse_strictly)).collect()
    assert raised_in(info.value, "map(parse_strictly)")
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._core.errors import NOTE_PREFIX
from .._core.stream import Stream
from ..ops.create import from_iterable

__all__ = ["CountingSource", "raised_in"]


class CountingSource:
    """A one-shot async generator of ``0 .. n-1`` that records how far it got.

    ``pulled`` counts the items handed out, ``closed`` says whether its ``finally`` ran
    (the runner closes an upstream as soon as nobody needs it any more).
    """

    def __init__(self, n: int = 1_000) -> None:
        self.n = n
        self.pulled: int = 0
        self.closed: bool = False

    async def items(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                self.pulled += 1
                yield i
        finally:
            self.closed = True

    def stream(self) -> Stream[int]:
        return from_iterable(self.items())


def raised_in(exc: BaseException, operator: str) -> bool:
    """True when ``exc`` carries the note the runner adds for ``operator``'s user code.

    ``operator`` may be a prefix of the operator's name (``"map"`` matches ``"map(f)"``).
    """
    return any(note.startswith(NOTE_PREFIX + operator) for note in getattr(exc, "__notes__", ()))
