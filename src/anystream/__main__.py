"""``python -m anystream``: the same as the ``anystream`` console script.

A Ctrl-C while the command is still importing (the CLI and its demos import most of
the library, which takes a noticeable fraction of a second) ends it with exit status
130 and no traceback, as a Ctrl-C does later; :func:`anystream.cli.main` covers the
rest of the command's life.
"""

import os
import signal
import sys


def _exit_130(signum: int, frame: object) -> None:
    # Nothing has started yet, so there is nothing to clean up. Exiting here, not by
    # raising KeyboardInterrupt, also covers a Ctrl-C that lands inside one of the import
    # system's weakref callbacks: CPython reports an exception raised there as "ignored"
    # and carries on importing, and the command would then not stop at all.
    os._exit(130)


code: int
try:
    _previous = signal.signal(signal.SIGINT, _exit_130)
    try:
        from .cli import main
    finally:
        signal.signal(signal.SIGINT, _previous)
    code = main()
except KeyboardInterrupt:
    code = 130
if code == 130:
    # CPython records a KeyboardInterrupt that ended any exec() of a *string* (dataclasses
    # and namedtuple generate their methods that way while a module is imported), even
    # if it was caught later, and under ``python -m`` only it then ends the process with
    # SIGINT instead of the exit status asked for. Every string exec() clears the record.
    exec("")
sys.exit(code)
