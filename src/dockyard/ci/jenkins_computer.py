"""Jenkins' `/computer` API: the one node Dockyard builds on, in Jenkins' shape.

python-jenkins' `get_nodes()`, `get_node_info()`, `node_exists()` and `get_running_builds()` read
these. Dockyard has a single built-in node whose executors are the scheduler's slots
(`DOCKYARD_CI_EXECUTORS`); a running build occupies one, and the caller sees only the builds of
jobs they may read (the same filter as the queue). Jenkins calls the node "Built-In Node" and serves
it at `/computer/(built-in)/`; its old name `(master)`, which python-jenkins still asks for, answers
too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.auth import Principal
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.store import Build

DISPLAY_NAME = "Built-In Node"
# the path names Jenkins (and python-jenkins) use for the controller's own node
NODE_NAMES = frozenset({"(built-in)", "(master)", "built-in", "master", DISPLAY_NAME})

Handler = Callable[[Request, Principal], Awaitable[Response]]
Wrap = Callable[[Handler], Callable[[Request], Awaitable[Response]]]


def computer_routes(ci: CIOperations, wrap: Wrap) -> list[Route]:
    """`/computer/api/json` and `/computer/{name}/api/json`; `wrap` is the Jenkins API's guard."""
    api = ComputerAPI(ci)
    return [
        Route("/computer/api/json", wrap(api.computer_set), methods=["GET"]),
        Route("/computer/{node}/api/json", wrap(api.node), methods=["GET"]),
    ]


class ComputerAPI:
    def __init__(self, ci: CIOperations) -> None:
        self.ci = ci

    async def computer_set(self, request: Request, principal: Principal) -> Response:
        running = await asyncio.to_thread(self._running, principal)
        node = self._node_json(running, _depth(request))
        limit = node["numExecutors"]
        return JSONResponse(
            {
                "_class": "hudson.model.ComputerSet",
                "busyExecutors": len(running),
                "computer": [node],
                "displayName": "Nodes",
                "totalExecutors": limit,
            }
        )

    async def node(self, request: Request, principal: Principal) -> Response:
        name = request.path_params["node"]
        if name not in NODE_NAMES:
            raise HTTPError(404, f"no node {name!r}: Dockyard builds on one node, (built-in)")
        running = await asyncio.to_thread(self._running, principal)
        return JSONResponse(self._node_json(running, _depth(request)))

    def _running(self, principal: Principal) -> list[Build]:
        visible = {j.id for j in self.ci.visible_jobs(principal)}
        return [b for b in self.ci.store.running() if b.job_id in visible]

    def _node_json(self, running: list[Build], depth: int) -> dict[str, Any]:
        limit = max(int(self.ci.scheduler.limit), len(running))
        executors: list[dict[str, Any]] = []
        for number in range(limit):
            build = running[number] if number < len(running) else None
            executors.append(self._executor(number, build) if depth >= 1 else {})
        return {
            "_class": "hudson.model.Hudson$MasterComputer",
            "actions": [],
            "assignedLabels": [{"name": "built-in"}],
            "description": "Dockyard's built-in node (local sandbox or Kubernetes pods)",
            "displayName": DISPLAY_NAME,
            "executors": executors,
            "icon": "symbol-computer",
            "iconClassName": "symbol-computer",
            "idle": not running,
            "jnlpAgent": False,
            "launchSupported": True,
            "manualLaunchAllowed": True,
            "numExecutors": limit,
            "offline": False,
            "offlineCause": None,
            "offlineCauseReason": "",
            "oneOffExecutors": [],
            "temporarilyOffline": False,
        }

    def _executor(self, number: int, build: Build | None) -> dict[str, Any]:
        base = self.ci.base_url()
        executable = None
        if build is not None:
            executable = {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                "number": build.number,
                "url": f"{base}/job/{build.job_name}/{build.number}/",
                "fullDisplayName": f"{build.job_name} #{build.number}",
                "building": True,
                "timestamp": int((build.started_at or build.queued_at) * 1000),
            }
        return {
            "_class": "hudson.model.Executor",
            "currentExecutable": executable,
            "idle": build is None,
            "likelyStuck": False,
            "number": number,
            "progress": -1,
        }


def _depth(request: Request) -> int:
    value = request.query_params.get("depth", "0")
    return int(value) if value.isdigit() and len(value) < 3 else 0
