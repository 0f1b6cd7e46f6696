"""Tests for anystream.observe.progress (the live view) and for the library's silence.

The terminal view is drawn on a rich Console writing to a StringIO; the notebook view
with IPython's display machinery replaced by a recorder (the executed notebooks in
tests/test_notebooks.py exercise the real one in a kernel).
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from rich.console import Console

from anystream import buffered, from_iterable, map, parse
from anystream.observe import progress as progress_module
from anystream.observe.metrics import MetricsSnapshot, take_snapshot
from anystream.observe.progress import render_html, show_progress

pytestmark = pytest.mark.anyio


async def ticking(n: int, period: float) -> AsyncIterator[str]:
    for i in range(n):
        await anyio.sleep(period)
        yield "x" if i % 10 == 9 else str(i)


def pipeline(n: int = 50) -> Any:
    return from_iterable(ticking(n, 0.1)) | parse(int) | buffered(4) | map(lambda v: v + 1)


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=160, color_system=None), out


async def test_terminal_view_redraws_and_ends_with_final_counts() -> None:
    con, out = console()
    s = pipeline()
    async with s.stream() as run, show_progress(run, interval=1.0, console=con) as prog:
        assert prog.active
        items = [x async for x in run]
    assert len(items) == 45
    text = out.getvalue()
    # Redrawn in place: rich moves the cursor up between frames.
    assert text.count("anystream ·") >= 5
    assert "\x1b[" in text
    last = text[text.rindex("anystream ·") :]
    assert "finished" in last
    assert "parse(int)" in last
    assert "malformed 5" in last
    assert "buffered(4)" in last
    assert "n/a" in last  # blocked time: not counted by the core yet
    assert prog.monitor is not None
    assert prog.monitor.latest is not None
    assert prog.monitor.latest.final


async def test_terminal_view_reports_failure() -> None:
    con, out = console()

    def boom(v: int) -> int:
        raise RuntimeError("nope")

    s = from_iterable(range(5)) | buffered(1) | map(boom)
    with pytest.raises(RuntimeError, match="nope"):
        async with s.stream() as run, show_progress(run, console=con):
            async for _ in run:
                pass
    assert "failed: RuntimeError: nope" in out.getvalue()


async def test_off_when_not_interactive(capsys: pytest.CaptureFixture[str]) -> None:
    s = pipeline(20)
    async with s.stream() as run, show_progress(run) as prog:
        assert not prog.active  # pytest captures stderr: not a terminal, not Jupyter
        async for _ in run:
            pass
    s = pipeline(20)
    async with s.stream() as run, show_progress(run, enabled=False, target="terminal") as prog:
        assert not prog.active
        async for _ in run:
            pass
    assert capsys.readouterr() == ("", "")


async def test_forced_on_a_non_terminal_draws_once_at_the_end() -> None:
    out = io.StringIO()
    con = Console(file=out, width=160)  # not a terminal
    s = pipeline(30)
    async with s.stream() as run, show_progress(run, enabled=True, console=con):
        async for _ in run:
            pass
    text = out.getvalue()
    assert text.count("anystream ·") == 1
    assert "finished" in text


class FakeHandle:
    def __init__(self, log: list[dict[str, str]]) -> None:
        self.log = log

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.log.append(bundle)


async def test_jupyter_view_updates_one_display(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[dict[str, str]] = []

    def fake_display(bundle: dict[str, str], raw: bool = False, display_id: Any = None) -> Any:
        assert raw
        assert display_id is True
        shown.append(bundle)
        return FakeHandle(shown)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    s = pipeline(30)
    async with s.stream() as run, show_progress(run, target="jupyter", interval=1.0):
        async for _ in run:
            pass
    assert len(shown) >= 4  # the first display, samples at t = 1, 2 and the final update
    assert "running" in shown[0]["text/plain"]
    final = shown[-1]
    assert "finished" in final["text/plain"]
    assert "<table>" in final["text/html"]
    assert "malformed 3" in final["text/html"]


async def test_auto_detects_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    class Shell:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert progress_module.in_jupyter()
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert not progress_module.in_jupyter()


async def test_html_escapes_operator_names() -> None:
    s = from_iterable(["<b>"]) | map(lambda v: v)
    await s.collect()
    snap: MetricsSnapshot = take_snapshot(s)
    page = render_html(snap, "t <x>")
    assert "<b>" not in page.replace("<b>t &lt;x&gt;</b>", "")
    assert "&lt;lambda&gt;)" in page


async def test_missing_rich_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.setitem(sys.modules, name, None)
    s = pipeline(5)
    with pytest.raises(ModuleNotFoundError, match=r"anystream\[progress\]"):
        async with s.stream() as run, show_progress(run, target="terminal"):
            pass


async def test_bad_arguments() -> None:
    s = pipeline(1)
    with pytest.raises(TypeError, match="enabled"):
        show_progress(s, enabled="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        show_progress(s, interval=-1)
    with pytest.raises(ValueError, match="target"):
        show_progress(s, target="web")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="run must be a Run"):
        show_progress("run")  # type: ignore[arg-type]


SILENT_SCRIPT = textwrap.dedent(
    """
    import logging
    import anyio
    import anystream
    from anystream import buffered, from_iterable, map, parse, where
    from anystream.observe.monitor import monitor
    from anystream.observe.progress import show_progress

    async def main():
        s = (from_iterable(["1", "x", "3"] * 100) | parse(int) | buffered(4)
             | where(lambda n: n > 1) | map(str))
        async with s.stream() as run, show_progress(run), monitor(run, interval=0.001):
            async for _ in run:
                pass
        try:
            await (from_iterable([1]) | map(lambda n: 1 / 0)).collect()
        except ZeroDivisionError:
            pass
        # Everything the library logs goes to loggers under "anystream".
        names = [n for n in logging.Logger.manager.loggerDict if "anystream" in n]
        assert all(n == "anystream" or n.startswith("anystream.") for n in names), names

    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
    """
)


@pytest.mark.real_clock
def test_importing_and_running_prints_nothing() -> None:
    """The library never prints: stdout and stderr stay empty (progress is off: no TTY)."""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", SILENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


async def test_stream_progress_true_draws_the_live_table(monkeypatch: pytest.MonkeyPatch) -> None:
    con, out = console()
    real = progress_module.show_progress

    def on_our_console(run: Any) -> Any:
        return real(run, enabled=True, interval=1.0, console=con)

    monkeypatch.setattr(progress_module, "show_progress", on_our_console)
    async with pipeline().stream(progress=True) as run:
        items = [x async for x in run]
    assert len(items) == 45
    last = out.getvalue()[out.getvalue().rindex("anystream ·") :]
    assert "finished" in last
    assert "malformed 5" in last


async def test_stream_progress_true_is_silent_when_nobody_watches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = pipeline(20)
    async with s.stream(progress=True) as run:
        assert len([x async for x in run]) == 18
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


async def test_stream_progress_does_not_hide_the_runs_error() -> None:
    def fail(v: int) -> int:
        raise ZeroDivisionError("boom")

    s = from_iterable([1, 2]) | buffered(1) | map(fail)
    with pytest.raises(ZeroDivisionError, match="boom"):
        async with s.stream(progress=True) as run:
            async for _ in run:
                pass


async def test_stream_progress_with_an_abort_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    con, out = console()
    real = progress_module.show_progress
    monkeypatch.setattr(
        progress_module,
        "show_progress",
        lambda run: real(run, enabled=True, interval=0.2, console=con),
    )
    with anyio.move_on_after(1.0) as scope:
        async with pipeline().stream(progress=True) as run:
            async for _ in run:
                pass
    assert scope.cancelled_caught
    assert "anystream ·" in out.getvalue()


# -- names are data, not rich markup (issue 22) ---------------------------------------------


MARKUP_NAMES = ("[link=https://x]a[/link]", "path[/x]", "[bold]b[/bold]", ":smile: [red]")


async def test_terminal_view_prints_markup_in_names_literally() -> None:
    con, out = console()
    s = from_iterable(range(3)) | map(lambda v: v, name=MARKUP_NAMES[0])
    for n, name in enumerate(MARKUP_NAMES[1:]):
        s = s | buffered(n) | map(lambda v: v, name=name)
    with anyio.fail_after(10):
        async with s.stream() as run, show_progress(run, console=con, label="[i]lab[/i]"):
            assert [x async for x in run] == [0, 1, 2]
    text = out.getvalue()
    for name in MARKUP_NAMES:
        assert f"map({name})" in text
    assert "[i]lab[/i] ·" in text
    assert "\x1b]8;" not in text  # no terminal hyperlink escape


async def test_terminal_view_prints_markup_in_an_error_literally() -> None:
    con, out = console()

    def boom(v: int) -> int:
        raise RuntimeError("bad [/x] [link=https://x]y")

    s = from_iterable(range(5)) | buffered(1) | map(boom, name="p[/q]")
    with anyio.fail_after(10), pytest.raises(RuntimeError, match="bad"):
        async with s.stream() as run, show_progress(run, console=con):
            async for _ in run:
                pass
    text = out.getvalue()
    assert "failed: RuntimeError: bad [/x] [link=https://x]y" in text
    assert "map(p[/q])" in text


async def test_the_jupyter_view_draws_the_annotated_plan_above_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In Jupyter the live view is the plan picture with rates and fill, then the table."""
    pytest.importorskip("IPython")
    import IPython.display

    shown: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool) -> None:
            shown.append(bundle)

    def display(bundle: dict[str, str], raw: bool, display_id: bool) -> Handle:
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    s = from_iterable(range(50)) | buffered(4, name="queue") | map(lambda v: v, name="<twice>")
    async with s.stream() as run, show_progress(run, target="jupyter", interval=0.5):
        assert [x async for x in run] == list(range(50))
    assert shown, "nothing was displayed"
    page = shown[-1]["text/html"]
    assert page.index("<svg") < page.index("<table")  # the plan first, then the table
    assert "buffered(queue)" in page
    assert "&lt;twice&gt;" in page
    assert "<twice>" not in page
