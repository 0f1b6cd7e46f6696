"""The simulated feed: pacing, malformed lines, reproducibility, stop notification."""

from __future__ import annotations

import anyio
import pytest

from anystream.demo.events import parse_event
from anystream.demo.feed import Feed

pytestmark = pytest.mark.anyio


async def _lines(feed: Feed) -> list[tuple[float, str]]:
    start = anyio.current_time()
    return [(anyio.current_time() - start, line) async for line in feed]


async def test_every_eighth_line_is_malformed() -> None:
    feed = Feed(seed=1, limit=80)
    lines = [line for _, line in await _lines(feed)]
    assert len(lines) == 80
    bad = []
    for n, line in enumerate(lines, start=1):
        try:
            parse_event(line)
        except ValueError:
            bad.append(n)
    assert bad == list(range(8, 81, 8))
    assert feed.malformed == 10


async def test_irregular_gaps_are_between_10_and_60_ms() -> None:
    times = [t for t, _ in await _lines(Feed(seed=2, limit=200))]
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert all(0.010 - 1e-9 <= g <= 0.060 + 1e-9 for g in gaps)
    assert 0.025 < sum(gaps) / len(gaps) < 0.045  # uniform: about 35 ms on average


async def test_rate_paces_the_feed_exactly() -> None:
    times = [t for t, _ in await _lines(Feed(rate=100, limit=100))]
    assert times[-1] == pytest.approx(1.0)


async def test_a_seed_makes_the_feed_reproducible() -> None:
    def fields(lines: list[tuple[float, str]]) -> list[list[str]]:
        return [line.split(",")[1:] for _, line in lines]

    a = await _lines(Feed(seed=7, limit=50))
    b = await _lines(Feed(seed=7, limit=50))
    c = await _lines(Feed(seed=8, limit=50))
    assert fields(a) == fields(b)
    assert fields(a) != fields(c)


async def test_on_stop_reports_the_lines_when_the_consumer_leaves() -> None:
    stopped: list[int] = []
    feed = Feed(seed=3, on_stop=stopped.append)
    it = aiter(feed)
    for _ in range(5):
        await anext(it)
    assert stopped == []
    await it.aclose()  # type: ignore[attr-defined]
    assert stopped == [5]
    assert feed.stopped
    assert feed.lines == 5


async def test_a_rate_limited_feed_held_back_does_not_burst() -> None:
    """After the consumer stalls, the feed resumes at its rate instead of catching up."""
    feed = Feed(rate=1000, limit=40)
    times: list[float] = []
    start = anyio.current_time()
    async for _ in feed:
        times.append(anyio.current_time() - start)
        if len(times) == 20:
            await anyio.sleep(1.0)  # backpressure: nobody asks for a line for 1 s
    after = times[20:]
    assert after[0] >= 1.0
    assert after[-1] - after[0] == pytest.approx(19 * 0.001)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0}, "rate"),
        ({"min_gap": 0.1, "max_gap": 0.05}, "min_gap"),
        ({"malformed_every": 0}, "malformed_every"),
        ({"limit": -1}, "limit"),
    ],
)
def test_bad_arguments_name_themselves(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Feed(**kwargs)  # type: ignore[arg-type]
