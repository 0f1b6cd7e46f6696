"""The main loop of a ``map_process`` worker process (the parent side is _process_pool.py).

A worker is a fresh interpreter started as::

    python -u -c "from anystream.ops._process_worker import main; main()" REQ_FD RESP_FD

It reads request frames from the pipe ``REQ_FD`` and writes one response frame per call
request to ``RESP_FD``, strictly in order: the parent matches responses to requests by
position, never by id. Two private pipes rather than stdin/stdout, so that the user's
``print()``, ``input()`` or a C library writing to fd 1 cannot corrupt the protocol (stdin
is /dev/null, stdout and stderr are the parent's).

A frame is a 4-byte big-endian payload length, a 1-byte kind and a pickle. Requests:

``INIT``  (sys.path, main script path, main module name): import the parent's main script
          as ``__mp_main__`` (and alias it as ``__main__``), as multiprocessing's spawn
          method does, so that functions defined there unpickle. No response.
``FN``    the function to call: sent when a run leases this worker. No response.
``CALL``  one item: answered by ``OK`` (the pickled result) or ``ERROR`` (the pickled
          ``(exception, formatted traceback)`` pair).

The parent writes the next request while this one computes (it keeps up to two calls
outstanding per worker), so the worker goes straight from one call to the next. It exits
when the request pipe ends (the parent closed it, or the parent died) and ignores SIGINT:
a Ctrl-C in a terminal reaches the whole process group, and the pipeline's graceful stop
needs the call in progress to finish.

This module imports only the standard library: it is on every worker's start-up path.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import runpy
import select
import signal
import struct
import sys
import traceback
from types import ModuleType
from typing import Any

HEADER = struct.Struct("!IB")  # payload length, kind

# Request kinds (parent -> worker).
INIT = 1
FN = 2
CALL = 3
# Response kinds (worker -> parent).
OK = 4
ERROR = 5

_READ_SIZE = 1 << 16


def error_payload(exc: BaseException, skip_frames: int = 0) -> bytes:
    """Pickle ``(exc, traceback text)`` for an ``ERROR`` response.

    A traceback does not survive pickling, so it travels formatted. ``SystemExit`` (from
    ``sys.exit()`` in ``fn``) must not end the parent process nor, silently, this one:
    it and any other non-``Exception`` arrive as a ``RuntimeError`` describing them; so
    does an exception that cannot be pickled.
    """
    tb = exc.__traceback__
    for _ in range(skip_frames):
        tb = tb and tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    error: BaseException = exc
    if not isinstance(exc, Exception):
        error = RuntimeError(f"fn raised {exc!r} in a worker process")
    try:
        return pickle.dumps((error, text), pickle.HIGHEST_PROTOCOL)
    except Exception:
        error = RuntimeError(f"{type(exc).__name__}: {exc} (not picklable)")
        return pickle.dumps((error, text), pickle.HIGHEST_PROTOCOL)


def _import_main(path: str | None, module: str | None) -> None:
    """Load the parent's main script as ``__mp_main__``, as multiprocessing's spawn does.

    Its ``if __name__ == "__main__":`` block does not run, and functions that were pickled
    as ``__main__.<name>`` in the parent are found.
    """
    if module is not None and module != "__main__":
        # The parent ran ``python -m package.module``: import it by name, so that its
        # relative imports work.
        namespace = runpy.run_module(module, run_name="__mp_main__", alter_sys=True)
    elif path is not None and os.path.isfile(path):
        namespace = runpy.run_path(path, run_name="__mp_main__")
    else:
        return  # interactive parent, or ``-c``: nothing to import
    main = ModuleType("__mp_main__")
    main.__dict__.update(namespace)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_served: tuple[int, bytearray] | None = None  # (request fd, unparsed bytes) while serving


def requests_waiting() -> bool:
    """Whether a further request has reached this worker (called from ``fn``).

    For tests and debugging: while ``fn`` runs, the parent's next request is normally
    already here, in the buffer or in the pipe.
    """
    if _served is None:
        return False
    fd, buffer = _served
    return bool(buffer) or bool(select.select([fd], [], [], 0)[0])


def serve(req_fd: int, resp_fd: int) -> None:
    """Answer requests until the request pipe ends."""
    global _served
    buffer = bytearray()
    _served = (req_fd, buffer)
    header_size = HEADER.size
    unpack = HEADER.unpack_from
    pack = HEADER.pack
    dumps = pickle.dumps
    loads = pickle.loads
    protocol = pickle.HIGHEST_PROTOCOL
    fn: Any = None
    # An INIT or FN failure is the answer to every call until the next FN.
    init_error: bytes | None = None
    fn_error: bytes | None = None
    while True:
        # Parse every complete frame in the buffer before reading more: the parent keeps
        # the next request queued, so one read often brings two.
        if len(buffer) >= header_size:
            length, kind = unpack(buffer)
            end = header_size + length
            if len(buffer) >= end:
                payload = bytes(buffer[header_size:end])
                del buffer[:end]
                if kind == CALL:
                    failed = init_error or fn_error
                    if failed is not None:
                        response = pack(len(failed), ERROR) + failed
                    else:
                        try:
                            data = dumps(fn(loads(payload)), protocol)
                        except BaseException as exc:
                            data = error_payload(exc, skip_frames=1)
                            response = pack(len(data), ERROR) + data
                        else:
                            response = pack(len(data), OK) + data
                    _write_all(resp_fd, response)
                elif kind == FN:
                    try:
                        fn, fn_error = loads(payload), None
                    except BaseException as exc:
                        fn, fn_error = None, error_payload(exc)
                elif kind == INIT:
                    try:
                        sys.path[:], main_path, main_module = loads(payload)
                        _import_main(main_path, main_module)
                    except BaseException as exc:
                        init_error = error_payload(exc)
                continue
        chunk = os.read(req_fd, _READ_SIZE)
        if not chunk:
            return  # the parent closed the pipe or died
        buffer += chunk


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    req_fd, resp_fd = int(sys.argv[1]), int(sys.argv[2])
    # ``pass_fds`` hands the pipes over as inheritable descriptors. Anything ``fn``
    # spawns (``subprocess`` with ``close_fds=False``, ``os.system``, ``os.exec*``) must
    # not get them: a grandchild holding the response pipe open would keep the parent
    # from seeing this worker's death, and one reading the request pipe would steal
    # requests.
    os.set_inheritable(req_fd, False)
    os.set_inheritable(resp_fd, False)
    # The parent's main module is imported under INIT; this interpreter's own ``-c``
    # module must not stand in for it meanwhile.
    sys.argv[:] = [""]
    try:
        serve(req_fd, resp_fd)
    except BrokenPipeError:
        pass  # the parent closed the response pipe: it is gone or shutting down
    finally:
        os.close(req_fd)
        with contextlib.suppress(OSError):
            os.close(resp_fd)
