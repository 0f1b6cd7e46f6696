"""Scale-out over TLS: demo worker processes on ``rediss://`` with a self-signed CA.

The server (tests/connectors/redis_tls.py) speaks only TLS, with a certificate signed by
a CA that ``openssl`` made for the session, and the processes log in as an ACL user whose
password must be percent-encoded. ``produce`` is given the CA with ``--tls-ca``, the
workers in the URL (``?ssl_ca_certs=``). Three workers of one group run the reference
pipeline into the deduplicating sink; one is SIGKILLed while it holds entries, so its
entries are claimed over TLS too. In the end the sink holds exactly N distinct events,
nothing is pending, the survivors exit with 0 on SIGTERM without a word on stderr, and no
output of any process holds the password (as typed or percent-encoded).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# The TLS server fixture lives with the connector tests; load it from there.
_tls = _load(
    "anystream_redis_tls_fixture", Path(__file__).parents[1] / "connectors" / "redis_tls.py"
)
tls_redis_server = _tls.tls_redis_server
tls_redis = _tls.tls_redis
tls_command = _tls.tls_command

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.timeout(180),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

N = 600
PARTITIONS = 3
PASSWORD = "w0rk@rs:tls/#%"
SECRETS = ("w0rk@rs", quote(PASSWORD, safe=""))


@pytest.fixture
def userinfo(tls_redis: Any) -> Iterator[str]:
    tls_command(tls_redis, "ACL", "SETUSER", "workers", "reset", "on", f">{PASSWORD}")
    tls_command(tls_redis, "ACL", "SETUSER", "workers", "~*", "&*", "+@all")
    try:
        yield f"workers:{quote(PASSWORD, safe='')}"
    finally:
        tls_command(tls_redis, "ACL", "DELUSER", "workers")


def _int(server: Any, *args: str) -> int:
    reply = tls_command(server, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def _pending_total(server: Any, partition: int) -> int:
    reply = tls_command(server, "XPENDING", f"demo:events:{partition}", "g")
    return int(reply.split(b"\r\n")[1][1:])


def _holds_any(server: Any, partition: int, consumer: str) -> bool:
    reply = tls_command(server, "XPENDING", f"demo:events:{partition}", "g", "-", "+", "1",
                        consumer)  # fmt: skip
    return not reply.startswith(b"*0")


def _demo(url: str, *args: str, json: bool = True) -> list[str]:
    cmd = [sys.executable, "-W", "always", "-m", "anystream.demo.redis_demo", *args]
    return [*cmd, "--url", url, *(["--json"] if json else [])]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_workers_over_tls_sink_is_exact(tls_redis: Any, userinfo: str, backend: str) -> None:
    server = tls_redis
    plain_url = f"rediss://{userinfo}@127.0.0.1:{server.port}"
    produced = subprocess.run(
        [*_demo(plain_url, "produce", "--events", str(N), "--partitions", str(PARTITIONS),
                "--malformed", "5", "--backend", backend, json=False),
         "--tls-ca", str(server.ca)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    # In text mode the producer names the server: the user, not the password, and the CA
    # that --tls-ca put in the URL.
    assert produced.stdout.startswith(f"produced {N + 5} entries on {PARTITIONS} partitions "
                                      f"of rediss://workers:***@127.0.0.1:{server.port}"
                                      f"?ssl_ca_certs=")  # fmt: skip
    outputs: list[str] = [produced.stdout, produced.stderr]
    worker_args = ["--group", "g", "--partitions", str(PARTITIONS), "--latency", "0.02",
                   "--concurrency", "2", "--block", "0.2", "--claim-idle", "1.0",
                   "--claim-interval", "0.25", "--backend", backend]  # fmt: skip
    workers = [
        subprocess.Popen(
            _demo(server.url(userinfo), "worker", "--consumer", f"w{i}", *worker_args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    survivors: list[tuple[str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while _int(server, "XLEN", "demo:sink") < N // 4:
            assert time.monotonic() < deadline, "the workers made no progress"
            for w in workers:
                assert w.poll() is None, w.communicate()
            time.sleep(0.05)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        held = [_holds_any(server, p, "w0") for p in range(PARTITIONS)]
        assert any(held), "the killed worker held nothing: the test did not test claiming"
        while _int(server, "XLEN", "demo:sink") < N:
            assert time.monotonic() < deadline, (
                f"sink stuck at {_int(server, 'XLEN', 'demo:sink')} of {N}"
            )
            time.sleep(0.05)
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        survivors = [w.communicate(timeout=20) for w in workers[1:]]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            if w.stdout is not None and not w.stdout.closed:
                out, err = w.communicate()
                outputs += [out, err]
    for w, (out, err) in zip(workers[1:], survivors, strict=True):
        outputs += [out, err]
        assert w.returncode == 0, err
        assert err == ""
        lines = [json.loads(line) for line in out.strip().splitlines()]
        assert lines[0]["event"] == "start"
        assert lines[-1]["event"] == "summary"
    assert _int(server, "XLEN", "demo:sink") == N
    assert _int(server, "SCARD", "demo:seen") == N
    for p in range(PARTITIONS):
        assert _pending_total(server, p) == 0
    everything = "\n".join(outputs)
    for secret in SECRETS:
        assert secret not in everything
