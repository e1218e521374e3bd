"""The trigger loop in process, driven by an injected clock: the minutes it runs, catch-up of
missed minutes, and a timer build that is still queued not being queued twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dockyard.auth import MIGRATIONS as AUTH_MIGRATIONS
from dockyard.auth import AuthService
from dockyard.ci import MIGRATIONS as CI_MIGRATIONS
from dockyard.ci import parse_jenkinsfile
from dockyard.ci.service import CIService
from dockyard.events import EventBus
from dockyard.store import Database
from tests.ci.conftest import inline_job_xml


class StepClock:
    """A clock a test moves; sleeping yields to the loop."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime | None:
        return self.current

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.01)


def service(tmp_path: Path, clock: StepClock) -> CIService:
    db = Database(tmp_path / "db.sqlite")
    db.migrate([*AUTH_MIGRATIONS, *CI_MIGRATIONS])
    return CIService(
        db, AuthService(db), EventBus(), tmp_path / "ci", lambda: "http://127.0.0.1:8080", clock=clock
    )


def test_tick_queues_once_and_the_loop_catches_up(tmp_path: Path) -> None:
    start = datetime(2026, 12, 8, 1, 59, 30, tzinfo=UTC)
    clock = StepClock(start)
    ci = service(tmp_path, clock)
    source = (
        "pipeline { agent any\n triggers { cron('0 2 * * *') }\n"
        " stages { stage('s') { steps { echo 'x' } } } }"
    )
    job = ci.store.create_job("nightly", inline_job_xml(source))
    ci.properties.register(job.id, parse_jenkinsfile(source))

    async def scenario() -> None:
        two = start.replace(hour=2, minute=0, second=0)
        assert await ci.triggers.tick(two - timedelta(minutes=1)) == []
        (first,) = await ci.triggers.tick(two)
        assert first.cause == "timer" and first.state == "QUEUED"
        assert await ci.triggers.tick(two) == []  # still queued: not queued twice
        ci.store.finish(first.id, "SUCCESS")

        await ci.triggers.start()
        try:
            while ci.triggers.checked_through is None:
                await asyncio.sleep(0.01)
            clock.current = start + timedelta(days=1, minutes=3)  # a day later: 02:00 is caught up
            while ci.triggers.checked_through < clock.current.replace(second=0):
                await asyncio.sleep(0.01)
        finally:
            await ci.triggers.stop()

    asyncio.run(scenario())
    builds = ci.store.builds("nightly")
    assert [(b.number, b.cause) for b in builds] == [(2, "timer"), (1, "timer")]
