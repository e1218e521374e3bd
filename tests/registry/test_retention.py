"""Harbor tag retention run by the server: a policy made with harborapi (PyPI) keeps the latest
pushed tags it selects, deletes the rest of the repositories it covers (a dry run only reports),
spares immutable tags and uncovered repositories, and runs on its cron schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path

import httpx
import pytest

from dockyard.registry.harbor_retention_store import cron_due, parse_cron
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.images import make_layout
from tests.registry.conftest import push
from tests.registry.test_harborapi import server

harborapi = pytest.importorskip("harborapi", reason="harborapi is in the dev extra")
__all__ = ["server"]  # a fixture: this module's own `dockyard up` (test_harborapi's)


def api(server: DockyardServer):  # noqa: ANN201 - one client per event loop (asyncio.run)
    return harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0", username=ADMIN_USER,
                                       secret=ADMIN_PASSWORD)


def policy(project_id: int, keep: int, cron: str = ""):  # noqa: ANN201
    from harborapi.models import (
        RetentionPolicy,
        RetentionPolicyScope,
        RetentionRule,
        RetentionRuleTrigger,
        RetentionSelector,
    )

    return RetentionPolicy(
        algorithm="or",
        rules=[RetentionRule(
            action="retain", template="latestPushedK", params={"latestPushedK": keep},
            tag_selectors=[RetentionSelector(kind="doublestar", decoration="matches", pattern="v*")],
            scope_selectors={"repository": [RetentionSelector(kind="doublestar", decoration="repoMatches",
                                                              pattern="app")]})],
        trigger=RetentionRuleTrigger(kind="Schedule", settings={"cron": cron}),
        scope=RetentionPolicyScope(level="project", ref=project_id))


def seed(server: DockyardServer, admin: httpx.Client, tmp_path: Path, project: str) -> int:
    """v1..v4 pushed in order to app, an untagged artifact in app, v1 in other."""
    assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    for n in range(1, 5):
        layout = make_layout(tmp_path / f"v{n}", layers=[{"n": f"{project} v{n}\n".encode()}])
        push(layout.ref, server, f"{project}/app:v{n}")
        time.sleep(0.01)  # distinct push times (microseconds) - ordering, not timing
    loose = make_layout(tmp_path / "loose", layers=[{"n": b"untagged\n"}])
    push(loose.ref, server, f"{project}/app:tmp")
    assert admin.delete(f"/v2/{project}/app/manifests/tmp").status_code == 202  # the tag only
    push(make_layout(tmp_path / "other", layers=[{"n": b"other\n"}]).ref, server, f"{project}/other:v1")
    return int(admin.get(f"/api/v2.0/projects/{project}").json()["project_id"])


def artifacts(admin: httpx.Client, project: str, repo: str) -> list[list[str]]:
    listed = admin.get(f"/api/v2.0/projects/{project}/repositories/{repo}/artifacts",
                       params={"page_size": 100}).json()
    return sorted(sorted(t["name"] for t in a["tags"]) for a in listed)


def test_retention_keeps_the_latest_and_deletes_the_rest(server: DockyardServer, tmp_path: Path) -> None:
    project = f"ret-{uuid.uuid4().hex[:6]}"
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project_id = seed(server, admin, tmp_path, project)
    before = artifacts(admin, project, "app")
    assert before == [[], ["v1"], ["v2"], ["v3"], ["v4"]]
    # v1 immutable: retention never deletes it
    assert admin.post(f"/api/v2.0/projects/{project}/immutabletagrules", json={
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                            "pattern": "**"}]}}).status_code == 201

    async def create_and_dry_run() -> int:
        client = api(server)
        location = await client.create_retention_policy(policy(project_id, keep=2))
        retention_id = await client.get_project_retention_id(project)
        assert location.endswith(f"/retentions/{retention_id}")
        stored = await client.get_retention_policy(retention_id)
        assert stored.rules and stored.rules[0].params == {"latestPushedK": 2}
        await client.start_retention_execution(retention_id, dry_run=True)
        runs = await client.get_retention_executions(retention_id)
        assert [(r.status, r.dry_run, r.trigger) for r in runs] == [("Succeed", True, "Manual")]
        return retention_id

    retention_id = asyncio.run(create_and_dry_run())
    assert artifacts(admin, project, "app") == before  # a dry run deletes nothing

    asyncio.run(api(server).start_retention_execution(retention_id, dry_run=False))
    assert artifacts(admin, project, "app") == [["v1"], ["v3"], ["v4"]]
    assert artifacts(admin, project, "other") == [["v1"]]  # not covered by the rule's scope
    assert admin.get(f"/v2/{project}/app/tags/list").json()["tags"] == ["v1", "v3", "v4"]
    runs = admin.get(f"/api/v2.0/retentions/{retention_id}/executions").json()
    assert [r["dry_run"] for r in runs] == [False, True] and runs[0]["status"] == "Succeed"
    admin.close()


@pytest.mark.slow
def test_a_scheduled_policy_runs_by_itself(server: DockyardServer, tmp_path: Path) -> None:
    project = f"rets-{uuid.uuid4().hex[:6]}"
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project_id = seed(server, admin, tmp_path, project)
    asyncio.run(api(server).create_retention_policy(policy(project_id, keep=1, cron="0 * * * * *")))
    deadline = time.monotonic() + 150  # the next minute's start, on a loaded machine
    while time.monotonic() < deadline and artifacts(admin, project, "app") != [["v4"]]:
        time.sleep(2)
    assert artifacts(admin, project, "app") == [["v4"]]
    retention_id = admin.get(f"/api/v2.0/projects/{project}").json()["metadata"]["retention_id"]
    runs = admin.get(f"/api/v2.0/retentions/{retention_id}/executions").json()
    assert runs and runs[-1]["trigger"] == "Schedule"
    admin.close()


def test_hostile_policies_are_4xx(server: DockyardServer) -> None:
    project = f"reth-{uuid.uuid4().hex[:6]}"
    user = f"retu-{uuid.uuid4().hex[:4]}"
    server.add_user(user, "retpw")
    with server.client() as admin:
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        project_id = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]
        good = policy(project_id, keep=3).model_dump(mode="json", exclude_none=True)
        rule = good["rules"][0]
        for bad in ({"algorithm": "and"}, {"rules": []}, {"rules": "all"},
                    {"rules": [{**rule, "template": "keepEverythingForever"}]},
                    {"rules": [{**rule, "params": {}}]},
                    {"rules": [{**rule, "params": {"latestPushedK": -1}}]},
                    {"rules": [{**rule, "tag_selectors": []}]},
                    {"rules": [{**rule, "tag_selectors": [{**rule["tag_selectors"][0], "extras": "{"}]}]},
                    {"rules": [{**rule, "action": "delete"}]},
                    {"trigger": {"kind": "Schedule", "settings": {"cron": "61 * * * *"}}},
                    {"trigger": {"kind": "Schedule", "settings": {"cron": "every day"}}},
                    {"trigger": {"kind": "Event"}}, {"scope": {"level": "system", "ref": project_id}}):
            answer = admin.post("/api/v2.0/retentions", json={**good, **bad})
            assert answer.status_code == 400, (bad, answer.text)
        assert admin.post("/api/v2.0/retentions", json={**good, "scope": {"level": "project", "ref": 999999}}
                          ).status_code == 404
        assert admin.post("/api/v2.0/retentions", content=b"[" * 5000,
                          headers={"Content-Type": "application/json"}).status_code == 400
        created = admin.post("/api/v2.0/retentions", json=good)
        assert created.status_code == 201
        assert admin.post("/api/v2.0/retentions", json=good).status_code == 409
        policy_id = created.headers["location"].rsplit("/", 1)[1]
        for path in ("abc", "999999", "99999999999999999999999"):
            assert admin.get(f"/api/v2.0/retentions/{path}").status_code == 404
    with server.client(user, "retpw") as stranger:  # another's project: not there
        assert stranger.get(f"/api/v2.0/retentions/{policy_id}").status_code == 404
        assert stranger.post(f"/api/v2.0/retentions/{policy_id}/executions", json={}).status_code == 404
        assert stranger.post("/api/v2.0/retentions", json=good).status_code == 404
    assert httpx.post(f"{server.url}/api/v2.0/retentions/{policy_id}/executions", json={}
                      ).status_code in (401, 404)


def test_cron_fields() -> None:
    monday_noon = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert cron_due("0 0 12 * * *", monday_noon) and cron_due("*/15 12 * * 1", monday_noon)
    assert not cron_due("0 0 0 * * *", monday_noon) and not cron_due("0 12 * * 0", monday_noon)
    assert cron_due("0,30 9-17/3 1-31 12 1-5", monday_noon)
    for bad in ("", "* * *", "60 * * * *", "* 24 * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"):
        with pytest.raises(ValueError):
            parse_cron(bad)
