"""The interrupt button cancels a ``run_in_trio`` cell, in a real Jupyter kernel (issue 17).

A kernel (ipykernel, through jupyter_client) runs a cell that awaits ``run_in_trio`` on an
endless stream; the test interrupts the kernel as the button does and expects the cell
to end with an error (an endless stream never ends by itself), after which the kernel
still works and trio still runs. Every wait has a limit, so a hang fails the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
pytest.importorskip("trio")

from jupyter_client.manager import start_new_kernel  # noqa: E402

pytestmark = [pytest.mark.real_clock, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]

ENDLESS = """
import anyio
from anystream import from_iterable
from anystream.observe.notebook import run_in_trio

async def forever():
    i = 0
    while True:
        await anyio.sleep(0.01)
        yield i
        i += 1

print("running", flush=True)
await run_in_trio(from_iterable(forever()).collect)
"""


@pytest.fixture
def kernel() -> Iterator[Any]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def reply_to(kc: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no reply to {msg_id} within {timeout} s"
        msg = kc.get_shell_msg(timeout=left)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]  # type: ignore[no-any-return]


def wait_for_output(kc: Any, msg_id: str, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the cell did not print {text!r} within {timeout} s"
        msg = kc.get_iopub_msg(timeout=left)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "stream"
            and text in msg["content"]["text"]
        ):
            return


def test_the_interrupt_button_cancels_an_endless_run_in_trio_cell(kernel: Any) -> None:
    km, kc = kernel
    msg_id = kc.execute(ENDLESS, stop_on_error=False)  # keep the next cell from being aborted
    wait_for_output(kc, msg_id, "running", timeout=60)
    time.sleep(1.0)  # well inside trio.run by now
    km.interrupt_kernel()
    # Without the fix the cell ran on until the stream ended, that is forever.
    content = reply_to(kc, msg_id, timeout=30)
    assert content["status"] == "error"
    assert content["ename"] in ("CancelledError", "KeyboardInterrupt"), content["ename"]
    # The kernel is usable afterwards, and so is trio: no thread or loop left behind.
    again = kc.execute(
        "import threading\n"
        "assert await run_in_trio(from_iterable([1, 2]).collect) == [1, 2]\n"
        "assert not [t for t in threading.enumerate() if 'trio' in t.name.lower()]\n"
    )
    assert reply_to(kc, again, timeout=60)["status"] == "ok"
