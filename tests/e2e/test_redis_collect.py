"""Two worker processes draining one group with ``collect()``: every entry handled once.

``collect()`` used to acknowledge nothing until the run ended, so a consumer's entries
went idle while it was still working and the other consumer claimed them: two
consumers draining 3,000 entries handled 5,800-6,000 of them. Acknowledgements now go
out as the run goes, however it is consumed (docs/redis.md), so here two separate
processes, each ``collect()``-ing from the same group (logged in as an ACL user whose
password needs percent-encoding), handle each of the N entries exactly once between
them, leave nothing pending, and print no password.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

_spec = importlib.util.spec_from_file_location(
    "anystream_redis_fixture", Path(__file__).parents[1] / "connectors" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_fixture = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixture  # dataclasses look their module up there
_spec.loader.exec_module(_fixture)
redis_server = _fixture.redis_server
redis_url = _fixture.redis_url
command = _fixture.command

pytestmark = [pytest.mark.real_clock, pytest.mark.timeout(180)]

N = 3000
USER = "collector"
PASSWORD = "c@l:l/e#c%t"

CONSUMER = textwrap.dedent(
    """
    import json, sys
    import anyio
    import anystream as a
    from anystream.connectors.redis import from_redis_stream

    url, name, backend = sys.argv[1:4]

    async def slow(entry):
        await anyio.sleep(0.002)  # the run outlasts claim_idle: the old bug would show
        return int(entry.fields["n"])

    async def main():
        return await (
            from_redis_stream(
                url, "s", group="g", consumer=name, batch=50, block=0.05,
                claim_idle=1.0, claim_interval=0.2, idle_stop=2.0,
            )
            | a.map_async(slow, concurrency=2)
        ).collect()

    print(json.dumps(anyio.run(main, backend=backend)))
    """
)


def _fill(port: int, n: int) -> None:
    """``XADD s * n i`` for i < n, pipelined over one connection."""
    parts = []
    for i in range(n):
        value = str(i).encode()
        parts.append(b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nn\r\n")
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(parts))
        replies = b""
        while replies.count(b"\r\n") < 2 * n:  # each reply: "$<len>\r\n<id>\r\n"
            chunk = s.recv(65536)
            assert chunk, "redis-server closed the connection while filling"
            replies += chunk


def _int(port: int, *args: str) -> int:
    reply = command(port, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_processes_draining_with_collect_handle_each_entry_once(
    redis_server: _fixture.RedisServer, redis_url: str, backend: str
) -> None:
    port = redis_server.port
    assert command(port, "ACL", "SETUSER", USER, "reset", "on", f">{PASSWORD}").startswith(b"+OK")
    assert command(port, "ACL", "SETUSER", USER, "~*", "&*", "+@all").startswith(b"+OK")
    try:
        _fill(port, N)
        assert _int(port, "XLEN", "s") == N
        url = f"redis://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CONSUMER, url, name, backend],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("c1", "c2")
        ]
        outputs = [p.communicate(timeout=150) for p in procs]
        for p, (_out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
        handled = [n for out, _err in outputs for n in json.loads(out)]
        assert len(handled) == N  # nothing handled twice...
        assert sorted(handled) == list(range(N))  # ...and nothing missed
        reply = command(port, "XPENDING", "s", "g")
        assert reply.startswith(b"*4\r\n:0\r\n"), reply  # nothing pending
        text = "".join(out + err for out, err in outputs)
        assert PASSWORD not in text
        assert quote(PASSWORD, safe="") not in text
    finally:
        command(port, "ACL", "DELUSER", USER)
