"""The cloud's concurrency cap (Jenkins' `containerCap`), counted honestly: a slot is taken before
the pod is created (so Pending pods count) and given back only once the pod is gone from the API
(so a Terminating pod still counts). Builds over the cap wait here, in Dockyard, never as
Pending pods in the cluster (jenkins-infra/helpdesk#3230: 89 pods with a cap of 30)."""

from __future__ import annotations

import asyncio
from collections import deque


class PodCap:
    """At most `cap` slots in use; waiters are served first come, first served."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("the container cap must be at least 1")
        self.cap = cap
        self.used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> bool:
        return self.used < self.cap and not self._waiters

    async def acquire(self) -> None:
        """Takes a slot, waiting for one (cancellation leaves the count unchanged)."""
        if self.free:
            self.used += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future  # release() handed its slot over: `used` already counts it
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        """Gives a slot back: to the first waiter if there is one, else to the pool."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.used = max(0, self.used - 1)
