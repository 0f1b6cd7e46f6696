"""``Stream.explain()``: a picture of what a run of a stream will execute.

The plan (see ``plan.py``) is described without running anything: the source, each
fused segment with its operators, each boundary with its capacity and overflow policy,
each staged operator with its concurrency, and the memory bound of the whole pipeline,
the README's formula computed from the plan::

    sum of boundary capacities + one item in hand per segment + what each stage holds

where a stage holds one item, or ``2c`` for an ordered concurrent stage (``c``
unordered; ``4w`` / ``2w`` for ``map_process``). Three renderings: ``str()`` (compact
text, one line per part), ``_repr_svg_`` and ``_repr_html_`` (an SVG laid out left to
right, for notebooks).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .plan import Boundary, Segment, Stage, plan
from .source import Source

__all__ = ["BoundaryPart", "Explanation", "SegmentPart", "StagePart", "explain"]

_WIDTH = 80


@dataclass(frozen=True)
class SegmentPart:
    """Per-item operators fused into one loop; ``operators`` empty for a pass-through."""

    operators: tuple[str, ...]

    @property
    def holds(self) -> int:
        return 1


@dataclass(frozen=True)
class BoundaryPart:
    """A bounded hand-off; ``explicit`` for a ``buffered()``, else an implicit one."""

    capacity: int
    overflow: str
    explicit: bool

    @property
    def label(self) -> str:
        kind = "buffered" if self.explicit else "hand-off"
        return f"{kind} {self.capacity}, {self.overflow}"


@dataclass(frozen=True)
class StagePart:
    """A staged operator's task: ``concurrency`` items at once, at most ``holds`` in hand."""

    name: str
    concurrency: int
    holds: int


Part = SegmentPart | BoundaryPart | StagePart


@dataclass(frozen=True)
class Explanation:
    """What a run of a stream executes, and the most items it keeps in memory.

    ``parts`` are in flow order (source side first). ``inputs`` explain the streams a
    combining source runs (``merge``, ``concat``, ``zip``); each of them keeps one more
    item in hand, waiting to be forwarded. ``memory_bound`` is the README's "Memory
    bound": items pulled from the sources and not yet delivered never exceed it.
    """

    source: str
    parts: tuple[Part, ...]
    inputs: tuple[Explanation, ...] = ()

    @property
    def segments(self) -> tuple[SegmentPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, SegmentPart))

    @property
    def boundaries(self) -> tuple[BoundaryPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, BoundaryPart))

    @property
    def stages(self) -> tuple[StagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, StagePart))

    @property
    def buffered_items(self) -> int:
        """Items the boundaries can hold together."""
        return sum(b.capacity for b in self.boundaries)

    @property
    def in_hand_items(self) -> int:
        """Items the segments and stages (and inputs' forwarders) can hold in hand."""
        own = sum(s.holds for s in self.segments) + sum(s.holds for s in self.stages)
        return own + len(self.inputs)

    @property
    def memory_bound(self) -> int:
        inner = sum(i.memory_bound for i in self.inputs)
        return self.buffered_items + self.in_hand_items + inner

    def __str__(self) -> str:
        return "\n".join(_fit(line) for line in self._lines())

    def _lines(self) -> list[str]:
        lines = [f"source    {self.source}"]
        for n, sub in enumerate(self.inputs, 1):
            lines.append(f"  input {n}:")
            lines += ["    " + line for line in sub._lines()]
        for part in self.parts:
            if isinstance(part, SegmentPart):
                ops = " | ".join(part.operators) if part.operators else "(pass-through)"
                lines.append(f"segment   {ops}")
            elif isinstance(part, BoundaryPart):
                lines.append(f"boundary  {part.label}")
            else:
                lines.append(
                    f"stage     {part.name}  concurrency {part.concurrency}, holds {part.holds}"
                )
        own = self.buffered_items + self.in_hand_items
        lines.append(
            f"memory bound: {self.memory_bound} items "
            f"({self.buffered_items} buffered + {self.in_hand_items} in hand"
            + (f" + {self.memory_bound - own} in inputs)" if self.inputs else ")")
        )
        return lines

    def _repr_svg_(self) -> str:
        return _svg(self)

    def annotated_svg(self, boxes: Sequence[str] = (), boundaries: Sequence[str] = ()) -> str:
        """The SVG with a note under each box and each boundary of the stream's own row.

        ``boxes[i]`` goes under the ``i``-th box (the source first, then each non-empty
        segment and each stage, in flow order), ``boundaries[j]`` under the ``j``-th
        boundary's label; missing or empty notes draw nothing. The live view of a run
        writes rates and buffer fill here (``anystream.observe.plan_view``).
        """
        return _svg(self, tuple(boxes), tuple(boundaries))

    def _repr_html_(self) -> str:
        return f"<div>{_svg(self)}</div>"


