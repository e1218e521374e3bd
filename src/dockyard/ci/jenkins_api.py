"""Jenkins' remote API (the subset the tutorial, curl scripts and python-jenkins use).

Shapes follow Jenkins: `_class` names, `url`s ending in `/`, timestamps in epoch milliseconds,
queue items at `/queue/item/<id>/` (a queue id is the build's row id), 201 + `Location` for
builds, 302 for stop/delete, `X-Error` headers on 400s.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard import __version__
from dockyard.auth import Principal
from dockyard.ci.access import JobForbidden
from dockyard.ci.build_delay import DelayError, parse_delay
from dockyard.ci.buildlog import load_trace, read_from
from dockyard.ci.causes import cause_json
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import CRUMB_FIELD, SESSION_COOKIE, HTTPError
from dockyard.ci.errors import MAX_PIPELINE_BYTES
from dockyard.ci.fingerprints import build_fingerprints, fingerprint_action, fingerprint_json, load_record
from dockyard.ci.input_api import pending_inputs, pending_json, settle_input
from dockyard.ci.jenkins_computer import computer_routes
from dockyard.ci.jobxml import JobConfigError, restore_job_secrets
from dockyard.ci.rebuild import rebuild_cause, rebuild_params
from dockyard.ci.replay import queue_replay
from dockyard.ci.restart import queue_restart, restart_action_json, restart_cause_json, restartable_stages
from dockyard.ci.steps.build_info import apply_build_info
from dockyard.ci.steps.junit import load_report, test_result_action
from dockyard.ci.store import DONE, QUEUED, RUNNING, Build, Job, JobError, JobNotFound
from dockyard.ci.wfapi import describe
from dockyard.http import (
    JOB_XML_LIMIT,
    BadRequest,
    form_body,
    media_type,
    parse_json,
    read_body,
    small_int,
)

JENKINS_VERSION = "2.462.3"  # the Jenkins LTS whose API shapes these follow
_CRUMB_XPATH = re.compile(r'^concat\(//crumbRequestField,\s*["\']:["\'],\s*//crumb\)$')
_COLORS = {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow", "ABORTED": "aborted", None: "notbuilt"}
_REF_NAMES = (
    "lastBuild",
    "lastCompletedBuild",
    "lastSuccessfulBuild",
    "lastFailedBuild",
    "lastUnsuccessfulBuild",
    "lastStableBuild",
)

Handler = Callable[[Request, Principal], Awaitable[Response]]


def jenkins_routes(ci: CIOperations) -> list[BaseRoute]:
    api = JenkinsAPI(ci)

    def ep(
        handler: Handler, post: bool = False, admin: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                principal = await asyncio.to_thread(ci.crumbs.principal, request)
                if admin and not principal.is_admin:
                    # a job's steps run on the Dockyard host: defining them is an administrator's call
                    raise HTTPError(
                        403,
                        f"{principal.username} may not create, change or delete jobs:"
                        " that needs a Dockyard administrator",
                    )
                if post:
                    ci.crumbs.check_post(request, principal)
                response = await handler(request, principal)
            except HTTPError as e:
                response = e.response()
            except JobNotFound as e:
                response = HTTPError(404, str(e)).response()
            except JobForbidden as e:
                response = HTTPError(403, str(e)).response()
            except (JobError, JobConfigError) as e:
                response = HTTPError(400, str(e)).response()
            response.headers["X-Jenkins"] = JENKINS_VERSION
            response.headers["X-Dockyard"] = __version__
            return response

        return endpoint

    job = "/job/{name}"
    build = job + "/{ref}"
    return [
        Route("/crumbIssuer/api/json", ep(api.crumb_json), methods=["GET"]),
        Route("/crumbIssuer/api/xml", ep(api.crumb_xml), methods=["GET"]),
        Route("/api/json", ep(api.root_json), methods=["GET"]),
        Route("/me/api/json", ep(api.whoami), methods=["GET"]),
        *computer_routes(ci, ep),
        Route("/createItem", ep(api.create_item, post=True, admin=True), methods=["POST"]),
        Route("/queue/api/json", ep(api.queue_json), methods=["GET"]),
        Route("/queue/item/{id:int}/api/json", ep(api.queue_item), methods=["GET"]),
        Route("/queue/cancelItem", ep(api.cancel_item, post=True), methods=["POST"]),
        Route(job + "/api/json", ep(api.job_json), methods=["GET"]),
        Route(job + "/config.xml", ep(api.get_config), methods=["GET"]),
        Route(job + "/config.xml", ep(api.post_config, post=True, admin=True), methods=["POST"]),
        Route(job + "/build", ep(api.build, post=True), methods=["POST"]),
        Route(job + "/buildWithParameters", ep(api.build_with_parameters, post=True), methods=["POST"]),
        Route(job + "/doDelete", ep(api.delete_job, post=True, admin=True), methods=["POST"]),
        Route(job + "/enable", ep(api.enable, post=True, admin=True), methods=["POST"]),
        Route(job + "/disable", ep(api.disable, post=True, admin=True), methods=["POST"]),
        Route(build + "/api/json", ep(api.build_json), methods=["GET"]),
        Route(build + "/consoleText", ep(api.console_text), methods=["GET"]),
        Route(build + "/logText/progressiveText", ep(api.progressive_text), methods=["GET", "POST"]),
        Route(build + "/stop", ep(api.stop, post=True), methods=["POST"]),
        Route(build + "/rebuild", ep(api.rebuild, post=True), methods=["POST"]),
        Route(build + "/replay", ep(api.replay, post=True), methods=["POST"]),
        Route(build + "/restart/api/json", ep(api.restart_json), methods=["GET"]),
        Route("/fingerprint/{md5}/api/json", ep(api.fingerprint), methods=["GET"]),
        Route(build + "/restart/restart", ep(api.restart, post=True), methods=["POST"]),
        Route(build + "/restart/restartPipeline", ep(api.restart_pipeline, post=True), methods=["POST"]),
        Route(build + "/wfapi/describe", ep(api.wfapi_describe), methods=["GET"]),
        Route(build + "/artifact/{path:path}", ep(api.artifact), methods=["GET"]),
        Route(build + "/testReport/api/json", ep(api.test_report), methods=["GET"]),
        Route(build + "/wfapi/pendingInputActions", ep(api.pending_input_actions), methods=["GET"]),
        Route(build + "/input/{input_id}/proceedEmpty", ep(api.input_proceed, post=True), methods=["POST"]),
        Route(build + "/input/{input_id}/submit", ep(api.input_submit, post=True), methods=["POST"]),
        Route(build + "/input/{input_id}/abort", ep(api.input_abort, post=True), methods=["POST"]),
    ]


class JenkinsAPI:
    def __init__(self, ci: CIOperations) -> None:
        self.ci = ci
        self.store = ci.store

    @property
    def base(self) -> str:
        return self.ci.base_url()

    def job_url(self, name: str) -> str:
        return f"{self.base}/job/{name}/"

    # -- crumbs -----------------------------------------------------------------
    def _crumb_response(
        self, request: Request, principal: Principal, render: Callable[[str], Response]
    ) -> Response:
        crumb, new_session = self.ci.crumbs.issue(request, principal)
        response = render(crumb)
        if new_session:
            response.set_cookie(SESSION_COOKIE, new_session, httponly=True, samesite="lax", path="/")
        return response

    async def crumb_json(self, request: Request, principal: Principal) -> Response:
        return self._crumb_response(
            request,
            principal,
            lambda c: JSONResponse(
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": c,
                    "crumbRequestField": CRUMB_FIELD,
                }
            ),
        )

    async def crumb_xml(self, request: Request, principal: Principal) -> Response:
        xpath = request.query_params.get("xpath")

        def render(crumb: str) -> Response:
            if xpath is None:
                return Response(
                    '<defaultCrumbIssuer _class="hudson.security.csrf.DefaultCrumbIssuer">'
                    f"<crumb>{crumb}</crumb><crumbRequestField>{CRUMB_FIELD}</crumbRequestField>"
                    "</defaultCrumbIssuer>",
                    media_type="application/xml",
                )
            if _CRUMB_XPATH.match(xpath.strip()):
                return PlainTextResponse(f"{CRUMB_FIELD}:{crumb}")
            if xpath.strip() in ("//crumb", "/*/crumb"):
                return Response(f"<crumb>{crumb}</crumb>", media_type="application/xml")
            if xpath.strip() in ("//crumbRequestField", "/*/crumbRequestField"):
                return Response(
                    f"<crumbRequestField>{CRUMB_FIELD}</crumbRequestField>", media_type="application/xml"
                )
            raise HTTPError(400, f'unsupported xpath {xpath!r}: use concat(//crumbRequestField,":",//crumb)')

        return self._crumb_response(request, principal, render)

    # -- root, jobs -------------------------------------------------------------
    async def root_json(self, request: Request, principal: Principal) -> Response:
        jobs = await asyncio.to_thread(self.ci.visible_jobs, principal)
        out = []
        for j in jobs:
            last = await asyncio.to_thread(self.store.builds, j.name, 1)
            out.append(
                {
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                    "name": j.name,
                    "url": self.job_url(j.name),
                    "color": self._color(j, last[0] if last else None),
                }
            )
        return JSONResponse(
            {
                "_class": "hudson.model.Hudson",
                "mode": "NORMAL",
                "nodeDescription": "Dockyard built-in agent",
                "nodeName": "",
                "numExecutors": self.ci.scheduler.limit,
                "description": None,
                "jobs": out,
                "quietingDown": False,
                "useCrumbs": True,
                "useSecurity": True,
                "url": self.base + "/",
                "views": [{"_class": "hudson.model.AllView", "name": "all", "url": self.base + "/"}],
            }
        )

    async def whoami(self, request: Request, principal: Principal) -> Response:
        return JSONResponse(
            {
                "_class": "hudson.model.User",
                "id": principal.username,
                "fullName": principal.username,
                "absoluteUrl": f"{self.base}/user/{principal.username}",
            }
        )

    def _color(self, job: Job, last: Build | None) -> str:
        if job.disabled:
            return "disabled"
        if last is None:
            return "notbuilt"
        color = _COLORS.get(last.result, "notbuilt")
        return color + "_anime" if last.state == RUNNING else color

    async def create_item(self, request: Request, principal: Principal) -> Response:
        name = request.query_params.get("name", "")
        if request.query_params.get("mode") == "copy":
            source = await asyncio.to_thread(
                self.ci.visible_job, principal, request.query_params.get("from", "")
            )
            body = source.config_xml
        else:
            body = (await read_body(request, JOB_XML_LIMIT)).decode("utf-8", errors="replace")
            if not body.strip():
                raise HTTPError(
                    400,
                    "createItem needs the job's config.xml as the request body"
                    " (Content-Type: application/xml)",
                )
        await asyncio.to_thread(self.ci.check_job_xml, body)
        await asyncio.to_thread(self.store.create_job, name, body, principal.username)
        return Response(status_code=200)

    async def job_json(self, request: Request, principal: Principal) -> Response:
        job = await asyncio.to_thread(self.ci.visible_job, principal, request.path_params["name"])
        builds = await asyncio.to_thread(self.store.builds, job.name, 100)
        started = [b for b in builds if b.state != QUEUED]
        queued = [b for b in builds if b.state == QUEUED]
        done = [b for b in started if b.state == DONE]

        def ref(bs: list[Build]) -> dict[str, Any] | None:
            return self._build_ref(bs[0]) if bs else None

        cfg = job.config
        params = [
            {
                "_class": f"hudson.model.{_PARAM_CLASSES.get(p.kind, 'StringParameterDefinition')}",
                "name": p.name,
                "type": _PARAM_CLASSES.get(p.kind, "StringParameterDefinition"),
                "description": p.description,
                "defaultParameterValue": _param_value(p.name, p.default, p.kind == "password"),
                **({"choices": list(p.choices)} if p.choices else {}),
            }
            for p in job.declared_parameters().values()
        ]
        return JSONResponse(
            {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                "name": job.name,
                "fullName": job.name,
                "displayName": job.name,
                "fullDisplayName": job.name,
                "description": cfg.description or None,
                "url": self.job_url(job.name),
                "buildable": not job.disabled,
                "color": self._color(job, started[0] if started else None),
                "builds": [self._build_ref(b) for b in started],
                "firstBuild": self._build_ref(started[-1]) if started else None,
                "lastBuild": ref(started),
                "lastCompletedBuild": ref(done),
                "lastSuccessfulBuild": ref([b for b in done if b.result == "SUCCESS"]),
                "lastFailedBuild": ref([b for b in done if b.result == "FAILURE"]),
                "lastUnsuccessfulBuild": ref([b for b in done if b.result != "SUCCESS"]),
                "inQueue": bool(queued),
                "queueItem": self._queue_json(queued[-1], job) if queued else None,
                "nextBuildNumber": job.next_number,
                "concurrentBuild": job.concurrent,
                "keepDependencies": False,
                "property": [
                    {"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": params}
                ]
                if params
                else [],
                "scm": {"_class": "hudson.plugins.git.GitSCM"} if job.scm_url else {},
            }
        )

    async def get_config(self, request: Request, principal: Principal) -> Response:
        job = await asyncio.to_thread(self.ci.visible_job, principal, request.path_params["name"])
        return Response(job.public_xml, media_type="application/xml")

    async def post_config(self, request: Request, principal: Principal) -> Response:
        body = (await read_body(request, JOB_XML_LIMIT)).decode("utf-8", errors="replace")
        job = await asyncio.to_thread(self.ci.visible_job, principal, request.path_params["name"])
        # the masked secrets of a config.xml read earlier stand for the stored ones
        body = restore_job_secrets(body, job.config_xml)
        await asyncio.to_thread(self.ci.check_job_xml, body)
        await asyncio.to_thread(self.store.update_job, job.name, body)
        return Response(status_code=200)

    async def delete_job(self, request: Request, principal: Principal) -> Response:
        name = request.path_params["name"]
        job = await asyncio.to_thread(self.ci.visible_job, principal, name)
        for b in await asyncio.to_thread(self.store.builds, name, 10_000):
            if b.state != DONE:
                await self.ci.scheduler.cancel(b, f"aborted: job deleted by {principal.username}")
        await asyncio.to_thread(self.store.delete_job, job.name)
        return RedirectResponse(self.base + "/api/json", status_code=302)

    async def enable(self, request: Request, principal: Principal) -> Response:
        return await self._set_disabled(request, principal, False)

    async def disable(self, request: Request, principal: Principal) -> Response:
        return await self._set_disabled(request, principal, True)

    async def _set_disabled(self, request: Request, principal: Principal, disabled: bool) -> Response:
        job = await asyncio.to_thread(self.ci.visible_job, principal, request.path_params["name"])
        xml = job.config_xml
        if re.search(r"<disabled>\s*(true|false)\s*</disabled>", xml):
            xml = re.sub(
                r"<disabled>\s*(true|false)\s*</disabled>",
                f"<disabled>{str(disabled).lower()}</disabled>",
                xml,
                count=1,
            )
        else:
            xml = re.sub(
                r"(<flow-definition[^>]*>)", rf"\1<disabled>{str(disabled).lower()}</disabled>", xml, count=1
            )
        await asyncio.to_thread(self.store.update_job, job.name, xml)
        return RedirectResponse(self.job_url(job.name) + "api/json", status_code=302)

    # -- triggering -------------------------------------------------------------
    async def build(self, request: Request, principal: Principal) -> Response:
        params: dict[str, Any] = {}
        form = await self._form(request)
        if "json" in form:  # the HTML form's json={"parameter": [{"name":..,"value":..}]}
            params = _json_parameters(form["json"])
        return await self._trigger(request, principal, params, form.get("delay"))

    async def build_with_parameters(self, request: Request, principal: Principal) -> Response:
        params = dict(request.query_params)
        params.update(await self._form(request))
        delay = params.pop("delay", None)
        for ignored in ("token", "cause", CRUMB_FIELD):
            params.pop(ignored, None)
        return await self._trigger(request, principal, params, delay)

    async def _form(self, request: Request) -> dict[str, str]:
        if media_type(request) in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return await form_body(request)
        return {}

    async def _trigger(
        self, request: Request, principal: Principal, params: dict[str, Any], delay: str | None = None
    ) -> Response:
        """Queues the job; `delay` (Jenkins' `?delay=0sec`) replaces its quiet period."""
        try:
            seconds = parse_delay(request.query_params.get("delay", delay))
        except DelayError as e:
            raise HTTPError(400, str(e)) from None
        job = await asyncio.to_thread(self.ci.runnable_job, principal, request.path_params["name"])
        build = await asyncio.to_thread(self.ci.trigger, job, params, f"user {principal.username}", seconds)
        return Response(status_code=201, headers={"Location": f"{self.base}/queue/item/{build.id}/"})

    # -- queue ------------------------------------------------------------------
    def _queue_json(self, b: Build, job: Job | None = None) -> dict[str, Any]:
        name = b.job_name
        item: dict[str, Any] = {
            "id": b.id,
            "url": f"queue/item/{b.id}/",
            "inQueueSince": int(b.queued_at * 1000),
            "task": {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                "name": name,
                "url": self.job_url(name),
                "color": "notbuilt",
            },
            "params": "".join(f"\n{k}={'****' if k in b.secret_names else v}" for k, v in b.params.items()),
            "actions": [{"_class": "hudson.model.CauseAction", "causes": [cause_json(b.cause)]}],
            "stuck": False,
            "blocked": False,
            "buildable": b.state == QUEUED,
        }
        if b.state == QUEUED:
            # Jenkins' item waiting out options { quietPeriod(N) }, then a buildable one
            quiet = b.queued_at + self.ci.scheduler.wait_of(b) - time.time()
            waiting = "Waiting" if quiet > 0 else "Buildable"
            item.update(
                {
                    "_class": f"hudson.model.Queue${waiting}Item",
                    "why": f"In the quiet period. Expires in {quiet:.1f} sec" if quiet > 0 else self._why(b),
                    "executable": None,
                    "cancelled": False,
                }
            )
        else:
            item.update(
                {
                    "_class": "hudson.model.Queue$LeftItem",
                    "why": None,
                    "cancelled": b.state == DONE and b.started_at is None,
                    "executable": None
                    if b.started_at is None and b.state == DONE
                    else {
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                        "number": b.number,
                        "url": f"{self.job_url(name)}{b.number}/",
                    },
                }
            )
        return item

    def _why(self, b: Build) -> str:
        running = self.ci.scheduler.running
        if any(r.build.job_id == b.job_id for r in running.values()):
            return f"Build #{b.number} is waiting: another build of {b.job_name} is in progress"
        if len(running) >= self.ci.scheduler.limit:
            return "Waiting for next available executor"
        return "Waiting for the scheduler"

    async def queue_json(self, request: Request, principal: Principal) -> Response:
        queued = await asyncio.to_thread(self.ci.visible_queue, principal)
        return JSONResponse(
            {
                "_class": "hudson.model.Queue",
                "discoverableItems": [],
                "items": [self._queue_json(b) for b in queued],
            }
        )

    async def queue_item(self, request: Request, principal: Principal) -> Response:
        b = await asyncio.to_thread(self.store.build_by_id, request.path_params["id"])
        b = await asyncio.to_thread(self.ci.visible_build, principal, b)
        if b is None:
            raise HTTPError(404, f"no queue item {request.path_params['id']}")
        return JSONResponse(self._queue_json(b))

    async def cancel_item(self, request: Request, principal: Principal) -> Response:
        item_id = small_int(request.query_params.get("id", ""))
        if item_id is None:
            raise HTTPError(400, "cancelItem needs ?id=<queue id>")
        b = await asyncio.to_thread(self.store.build_by_id, item_id)
        b = await asyncio.to_thread(self.ci.visible_build, principal, b)
        if b is None:
            raise HTTPError(404, f"no queue item {item_id}")
        await asyncio.to_thread(self.ci.runnable_job, principal, b.job_name)
        if b.state == QUEUED:
            await self.ci.scheduler.cancel(b, f"cancelled by {principal.username}")
        return Response(status_code=204)

    # -- builds -----------------------------------------------------------------
    def _build_ref(self, b: Build) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": b.number,
            "url": f"{self.job_url(b.job_name)}{b.number}/",
        }

    async def _build(self, request: Request, principal: Principal) -> Build:
        """The build a path names, if the principal may see its job (404 otherwise)."""
        name, ref = request.path_params["name"], request.path_params["ref"]
        await asyncio.to_thread(self.ci.visible_job, principal, name)
        if ref.isdigit():
            number = small_int(ref)  # '²' or 25 digits: no build has that number
            if number is None:
                raise HTTPError(404, f"no build {ref!r} of job {name}")
            b = await asyncio.to_thread(self.store.build, name, number)
            if b.state == QUEUED:
                raise HTTPError(404, f"build {name} #{ref} is still queued (see /queue/item/{b.id}/)")
            return b
        if ref not in _REF_NAMES:
            raise HTTPError(404, f"no build {ref!r} (use a number or one of {', '.join(_REF_NAMES)})")
        builds = [b for b in await asyncio.to_thread(self.store.builds, name, 1000) if b.state != QUEUED]
        want: Callable[[Build], bool] = {
            "lastBuild": lambda b: True,
            "lastCompletedBuild": lambda b: b.state == DONE,
            "lastSuccessfulBuild": lambda b: b.result == "SUCCESS",
            "lastStableBuild": lambda b: b.result == "SUCCESS",
            "lastFailedBuild": lambda b: b.result == "FAILURE",
            "lastUnsuccessfulBuild": lambda b: b.state == DONE and b.result != "SUCCESS",
        }[ref]
        for b in builds:
            if want(b):
                return b
        raise HTTPError(404, f"job {name} has no {ref}")

    async def build_json(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        data = build_json(b, self.job_url(b.job_name))
        archive = self.ci.scheduler.paths(b.job_name, b.number).archive
        if archive.is_dir():
            files = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
            data["artifacts"] = [
                {"fileName": f.rsplit("/", 1)[-1], "relativePath": f, "displayPath": f} for f in files
            ]
        root = self.ci.scheduler.paths(b.job_name, b.number).root
        apply_build_info(data, root, b.job_name)  # currentBuild.displayName / description
        tests = test_result_action(load_report(root))
        if tests:
            data["actions"].append(tests)
        await self._add_fingerprints(request, principal, data, root)
        return JSONResponse(data)

    async def test_report(self, request: Request, principal: Principal) -> Response:
        """The build's JUnit results (the junit step) in Jenkins' TestResult shape."""
        b = await self._build(request, principal)
        report = load_report(self.ci.scheduler.paths(b.job_name, b.number).root)
        if report["empty"]:
            raise HTTPError(404, f"{b.job_name} #{b.number} has no test results (no junit step recorded any)")
        return JSONResponse(report)

    async def console_text(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        data, _ = read_from(self.ci.scheduler.paths(b.job_name, b.number).log, 0, 1 << 30)
        return Response(data, media_type="text/plain; charset=utf-8")

    async def progressive_text(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        start = small_int(request.query_params.get("start", "0"))  # 20 digits: seek() overflows
        if start is None:
            raise HTTPError(400, "start must be a byte offset")
        building = b.state != DONE
        data, end = await asyncio.to_thread(
            read_from, self.ci.scheduler.paths(b.job_name, b.number).log, start
        )
        headers = {"X-Text-Size": str(end)}
        if building:
            headers["X-More-Data"] = "true"
        return Response(data, media_type="text/plain; charset=utf-8", headers=headers)

    async def stop(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        await asyncio.to_thread(self.ci.runnable_job, principal, b.job_name)
        if b.state != DONE:
            await self.ci.scheduler.cancel(b, f"Aborted by {principal.username}")
        return RedirectResponse(f"{self.job_url(b.job_name)}{b.number}/api/json", status_code=302)

    # -- input steps (dockyard.ci.input_api) -----------------------------------------
    async def pending_input_actions(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        url = f"{self.job_url(b.job_name)}{b.number}/"
        return JSONResponse([pending_json(p, url) for p in pending_inputs(self.ci, b)])

    async def input_proceed(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        await settle_input(self.ci, principal, b, request.path_params["input_id"], proceed=True)
        return PlainTextResponse("")

    async def input_abort(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        await settle_input(self.ci, principal, b, request.path_params["input_id"], proceed=False)
        return PlainTextResponse("")

    async def input_submit(self, request: Request, principal: Principal) -> Response:
        """The input page's form: `proceed=<ok>` (with `json=`) proceeds, `abort=...` aborts."""
        b = await self._build(request, principal)
        form = await self._form(request)
        proceed = "abort" not in form
        submitted = _json_parameters(form["json"]) if "json" in form else {}
        await settle_input(self.ci, principal, b, request.path_params["input_id"], proceed, submitted)
        return RedirectResponse(f"{self.job_url(b.job_name)}{b.number}/", status_code=302)

    async def replay(self, request: Request, principal: Principal) -> Response:
        """Runs the build again with an edited script: form field `mainScript` (Jenkins' replay
        form) or a text/plain body; administrators and the job's owners only (dockyard.ci.replay)."""
        b = await self._build(request, principal)
        await asyncio.to_thread(self.ci.runnable_job, principal, b.job_name)  # 403/404 before reading
        if media_type(request) == "text/plain":
            script = (await read_body(request, MAX_PIPELINE_BYTES)).decode("utf-8", errors="replace")
        else:
            script = (await self._form(request)).get("mainScript", "")
        new = await queue_replay(self.ci, principal, b, script)
        return Response(status_code=201, headers={"Location": f"{self.base}/queue/item/{new.id}/"})

    # -- fingerprints (dockyard.ci.fingerprints) -----------------------------------------------
    def _visible_job(self, principal: Principal) -> Callable[[str], bool]:
        def visible(name: str) -> bool:
            try:
                self.ci.visible_job(principal, name)
            except JobNotFound:
                return False
            return True

        return visible

    async def _add_fingerprints(self, request: Request, principal: Principal, data: dict[str, Any],
                                root: Any) -> None:
        """The FingerprintAction, and at depth 1 or more the `fingerprint` list, as Jenkins has them."""
        files = await asyncio.to_thread(build_fingerprints, root)
        if not files:
            return
        data["actions"].append(fingerprint_action(files))
        if (small_int(request.query_params.get("depth", "0")) or 0) >= 1:
            ci_dir, visible = root.parent.parent, self._visible_job(principal)

            def load() -> list[dict[str, Any]]:
                records = [load_record(ci_dir, md5) for md5 in dict.fromkeys(files.values())]
                return [fingerprint_json(r, visible) for r in records if r]

            data["fingerprint"] = await asyncio.to_thread(load)

    async def fingerprint(self, request: Request, principal: Principal) -> Response:
        """`/fingerprint/<md5>/api/json`: the build that produced the file and the builds that used it
        (only jobs the caller may see; 404 when none)."""
        md5 = request.path_params["md5"].lower()
        ci_dir = self.ci.scheduler.paths("-", 0).root.parent.parent  # DATA/ci (builds: DATA/ci/<job>/<n>)
        record = await asyncio.to_thread(load_record, ci_dir, md5)
        visible = self._visible_job(principal)
        shown = await asyncio.to_thread(fingerprint_json, record, visible) if record else None
        if shown is None or (shown["original"] is None and not shown["usage"]):
            raise HTTPError(404, f"no fingerprint {md5[:64]!r}: no build you may see archived a file with"
                                 " that MD5 with fingerprint: true")
        return JSONResponse(shown)

    # -- restart from a stage (dockyard.ci.restart) ---------------------------------------
    async def restart_json(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        stages = await asyncio.to_thread(restartable_stages, self.ci.scheduler.paths(b.job_name, b.number))
        job = await asyncio.to_thread(self.ci.visible_job, principal, b.job_name)
        allowed = not job.disabled and await asyncio.to_thread(self._may_run, principal, job.name)
        return JSONResponse(restart_action_json(b, stages, allowed))

    def _may_run(self, principal: Principal, name: str) -> bool:
        try:
            self.ci.runnable_job(principal, name)
        except (JobForbidden, JobNotFound):
            return False
        return True

    async def restart(self, request: Request, principal: Principal) -> Response:
        """The restart page's form (`stageName=`, or Jenkins' `json={"stageName": ...}`): queues
        the restart and sends the browser to the job, as Jenkins does."""
        b = await self._build(request, principal)
        form = await self._form(request)
        stage: object = form.get("stageName", "")
        if not stage and "json" in form:
            try:
                stage = parse_json(form["json"]).get("stageName") or ""
            except (BadRequest, AttributeError):
                stage = None
        if not isinstance(stage, str):
            raise HTTPError(400, 'json is not valid: expected {"stageName": "..."}')
        new = await queue_restart(self.ci, principal, b, stage)
        return RedirectResponse(self.job_url(b.job_name), status_code=302,
                                headers={"X-Queue-Item": f"{self.base}/queue/item/{new.id}/"})

    async def restart_pipeline(self, request: Request, principal: Principal) -> Response:
        """`restart/restartPipeline?stageName=X`: Jenkins' JSON answer {"success", "message"}."""
        b = await self._build(request, principal)
        try:
            new = await queue_restart(self.ci, principal, b, request.query_params.get("stageName", ""))
        except HTTPError as e:
            failure = f"Failure restarting from stage: {e.message}"
            return JSONResponse({"success": "false", "message": failure}, status_code=e.status)
        return JSONResponse({"success": "true", "message": "ok", "queueId": new.id}, status_code=201,
                            headers={"Location": f"{self.base}/queue/item/{new.id}/"})

    async def rebuild(self, request: Request, principal: Principal) -> Response:
        """A new build with this one's parameters (dockyard.ci.rebuild); 201 with its queue item."""
        b = await self._build(request, principal)
        job = await asyncio.to_thread(self.ci.runnable_job, principal, b.job_name)
        cause = rebuild_cause(principal.username, b)
        new = await asyncio.to_thread(self.ci.trigger, job, rebuild_params(b), cause)
        return Response(status_code=201, headers={"Location": f"{self.base}/queue/item/{new.id}/"})

    async def artifact(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        target = await asyncio.to_thread(
            self.ci.scheduler.paths(b.job_name, b.number).archived_file, request.path_params["path"])
        if target is None:
            raise HTTPError(404, f"no artifact {request.path_params['path']!r} in {b.job_name} #{b.number}")
        return FileResponse(target, media_type="application/octet-stream")

    async def wfapi_describe(self, request: Request, principal: Principal) -> Response:
        b = await self._build(request, principal)
        runner = self.ci.scheduler.running.get(b.id)  # a running build's stages are not saved yet
        trace = runner.trace.to_json() if runner is not None else await asyncio.to_thread(
            load_trace, self.ci.scheduler.paths(b.job_name, b.number).trace)
        url = f"{self.job_url(b.job_name)}{b.number}/"
        return JSONResponse(describe(b, trace, pending_inputs(self.ci, b), url))


_PARAM_CLASSES = {
    "string": "StringParameterDefinition",
    "text": "TextParameterDefinition",
    "booleanParam": "BooleanParameterDefinition",
    "choice": "ChoiceParameterDefinition",
    "password": "PasswordParameterDefinition",
}


def _json_parameters(text: str) -> dict[str, Any]:
    """Jenkins' form field json={"parameter": [{"name": .., "value": ..}]} (build and input forms)."""
    try:
        raw = parse_json(text).get("parameter", [])
        params = {p["name"]: p.get("value") for p in (raw if isinstance(raw, list) else [raw])}
        if not all(isinstance(name, str) for name in params):
            raise TypeError("parameter names are strings")
    except (BadRequest, ValueError, AttributeError, KeyError, TypeError):
        raise HTTPError(400, 'json parameter is not valid: expected {"parameter": [{name, value}]}') from None
    return params


def _param_value(name: str, value: Any, password: bool) -> dict[str, Any]:
    """A ParameterValue as Jenkins renders it; a password's value is left out, as Jenkins does."""
    if password:
        return {"_class": "hudson.model.PasswordParameterValue", "name": name}
    cls = "BooleanParameterValue" if isinstance(value, bool) else "StringParameterValue"
    return {"_class": f"hudson.model.{cls}", "name": name, "value": value}


def build_json(b: Build, job_url: str) -> dict[str, Any]:
    """A WorkflowRun as Jenkins renders it (python-jenkins get_build_info)."""
    actions: list[dict[str, Any]] = [
        {
            "_class": "hudson.model.CauseAction",
            "causes": [cause_json(b.cause)],
        }
    ]
    restarted = restart_cause_json(b)
    if restarted:
        actions[0]["causes"].append(restarted)
    if b.params:
        actions.append(
            {
                "_class": "hudson.model.ParametersAction",
                "parameters": [_param_value(k, v, k in b.secret_names) for k, v in b.params.items()],
            }
        )
    if b.git_commit:
        actions.append(
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "lastBuiltRevision": {
                    "SHA1": b.git_commit,
                    "branch": [{"SHA1": b.git_commit, "name": f"origin/{b.git_branch}"}],
                },
            }
        )
    return {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": b.number,
        "id": str(b.number),
        "url": f"{job_url}{b.number}/",
        "displayName": f"#{b.number}",
        "fullDisplayName": f"{b.job_name} #{b.number}",
        "building": b.state == RUNNING,
        "inProgress": b.state == RUNNING,
        "result": b.result,
        "duration": b.duration_ms if b.state == DONE else 0,
        "estimatedDuration": -1,
        "timestamp": int((b.started_at or b.queued_at) * 1000),
        "queueId": b.id,
        "keepLog": False,
        "description": b.reason or None,
        "actions": actions,
        "artifacts": [],
        "changeSets": [],
        "_dockyard": {
            "queued_at": b.queued_at,
            "started_at": b.started_at,
            "finished_at": b.finished_at,
            "reason": b.reason,
            "commit": b.git_commit,
            "branch": b.git_branch,
            "queue_wait_ms": int(((b.started_at or time.time()) - b.queued_at) * 1000),
        },
    }
