"""Delivery limit, dead-letter stream and acknowledging as you go, against a real server.

Real clock (see test_redis.py). Each scenario is what issue 18 reported: a poison entry
that stopped the group forever, and ``collect()`` that acknowledged nothing until the end.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anystream as a
from anystream.connectors.redis import RedisEntry, from_redis_stream

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock, pytest.mark.timeout(120)]

try:
    import coredis
except ImportError:  # the redis_server fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


async def _pending(r: Any, stream: str, group: str) -> int:
    return int((await r.xpending(stream, group)).pending)


async def _fill(r: Any, stream: str, n: int, poison_at: int | None = None) -> str | None:
    """``n`` entries ``{"n": i}``; the one at ``poison_at`` is ``{"poison": "1"}``; its id."""
    poison_id = None
    for i in range(n):
        if i == poison_at:
            poison_id = await r.xadd(stream, {"poison": "1"})
        else:
            await r.xadd(stream, {"n": str(i)})
    return poison_id


class Poisoned(RuntimeError):
    pass


async def test_a_poison_entry_is_dead_lettered_and_the_entries_behind_it_proceed(
    redis_url: str,
) -> None:
    done: set[int] = set()

    async def process(entry: RedisEntry) -> int:
        if "poison" in entry.fields:
            raise Poisoned(f"cannot handle {entry.id}")
        await anyio.lowlevel.checkpoint()
        done.add(int(entry.fields["n"]))
        return int(entry.fields["n"])

    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        poison_id = await _fill(r, "s", 101, poison_at=30)
        source = from_redis_stream(
            redis_url, "s", group="g", consumer="w", batch=20, block=0.05, idle_stop=0.3,
            max_deliveries=3, dead_letter_stream="s:dlq",
        )  # fmt: skip
        failures = 0
        with anyio.fail_after(90):
            for _restart in range(10):  # a supervisor restarting the same worker
                try:
                    await (source | a.map_async(process)).collect()
                except Poisoned:
                    failures += 1
                    continue
                break
        # Delivered 3 times (3 failed runs), dead-lettered on the 4th delivery.
        assert failures == 3
        assert done == set(range(101)) - {30}
        assert await _pending(r, "s", "g") == 0
        letters = await r.xrange("s:dlq")
        assert len(letters) == 1
        fields = letters[0].field_values
        assert fields["stream"] == "s"
        assert fields["id"] == poison_id
        assert fields["deliveries"] == "4"
        assert fields["reason"] == "max_deliveries"
        assert fields["poison"] == "1"


async def test_deliveries_are_counted_and_a_claimed_entry_carries_its_count(
    redis_url: str,
) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 3)
        await r.xgroup_create("s", "g", identifier="0")
        assert await r.xreadgroup("g", "dead", {"s": ">"}, count=1)  # delivered once
        entries = await from_redis_stream(
            r, "s", group="g", consumer="alive", block=0.05, claim_idle=0.1,
            claim_interval=0.1, idle_stop=0.6,
        ).collect()  # fmt: skip
        by_n = {e.fields["n"]: e.deliveries for e in entries}
        assert by_n == {"0": 2, "1": 1, "2": 1}
        assert await _pending(r, "s", "g") == 0


async def test_max_deliveries_none_is_unlimited(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 1)
        await r.xgroup_create("s", "g", identifier="0")
        for _ in range(4):  # four deliveries to "w", never acknowledged
            assert await r.xreadgroup("g", "w", {"s": "0" if _ else ">"}, count=1)
        got = await from_redis_stream(
            r, "s", group="g", consumer="w", block=0.05, idle_stop=0.3, max_deliveries=None
        ).collect()
        assert [e.deliveries for e in got] == [5]
        assert not await r.exists(["s:dead"])
        await _fill(r, "t", 1)
        await r.xgroup_create("t", "g", identifier="0")
        for _ in range(2):
            assert await r.xreadgroup("g", "w", {"t": "0" if _ else ">"}, count=1)
        got = await from_redis_stream(
            r, "t", group="g", consumer="w", block=0.05, idle_stop=0.3, max_deliveries=1
        ).collect()
        assert got == []  # its 3rd delivery: over the limit, to the default "<stream>:dead"
        assert len(await r.xrange("t:dead")) == 1
        assert await _pending(r, "t", "g") == 0


async def test_an_error_policy_dead_letter_is_written_to_the_stream_before_the_ack(
    redis_url: str,
) -> None:
    async def fail_on_odd(entry: RedisEntry) -> int:
        n = int(entry.fields["n"])
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    letters: a.DeadLetters[Any] = a.DeadLetters()
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 20)
        got = await (
            from_redis_stream(redis_url, "s", group="g", consumer="w", block=0.05, idle_stop=0.3)
            | a.map_async(fail_on_odd, concurrency=3, on_error=letters)
        ).collect()
        assert sorted(got) == list(range(0, 20, 2))
        assert len(letters) == 10  # the in-memory policy still gets them
        written = await r.xrange("s:dead")
        assert sorted(int(e.field_values["n"]) for e in written) == list(range(1, 20, 2))
        assert all(e.field_values["reason"] == "error_policy" for e in written)
        assert all(e.field_values["error"].startswith("ValueError: odd") for e in written)
        assert await _pending(r, "s", "g") == 0


async def test_two_consumers_draining_with_collect_handle_each_entry_once(
    redis_url: str,
) -> None:
    n = 3000
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        async with r.pipeline(transaction=False) as p:
            for i in range(n):
                p.xadd("s", {"n": str(i)})
        handled: list[int] = []

        async def consume(name: str) -> None:
            async def slow(entry: RedisEntry) -> int:
                await anyio.sleep(0.0005)
                return int(entry.fields["n"])

            got = await (
                from_redis_stream(
                    redis_url, "s", group="g", consumer=name, batch=50, block=0.05,
                    claim_idle=1.0, claim_interval=0.2, idle_stop=1.5,
                )
                | a.map_async(slow, concurrency=4)
            ).collect()  # fmt: skip
            handled.extend(got)

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, "c1")
                tg.start_soon(consume, "c2")
        assert len(handled) == n
        assert sorted(handled) == list(range(n))
        assert await _pending(r, "s", "g") == 0


async def test_collect_acknowledges_while_the_run_goes_on(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 200)
        pending_seen: list[int] = []

        async def watch(entry: RedisEntry) -> RedisEntry:
            if entry.fields["n"] == "150":
                await anyio.sleep(0.3)  # the ack task has had time to send the first 150
                pending_seen.append(await _pending(r, "s", "g"))
            return entry

        with anyio.fail_after(30):
            got = await (
                from_redis_stream(
                    redis_url, "s", group="g", consumer="w", block=0.05, idle_stop=0.3
                )
                | a.map_async(watch)
            ).collect()
        assert len(got) == 200
        assert len(pending_seen) == 1
        assert pending_seen[0] <= 50
        assert await _pending(r, "s", "g") == 0


async def test_take_ending_early_acknowledges_what_it_took(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 100)
        with anyio.fail_after(30):
            got = await (
                from_redis_stream(redis_url, "s", group="g", consumer="w", batch=10, block=0.05)
                | a.map(lambda e: int(e.fields["n"]))
                | a.take(25)
            ).collect()
        assert got == list(range(25))
        # The 25 taken are acknowledged; what was read ahead stays pending (redelivered).
        assert await _pending(r, "s", "g") <= 10
        rest = await (
            from_redis_stream(r, "s", group="g", consumer="w", block=0.05, idle_stop=0.3)
            | a.map(lambda e: int(e.fields["n"]))
        ).collect()
        assert sorted(rest) == list(range(25, 100))


def test_bad_delivery_arguments_name_the_argument() -> None:
    url = "redis://127.0.0.1:1"
    with pytest.raises(ValueError, match=r"from_redis_stream\(\): max_deliveries"):
        from_redis_stream(url, "s", group="g", consumer="c", max_deliveries=0)
    with pytest.raises(TypeError, match="max_deliveries"):
        from_redis_stream(url, "s", group="g", consumer="c", max_deliveries="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dead_letter_stream must be a stream name"):
        from_redis_stream(url, "s", group="g", consumer="c", dead_letter_stream="")
    with pytest.raises(ValueError, match="dead_letter_stream 's' is one of the streams"):
        from_redis_stream(url, "s", group="g", consumer="c", dead_letter_stream="s")


# -- no stealing from live workers ---------------------------------------------------------------


async def test_slow_live_workers_do_not_steal_from_each_other(redis_url: str) -> None:
    # 3 workers, 3 partitions, a 50 ms stage and claim_idle=2: a worker reads up to
    # 3 x 100 entries at once, far more than it finishes in 2 s. Without the heartbeat the
    # oldest of them would look idle to the other workers and be processed twice.
    n = 900
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        async with r.pipeline(transaction=False) as p:
            for i in range(n):
                p.xadd(f"p:{i % 3}", {"n": str(i)})
        processed: list[int] = []

        async def stage(entry: RedisEntry) -> int:
            await anyio.sleep(0.05)
            processed.append(int(entry.fields["n"]))
            return int(entry.fields["n"])

        async def worker(name: str) -> None:
            await (
                from_redis_stream(
                    redis_url, ["p:0", "p:1", "p:2"], group="g", consumer=name, block=0.1,
                    claim_idle=2.0, claim_interval=0.25, idle_stop=1.0,
                )
                | a.buffered(50)
                | a.map_async(stage, concurrency=5)
            ).collect()  # fmt: skip

        with anyio.fail_after(100):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(worker, f"w{i}")
        assert len(processed) == n, f"{len(processed) - len(set(processed))} processed twice"
        assert sorted(processed) == list(range(n))
        for p in range(3):
            assert await _pending(r, f"p:{p}", "g") == 0


async def test_read_ahead_bounds_what_a_worker_holds(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await _fill(r, "s", 100)
        most = 0

        async def stage(entry: RedisEntry) -> int:
            nonlocal most
            most = max(most, int((await r.xpending("s", "g")).pending))
            await anyio.sleep(0.002)
            return int(entry.fields["n"])

        got = await (
            from_redis_stream(
                redis_url, "s", group="g", consumer="w", block=0.05, idle_stop=0.3, read_ahead=10
            )
            | a.buffered(50)
            | a.map_async(stage)
        ).collect()
        assert sorted(got) == list(range(100))
        assert most <= 10 + 1  # what it holds, plus an ack that may still be on its way


def test_heartbeat_must_be_shorter_than_claim_idle() -> None:
    with pytest.raises(ValueError, match=r"from_redis_stream\(\): heartbeat must be shorter"):
        from_redis_stream("redis://x", "s", group="g", consumer="c", claim_idle=2, heartbeat=2)
    with pytest.raises(ValueError, match="read_ahead"):
        from_redis_stream("redis://x", "s", group="g", consumer="c", read_ahead=0)
