"""Small helpers for the rich displays of anystream's result objects.

``RunStats``, ``MetricsSnapshot``, ``LatencyReport`` and ``Window`` show as tables in
Jupyter (``_repr_html_``) and in rich (``__rich__``). They all draw through
:func:`html_table` and :func:`rich_table`, so the notebook and terminal views look alike
and every cell is escaped in one place: operator names, keys and items are user data, and
a name like ``where(<b>)`` must show as written, never as markup.

Nothing here imports rich at module level: ``rich_table`` imports it when called, which
only happens from a ``__rich__`` method, that is, when rich is already drawing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["html_table", "rich_table", "short"]

#: One table row: its cells, already formatted as text.
Row = Sequence[str]


def short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def html_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    css_class: str,
    text_columns: Sequence[int] = (0,),
    footer: str = "",
) -> str:
    """A self-contained HTML table (no script, no external style), every cell escaped."""

    def align(i: int) -> str:
        return "left" if i in text_columns else "right"

    head = "".join(
        f"<th style='text-align:{align(i)}'>{html.escape(c)}</th>" for i, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='text-align:{align(i)}'>{html.escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    tail = f"<div>{html.escape(footer)}</div>" if footer else ""
    return (
        f"<div class='{html.escape(css_class)}'>"
        f"<b>{html.escape(title)}</b>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{tail}</div>"
    )


def rich_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    text_columns: Sequence[int] = (0,),
    footer: str = "",
) -> Table:
    """The same table as a ``rich.table.Table``; cells are plain text, never markup."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left", caption=Text(footer) if footer else None)
    for i, column in enumerate(columns):
        table.add_column(Text(column), justify="left" if i in text_columns else "right")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table
