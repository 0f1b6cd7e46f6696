"""Marble helpers for the conformance suite: frames of 1 s on the virtual clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anystream import Operator, Stream
from anystream.testing import marbles, record, scripted


class Boom(Exception):
    """The error a ``#`` in an input diagram raises."""


def rx(diagram: str) -> str:
    """An RxJS marble diagram in ``anystream.testing.marbles`` notation.

    In RxJS a group ``(bc)`` takes as many frames as it has characters (the next event
    of ``"-(bc)-d"`` is at frame 6); in anystream's notation a group is one frame. So each
    group is followed by dashes for its extra width; trailing frames after the end are cut.
    """
    out: list[str] = []
    group = 0
    for char in diagram.replace(" ", ""):
        out.append(char)
        if char == "(":
            group = 1
        elif group:
            group += 1
            if char == ")":
                out.append("-" * (group - 1))
                group = 0
    text = "".join(out)
    for end in "|#":
        if end in text:
            cut = text.index(end)
            close = text.find(")", cut)
            text = text[: (close + 1 if close != -1 and "(" not in text[cut:close] else cut + 1)]
            break
    return text


def src(diagram: str, **values: Any) -> Stream[Any]:
    """A scripted stream from an RxJS diagram (see ``rx``), one frame per virtual second."""
    return scripted(*marbles(rx(diagram), frame=1, values=values or None, error=Boom("boom")))


async def draw(stream: Stream[Any], *, until: float = 200, labels: Any = None) -> str:
    """Run ``stream`` and draw what it emitted, ``#`` for a ``Boom``."""
    rec = await record(stream, until=until, catch=Boom)
    return rec.marbles(frame=1, labels=labels)


async def apply(diagram: str, op: Operator[Any, Any], **kw: Any) -> str:
    return await draw(src(diagram) | op, **kw)


def expect(diagram: str) -> str:
    """An expected RxJS output diagram, as ``Recording.marbles`` draws it."""
    return rx(diagram).rstrip("-")


def join(item: Any) -> str:
    """Label for a tuple of one-character items: only usable for one-char joins."""
    return "".join(str(v) for v in item)


Factory = Callable[[], Operator[Any, Any]]
