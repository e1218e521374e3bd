"""python-jenkins' everyday read calls against a live server: version, whoami, jobs, queue, and
the `/computer` API behind get_nodes(), get_node_info() and get_running_builds()."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.ci.conftest import inline_job_xml, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

jenkins_mod = pytest.importorskip("jenkins")

SLOW = "pipeline { agent any\n stages { stage('s') { steps { sh 'echo started; sleep 60' } } } }"


def _client(server: DockyardServer) -> object:
    return jenkins_mod.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)


def test_server_identity_and_nodes(server: DockyardServer) -> None:
    client = _client(server)
    assert client.get_version() == server.client().get("/api/json").headers["x-jenkins"]
    assert client.get_whoami()["id"] == ADMIN_USER
    assert client.get_nodes() == [{"name": "Built-In Node", "offline": False}]
    for name in ("(master)", "(built-in)", "Built-In Node"):
        info = client.get_node_info(name)
        assert info["displayName"] == "Built-In Node" and info["numExecutors"] >= 1
        assert len(info["executors"]) == info["numExecutors"]
    assert client.node_exists("(master)")
    assert not client.node_exists("agent-7")  # Dockyard has one node: others are 404
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) as http:
        assert http.get("/computer/agent-7/api/json").status_code == 404
        assert http.get("/computer/api/json").json()["_class"] == "hudson.model.ComputerSet"
        assert http.get("/computer/api/json", auth=None).status_code == 401


def test_jobs_queue_and_running_builds(server: DockyardServer) -> None:
    """A build that is running shows in get_running_builds() (on the built-in node, with its
    executor) and in the node's executors; stopped, it is gone."""
    client = _client(server)
    name = unique("pjrunning")
    client.create_job(name, inline_job_xml(SLOW))
    assert name in [j["name"] for j in client.get_jobs()]
    queue_id = client.build_job(name)
    deadline = time.monotonic() + 60
    number = None
    while number is None:
        assert time.monotonic() < deadline, "the build never left the queue"
        item = client.get_queue_item(queue_id)
        number = (item.get("executable") or {}).get("number")
        time.sleep(0.05)
    try:
        assert queue_id not in [q["id"] for q in client.get_queue_info()]
        running = client.get_running_builds()
        mine = [b for b in running if b["name"] == name]
        assert mine and mine[0]["number"] == number and mine[0]["node"] == "(master)"
        assert mine[0]["url"] == f"{server.url}/job/{name}/{number}/"
        executors = client.get_node_info("(built-in)", depth=2)["executors"]
        urls = [(e["currentExecutable"] or {}).get("url") for e in executors]
        assert mine[0]["url"] in urls
        assert executors[urls.index(mine[0]["url"])]["number"] == mine[0]["executor"]
        assert client.get_node_info("(built-in)")["idle"] is False
    finally:
        client.stop_build(name, number)
    while client.get_build_info(name, number)["building"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert name not in [b["name"] for b in client.get_running_builds()]
    client.delete_job(name)


def test_running_builds_are_filtered_like_jobs(server: DockyardServer) -> None:
    """A token limited to public resources sees no inline job, so no running build of one."""
    client = _client(server)
    name = unique("pjhidden")
    client.create_job(name, inline_job_xml(SLOW))
    queue_id = client.build_job(name)
    deadline = time.monotonic() + 60
    number = None
    while number is None:
        assert time.monotonic() < deadline
        number = (client.get_queue_item(queue_id).get("executable") or {}).get("number")
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) as http:
            r = http.post(f"/api/v1/users/{ADMIN_USER}/tokens",
                          json={"name": unique("pubonly"), "scopes": ["public-only", "read:repository"]})
            assert r.status_code == 201, r.text
            token = r.json()["sha1"]
            seen = http.get("/computer/api/json", params={"depth": 2}).json()
            assert name in str(seen)
            hidden = http.get("/computer/api/json", params={"depth": 2}, auth=None,
                              headers={"Authorization": f"token {token}"})
            assert hidden.status_code == 200, hidden.text
            assert name not in hidden.text
    finally:
        client.stop_build(name, number)
        client.delete_job(name)
