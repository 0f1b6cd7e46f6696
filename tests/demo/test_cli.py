"""The command line: parser, the demo registry, and a short in-process run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from anystream import cli
from anystream.demo import cli_realtime


def test_demo_defaults_to_the_realtime_demo() -> None:
    assert cli._with_default_demo(["demo"]) == ["demo", "realtime"]
    assert cli._with_default_demo(["demo", "--window", "1"]) == [
        "demo",
        "realtime",
        "--window",
        "1",
    ]
    assert cli._with_default_demo(["demo", "realtime", "--json"]) == ["demo", "realtime", "--json"]
    assert cli._with_default_demo(["demo", "--help"]) == ["demo", "--help"]


def test_every_registered_demo_provides_the_command_interface() -> None:
    assert cli.DEFAULT_DEMO in cli.DEMOS
    for module in cli.DEMOS.values():
        command = cli._load(module)
        assert isinstance(command.HELP, str)
        assert command.HELP
        assert callable(command.add_arguments)
        assert callable(command.run)


def test_options_parse_with_their_defaults() -> None:
    args = cli.build_parser().parse_args(["demo", "realtime"])
    assert args.handler is cli_realtime.run
    assert (args.backend, args.window, args.min_severity) == ("asyncio", 2.0, "info")
    assert (args.rate, args.concurrency, args.duration, args.seed) == (None, 1, None, None)
    assert args.json is False
    argv = "demo realtime --backend trio --rate 5000 --concurrency 4 --min-severity warn"
    argv += " --window 0.5 --duration 3 --seed 9 --json"
    args = cli.build_parser().parse_args(argv.split())
    assert (args.backend, args.rate, args.concurrency, args.min_severity) == (
        "trio",
        5000.0,
        4,
        "warn",
    )
    assert (args.window, args.duration, args.seed, args.json) == (0.5, 3.0, 9, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--window", "0"],
        ["demo", "--rate", "-5"],
        ["demo", "--concurrency", "0"],
        ["demo", "--backend", "curio"],
        ["demo", "--min-severity", "loud"],
        ["demo", "--duration", "nan"],
        ["nosuchcommand"],
        [],
    ],
)
def test_bad_options_exit_with_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_lists_the_demos(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.DEMOS:
        assert name in out


@pytest.mark.real_clock
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_short_json_run_in_process(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--backend", backend, "--duration", "0.6", "--window", "0.2"]
    argv += ["--rate", "1000", "--concurrency", "16", "--seed", "1", "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    records = [json.loads(line) for line in captured.out.splitlines()]
    kinds = [r["event"] for r in records]
    assert kinds[0] == "start"
    assert kinds[-1] == "summary"
    assert "stopping" in kinds
    assert "source_stopped" in kinds
    windows = [r for r in records if r["event"] == "window"]
    assert windows
    assert windows[-1]["partial"]
    summary = records[-1]
    assert summary["balanced"]
    assert summary["read"] == summary["malformed"] + summary["filtered"] + summary["in_windows"]
    assert summary["in_windows"] == sum(w["count"] for w in windows)


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anystream", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "realtime" in done.stdout
    assert done.stderr == ""


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from anystream import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"anystream {__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--window", "abc"], "argument --window: must be a number, got 'abc'"),
        (["demo", "--window", "0"], "argument --window: must be a positive number, got '0'"),
        (["demo", "--grace", "-1"], "argument --grace: must be a number >= 0, got '-1'"),
        (["demo", "--concurrency", "1.5"], "argument --concurrency: must be a whole number"),
        (
            ["demo", "ingest", "--failure-rate", "2"],
            "argument --failure-rate: must be a probability from 0 to 1, got '2'",
        ),
        (["demo", "ingest", "--events", "0"], "argument --events: must be a whole number >= 1"),
        (["demo", "ingest", "--retries", "-1"], "argument --retries: must be a whole number >= 0"),
    ],
)
def test_a_bad_value_names_the_option_in_plain_words(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "invalid" not in err  # never argparse's "invalid _positive value"


@pytest.mark.parametrize("demo", ["realtime", "ingest"])
def test_every_option_has_help_text_with_its_default(demo: str) -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    demo_parser = commands.choices["demo"]  # type: ignore[index]
    demos = next(a for a in demo_parser._actions if a.dest == "demo")
    sub = demos.choices[demo]  # type: ignore[index]
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{demo} {action.option_strings} has no help text"
        if action.default not in (None, False):
            # the default is spelled in the help, e.g. "events to ingest (500)"
            spelled = {str(action.default)}
            if isinstance(action.default, float):
                spelled.add(f"{action.default:g}")
            assert any(s in action.help for s in spelled), (demo, action.option_strings)
