"""``python -m anystream``: the same as the ``anystream`` console script.

A Ctrl-C while the command is still importing (the CLI and its demos import most of
the library, which takes a noticeable fraction of a second) ends it with exit status
130 and no traceback, as a Ctrl-C does later; :func:`anystream.cli.main` covers the
rest of the command's life.
"""

import sys

code: int
try:
    from .cli import main

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
