"""A background run is aborted, and its source closed, when its Jupyter kernel shuts down.

A real kernel (ipykernel through jupyter_client) starts a run with ``await
stream.start()`` over a source whose ``finally`` writes a file, and is then shut down
the way a notebook's "Shut Down Kernel" does (a shutdown request, not a kill). Without
the hook in ``anystream.observe._ipykernel_asyncio`` the loop just stops and the file
is never written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from jupyter_client.manager import start_new_kernel  # noqa: E402

pytestmark = [pytest.mark.real_clock, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]

CELL = """
import anyio
from anystream import from_iterable
from anystream.observe import _ipykernel_asyncio

async def forever():
    try:
        i = 0
        while True:
            await anyio.sleep(0.01)
            yield i
            i += 1
    finally:
        open({marker!r}, "w").write("closed")

run = await from_iterable(forever()).start()
await anyio.sleep(0.2)
print("state", run.state, run.received > 0, _ipykernel_asyncio.installed())
"""


def _shell_reply(kc: object, msg_id: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[attr-defined]
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]  # type: ignore[no-any-return]
    pytest.fail("no reply from the kernel in time")


def _stdout(kc: object, msg_id: str) -> str:
    out = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=5)  # type: ignore[attr-defined]
        except Exception:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    return "".join(out)


def test_shutting_the_kernel_down_closes_a_background_runs_source(tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        msg_id = kc.execute(CELL.format(marker=str(marker)))
        assert _shell_reply(kc, msg_id, 60)["status"] == "ok"
        assert "state running True True" in _stdout(kc, msg_id)
        assert not marker.exists()  # still running
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)  # a shutdown request, as the notebook's menu sends
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "closed"
