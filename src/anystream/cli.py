"""The ``anystream`` command line (``anystream ...`` or ``python -m anystream ...``).

Subcommands:

``anystream demo [NAME] [options]``
    Run one of the demos registered in :data:`DEMOS`; ``NAME`` defaults to
    :data:`DEFAULT_DEMO` (the reference real-time pipeline), so ``anystream demo
    --window 1`` and ``anystream demo realtime --window 1`` are the same command.

Adding a demo takes one line in :data:`DEMOS` naming a module that defines ``HELP`` (a
one-line description), ``add_arguments(parser)`` and ``run(args) -> int`` (the exit
code). Modules are imported only when the parser is built, so a demo that needs an
optional dependency should import it inside ``run``.

Only this module and the demo command modules print; library code logs through
``logging.getLogger("anystream...")``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast

from . import __version__

if TYPE_CHECKING:
    # Imported by the functions that use it: importing this module (the console
    # script's first step, outside any ``try``) then costs next to nothing, so that a
    # Ctrl-C during start-up almost always lands inside main()'s handler.
    import argparse

__all__ = ["DEFAULT_DEMO", "DEMOS", "build_parser", "main"]

#: Demo subcommands: name -> module implementing it (see the module docstring).
DEMOS: dict[str, str] = {
    "realtime": "anystream.demo.cli_realtime",
    "ingest": "anystream.demo.cli_ingest",
    "produce": "anystream.demo.redis_demo:produce_command",
    "worker": "anystream.demo.redis_demo:worker_command",
}

#: The demo ``anystream demo`` runs when no demo name is given.
DEFAULT_DEMO = "realtime"


class DemoCommand(Protocol):
    """What a module listed in :data:`DEMOS` provides."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(spec: str) -> DemoCommand:
    """Import ``"module"`` or ``"module:attribute"`` (one module may hold several demos)."""
    module, _, attribute = spec.partition(":")
    loaded = importlib.import_module(module)
    return cast(DemoCommand, getattr(loaded, attribute) if attribute else loaded)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``anystream`` with its subcommands and every registered demo."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="anystream",
        description="Composable async stream operators on anyio (asyncio and trio).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, show the full traceback instead of one line (accepted anywhere)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a demo pipeline (default: the real-time reference pipeline)",
        description=(
            f"Run a demo pipeline. Without a NAME, runs '{DEFAULT_DEMO}'; "
            f"see 'anystream demo {DEFAULT_DEMO} --help' for its options."
        ),
    )
    demos = demo.add_subparsers(dest="demo", metavar="NAME", required=True)
    for name, module in DEMOS.items():
        command = _load(module)
        sub = demos.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def _with_default_demo(argv: list[str]) -> list[str]:
    """Insert :data:`DEFAULT_DEMO` after ``demo`` when no demo name follows it."""
    if argv and argv[0] == "demo":
        rest = argv[1:]
        if not rest or (rest[0] not in DEMOS and rest[0] not in ("-h", "--help")):
            return ["demo", DEFAULT_DEMO, *rest]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``anystream`` console script; returns the exit code.

    130, quietly, after a Ctrl-C outside a run that handles signals itself: while the
    parser imports the demos (most of the library), or after the run ended.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (users add it at the end of a command).
    debug = "--debug" in raw
    try:
        args_list = _with_default_demo([a for a in raw if a != "--debug"])
        args = build_parser().parse_args(args_list)
        handler = cast("Callable[[argparse.Namespace], int]", args.handler)
        return handler(args)
    except Exception as exc:
        if debug:
            raise
        # One line, never a traceback: what failed, in the words of the error (with any
        # password in a URL masked), and how to see more.
        print(f"anystream: error: {_one_line(exc)} (run with --debug for the traceback)",
              file=sys.stderr, flush=True)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        # Ctrl-C outside a run that handles signals (start-up, or after the run ended).
        return 130
    except BrokenPipeError:
        # Output piped into something that left (``anystream demo | head``): stop
        # quietly, and keep Python from complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


_PASSWORD_IN_URL = r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)\S*@"


def _one_line(exc: BaseException) -> str:
    """``exc`` as one line: its first leaf if a group, type and message, passwords masked."""
    import re

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or "(no message)"
    text = re.sub(_PASSWORD_IN_URL, r"\g<head>***@", text)
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