def explain(source: Source[Any], steps: Sequence[Any]) -> Explanation:
    """The :class:`Explanation` of a stream with this source and these steps."""
    inputs: list[Explanation] = []
    for stream in getattr(source, "inputs", ()):
        inputs.append(explain(stream.source, stream.steps))
    parts: list[Part] = []
    for node in plan(steps):
        if isinstance(node, Segment):
            names = [kernel.name for kernel in node.groups[0]]
            for gen, group in zip(node.gens, node.groups[1:], strict=True):
                names += [gen.name] + [kernel.name for kernel in group]
            parts.append(SegmentPart(tuple(names)))
        elif isinstance(node, Boundary):
            parts.append(BoundaryPart(node.capacity, node.overflow, node.position is not None))
        elif isinstance(node, Stage):
            step = node.step
            parts.append(StagePart(step.name, step.concurrency, step.holds))
    return Explanation(source.name, tuple(parts), tuple(inputs))


def _fit(line: str) -> str:
    return line if len(line) <= _WIDTH else line[: _WIDTH - 3] + "..."


# -- SVG -------------------------------------------------------------------------------------

_CHAR = 7  # px per character of the 12px monospace text
_BOX_H = 40
_PAD = 10
_GAP = 24  # minimum arrow length
_ROW_H = _BOX_H + 30
_NOTE_H = 16  # the notes' line under the stream's own row
_FILLS = {"source": "#e8f0fe", "segment": "#e6f4ea", "stage": "#fef7e0", "end": "#eeeeee"}


def _svg(
    ex: Explanation, box_notes: tuple[str, ...] = (), boundary_notes: tuple[str, ...] = ()
) -> str:
    """One row per input of a combining source, then the stream's own row.

    A row has boxes for the source, non-empty segments and stages, and arrows labelled
    with the boundaries between them; the notes go under the stream's own row.
    """
    shapes: list[str] = []
    y = 30
    width = 0
    for n, sub in enumerate(ex.inputs, 1):
        width = max(width, _row(shapes, sub, y, f"{ex.source} input {n}"))
        y += _ROW_H
    width = max(width, _row(shapes, ex, y, "consumer", box_notes, boundary_notes)) + _PAD
    height = y + _BOX_H + 30 + (_NOTE_H if box_notes or boundary_notes else 0)
    bound = f"memory bound: {ex.memory_bound} items"
    shapes.append(f'<text x="{_PAD}" y="{height - 8}" font-size="11">{html.escape(bound)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">'
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>'
        + "".join(shapes)
        + "</svg>"
    )


def _row(
    shapes: list[str],
    ex: Explanation,
    y: int,
    end: str,
    box_notes: tuple[str, ...] = (),
    boundary_notes: tuple[str, ...] = (),
) -> int:
    """Append one row's shapes at height ``y``; return its right edge."""
    boxes: list[tuple[str, str]] = [("source", ex.source)]
    labels: list[list[str]] = [[]]  # labels[i]: boundaries on the arrow into boxes[i + 1]
    notes: list[list[str]] = [[]]  # the boundaries' notes, arrow by arrow
    boundary = 0
    for part in ex.parts:
        if isinstance(part, SegmentPart):
            if part.operators:
                boxes.append(("segment", " | ".join(part.operators)))
                labels.append([])
                notes.append([])
        elif isinstance(part, StagePart):
            text = part.name if part.concurrency == 1 else f"{part.name} x{part.concurrency}"
            boxes.append(("stage", text))
            labels.append([])
            notes.append([])
        else:
            labels[-1].append(part.label)
            note = boundary_notes[boundary] if boundary < len(boundary_notes) else ""
            if note:
                notes[-1].append(note)
            boundary += 1
    boxes.append(("end", end))
    x = _PAD
    for i, (kind, text) in enumerate(boxes):
        w = len(text) * _CHAR + 2 * _PAD
        note = box_notes[i] if i < len(box_notes) and kind != "end" else ""
        w = max(w, len(note) * _CHAR + 2 * _PAD)
        shapes.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{_BOX_H}" rx="4" '
            f'fill="{_FILLS[kind]}" stroke="#555"/>'
        )
        shapes.append(
            f'<text x="{x + w // 2}" y="{y + 25}" text-anchor="middle">{html.escape(text)}</text>'
        )
        if note:
            shapes.append(
                f'<text x="{x + w // 2}" y="{y + _BOX_H + 15}" text-anchor="middle" '
                f'font-size="11" fill="#1a5fb4">{html.escape(note)}</text>'
            )
        x += w
        if i < len(boxes) - 1:
            label = " / ".join(labels[i])
            arrow_note = " / ".join(notes[i])
            length = max(_GAP, len(label) * _CHAR + 2 * _PAD, len(arrow_note) * _CHAR + 2 * _PAD)
            mid = y + _BOX_H // 2
            shapes.append(
                f'<line x1="{x}" y1="{mid}" x2="{x + length - 2}" y2="{mid}" '
                'stroke="#555" marker-end="url(#arrow)"/>'
            )
            if label:
                shapes.append(
                    f'<text x="{x + length // 2}" y="{y - 6}" text-anchor="middle" '
                    f'font-size="11">{html.escape(label)}</text>'
                )
            if arrow_note:
                shapes.append(
                    f'<text x="{x + length // 2}" y="{mid + 16}" text-anchor="middle" '
                    f'font-size="11" fill="#1a5fb4">{html.escape(arrow_note)}</text>'
                )
            x += length
    return x
