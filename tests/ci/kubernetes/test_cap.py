"""The cloud's concurrency cap (kubernetes_cap): never more than `cap` slots out, first come first
served, and a waiter cancelled while waiting leaks nothing."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.ci.executor.kubernetes_cap import PodCap


def test_ten_builds_with_a_cap_of_four() -> None:
    async def main() -> tuple[int, list[int]]:
        cap = PodCap(4)
        peak, order = 0, []

        async def build(i: int) -> None:
            nonlocal peak
            await cap.acquire()
            order.append(i)
            peak = max(peak, cap.used)
            await asyncio.sleep(0.01 * (i % 3))
            cap.release()

        await asyncio.gather(*(build(i) for i in range(10)))
        assert cap.used == 0
        return peak, order

    peak, order = asyncio.run(main())
    assert peak == 4 and order == list(range(10))


def test_cancelled_waiter_leaks_no_slot() -> None:
    async def main() -> None:
        cap = PodCap(1)
        await cap.acquire()
        waiter = asyncio.ensure_future(cap.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        cap.release()
        assert cap.used == 0 and cap.free
        await cap.acquire()
        assert cap.used == 1

    asyncio.run(main())


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PodCap(0)
