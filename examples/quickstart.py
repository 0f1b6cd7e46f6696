"""The quick-start example: parse, filter and map a few lines, on asyncio and on trio."""

import anyio

from anystream import from_iterable, map, parse, where


async def main() -> None:
    s = (
        from_iterable(["1", "x", "3", "7"])
        | parse(int)
        | where(lambda n: n > 1)
        | map(lambda n: n * 10)
    )
    result = await s.collect()
    assert result == [30, 70]
    print(result, "- malformed lines dropped:", s.stats()["parse"].dropped.get("malformed", 0))


if __name__ == "__main__":
    for backend in ("asyncio", "trio"):
        print(f"{backend}: ", end="")
        anyio.run(main, backend=backend)
