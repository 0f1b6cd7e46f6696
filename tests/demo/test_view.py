"""The demos' output modes (issue 17): live rich view, plain lines, JSON lines.

The live table is compared with snapshot files (``tests/demo/snapshots/``, rewritten with
``ANYSTREAM_UPDATE_SNAPSHOTS=1``) as a terminal of 80 and of 120 columns shows it; the
demos are run in process in each mode.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from anystream import cli
from anystream.demo import cli_ingest, cli_realtime
from anystream.demo._view import MAX_LINE, bar, fit, output_mode, render_stages
from anystream.demo.pipeline import DemoConfig, build_demo
from anystream.observe.metrics import MetricsSnapshot, OperatorMetrics
from anystream.testing import run as run_virtual

SNAPSHOTS = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("ANYSTREAM_UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}: run once with ANYSTREAM_UPDATE_SNAPSHOTS=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{name} differs:\n{rendered}"


def recording_console(width: int) -> Console:
    return Console(record=True, width=width, file=io.StringIO(), force_terminal=True)


def snapshot() -> MetricsSnapshot:
    ops = (
        OperatorMetrics(0, "from_iterable", "source", 1200, 1200, out_rate=410.0),
        OperatorMetrics(
            1, "parse(event)", "operator", 1200, 1080, {"malformed": 120}, out_rate=369.0
        ),
        OperatorMetrics(
            2, "where([bold]severity)", "operator", 1080, 800, {"filtered": 280}, out_rate=273.5
        ),
        OperatorMetrics(
            3,
            "buffered(50)",
            "buffer",
            800,
            750,
            out_rate=33.0,
            buffer_fill=50,
            buffer_capacity=50,
            buffer_waiting=1,
        ),
        OperatorMetrics(
            4,
            "map_async(region)",
            "stage",
            750,
            745,
            retried=12,
            dead_lettered=2,
            out_rate=33.0,
        ),
        OperatorMetrics(
            5,
            "buffered(50)",
            "buffer",
            745,
            745,
            out_rate=33.0,
            buffer_fill=0,
            buffer_capacity=50,
            buffer_waiting=0,
        ),
        OperatorMetrics(6, "tumbling_window(2)", "stage", 745, 11, out_rate=0.5),
    )
    return MetricsSnapshot(time=20.0, operators=ops, interval=0.5)


@pytest.mark.parametrize("width", [80, 120])
def test_the_live_table_at_80_and_120_columns(width: int) -> None:
    console = recording_console(width)
    console.print(render_stages(snapshot(), "anystream demo · 12.5 s · running"))
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    assert "where([bold]severity)" in text, "names are shown as written, not as markup"
    assert "████████ 50/50 +1" in text
    assert "dead-lettered 2" in text
    assert "retried 12" in text
    assert_snapshot(f"live_table_{width}.txt", text)


def test_bar_and_fit() -> None:
    assert bar(25, 50) == "█████░░░░░ 25/50"
    assert bar(0, 50, width=4) == "░░░░ 0/50"
    assert bar(3, 0) == "3/0"
    assert fit("x" * 100) == "x" * 100
    assert fit("x" * 101) == "x" * 99 + "…"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_output_mode_json_wins_then_no_live_then_the_terminal() -> None:
    def ns(**kw: bool) -> argparse.Namespace:
        return argparse.Namespace(**{"json": False, "no_live": False} | kw)

    assert output_mode(ns(json=True), _Tty()) == "json"
    assert output_mode(ns(json=True, no_live=True), _Tty()) == "json"
    assert output_mode(ns(no_live=True), _Tty()) == "lines"
    assert output_mode(ns(), _Tty()) == "live"
    assert output_mode(ns(), io.StringIO()) == "lines"


@pytest.mark.parametrize("demo", ["realtime", "ingest"])
def test_every_demo_takes_json_and_no_live(demo: str) -> None:
    args = cli.build_parser().parse_args(["demo", demo, "--json", "--no-live"])
    assert args.json is True
    assert args.no_live is True


ARGS = ["--duration", "0.6", "--window", "0.2", "--rate", "1000", "--concurrency", "16"]


@pytest.mark.real_clock
def test_realtime_plain_lines_fit_in_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", *ARGS, "--seed", "3", "--no-live"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("anystream demo on asyncio")
    assert all(len(line) <= MAX_LINE for line in lines), max(lines, key=len)
    assert any(line.startswith("window #") for line in lines)
    assert lines[-1].startswith("summary: read ")
    assert ": balanced; enriched=" in lines[-1]


@pytest.mark.real_clock
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_realtime_live_view_draws_the_stages_and_ends_balanced(backend: str) -> None:
    console = recording_console(100)
    out = cli_realtime._Printer("live", console)
    demo = build_demo(
        DemoConfig(window=0.2, rate=1000, concurrency=16, seed=3),
        on_source_stop=out.source_stopped,
    )
    summary = anyio.run(cli_realtime._main, demo, out, backend, 0.6, 10.0, backend=backend)
    assert summary.balanced
    text = console.export_text()
    assert "anystream demo · " in text
    assert "finished" in text
    for name in ("parse(event)", "where(severity>=info)", "map_async(region)", "buffered(50)"):
        assert name in text
    assert "window #0 " in text
    assert "summary: read " in text
    assert ": balanced;" in text


def test_ingest_plain_lines_show_progress_while_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "ingest", "--virtual-clock", "--events", "200", "--every", "1", "--no-live"]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("anystream demo ingest on asyncio: 200 events")
    progress = [line for line in lines if " s: read " in line]
    assert len(progress) >= 3, lines
    assert all(len(line) <= MAX_LINE for line in lines), max(lines, key=len)
    assert "all accounted for: True; every written event exactly once: True" in lines


def test_ingest_json_is_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "ingest", "--virtual-clock", "--events", "100", "--every", "0.5", "--json"]
    assert cli.main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [r["event"] for r in records]
    assert kinds[0] == "start"
    assert kinds[-1] == "report"
    assert "progress" in kinds
    report = records[-1]
    assert report["accounted"]
    assert report["exactly_once"]
    assert report["written"] + len(report["dead_lettered"]) == 100


def test_ingest_live_view_on_a_terminal() -> None:
    from functools import partial

    from anystream.demo.ingest import run_ingest

    console = recording_console(100)
    out = cli_ingest._output("live", console=console)
    report = run_virtual(partial(run_ingest, 80, watch=out.watch))
    assert report.accounted
    assert report.exactly_once
    text = console.export_text()
    assert "anystream demo ingest · " in text
    assert "map_async(write)" in text
    assert "finished" in text


def test_worker_progress_lines_and_records() -> None:
    from anystream.demo.redis_demo import WorkerSummary, _worker_output

    tally = WorkerSummary("w1", read=40, written=30, duplicates=2)
    out = _worker_output("lines", tally)
    assert out.progress is not None
    text, record = out.progress(snapshot(), 4.0)
    assert text == "   4.0 s: read 1200, written 30, duplicates 2"
    assert record["event"] == "progress"
    assert record["written"] == 30
    assert len(tally.line()) <= MAX_LINE
    assert tally.line().startswith("summary w1: read 40")
