"""Harbor's tag retention API: `/api/v2.0/retentions` (RetentionPolicy, one per project, its
`scope.ref` the project id), `/retentions/{id}`, `/retentions/{id}/executions` (run now, dry
run or not, and the runs so far). Project admins change and run a policy, members read it;
the project shows it as `metadata.retention_id`. The run is `Retention.run`."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, Role
from dockyard.http import BadRequest, fields, json_object, small_int
from dockyard.registry.harbor import HarborAPI, HarborError
from dockyard.registry.harbor_immutable import parse_selectors
from dockyard.registry.harbor_retention_store import TEMPLATES, Policy, Retention, parse_cron
from dockyard.registry.metadata import Project

MAX_RULES = 15
PARAM_MAX = 100_000


class RetentionAPI:
    def __init__(self, harbor: HarborAPI, retention: Retention) -> None:
        self.harbor = harbor
        self.retention = retention

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v2.0/retentions", self.harbor.endpoint(self._create), methods=["POST"]),
            Route("/api/v2.0/retentions/{policy_id}", self.harbor.endpoint(self._policy),
                  methods=["GET", "PUT", "DELETE"]),
            Route("/api/v2.0/retentions/{policy_id}/executions", self.harbor.endpoint(self._executions),
                  methods=["GET", "POST"]),
        ]

    async def _create(self, request: Request, principal: Principal) -> Response:
        body = await json_object(request)
        policy, project = self._validate(principal, body)
        if self.retention.for_project(project.id) is not None:
            raise HarborError(409, "CONFLICT", f"project {project.name} has a retention policy already:"
                              " change it with PUT /retentions/{id}")
        policy_id = self.retention.create(project.id, policy)
        return Response(status_code=201, headers={"Location": f"/api/v2.0/retentions/{policy_id}"})

    async def _policy(self, request: Request, principal: Principal) -> Response:
        policy, project = self._find(request, principal, Role.READ if request.method == "GET" else Role.ADMIN)
        if request.method == "GET":
            return JSONResponse(policy.body)
        if request.method == "DELETE":
            self.retention.delete(policy.id)
            return Response(status_code=200)
        body, target = self._validate(principal, await json_object(request))
        if target.id != project.id:
            raise BadRequest("a retention policy stays with its project: scope.ref cannot change")
        self.retention.update(policy.id, body)
        return Response(status_code=200)

    async def _executions(self, request: Request, principal: Principal) -> Response:
        policy, _ = self._find(request, principal, Role.READ if request.method == "GET" else Role.ADMIN)
        if request.method == "GET":
            return self.harbor._page(request, [
                {"id": e.id, "policy_id": e.policy_id, "start_time": e.start_time, "end_time": e.end_time,
                 "status": e.status, "trigger": e.trigger_kind, "dry_run": bool(e.dry_run)}
                for e in self.retention.executions(policy.id)])
        body = await json_object(request, optional=True)
        execution = await run_in_threadpool(
            self.retention.run, policy, dry_run=fields.boolean(body, "dry_run"), trigger="Manual",
            top_level=self.harbor.top_level)
        return Response(status_code=201, headers={
            "Location": f"/api/v2.0/retentions/{policy.id}/executions/{execution}"})

    # plumbing -----------------------------------------------------------------------------------
    def _find(self, request: Request, principal: Principal, role: Role) -> tuple[Policy, Project]:
        policy_id = small_int(request.path_params["policy_id"])
        policy = self.retention.get(policy_id) if policy_id is not None else None
        project = self._project(principal, policy.project_id) if policy else None
        if policy is None or project is None:
            raise HarborError(404, "NOT_FOUND",
                              f"retention policy {request.path_params['policy_id']} not found")
        self.harbor._require_role(principal, project, role)
        return policy, project

    def _project(self, principal: Principal, project_id: int) -> Project | None:
        return self.harbor.visible_project(principal, str(project_id))

    def _validate(self, principal: Principal, body: dict[str, Any]) -> tuple[dict[str, Any], Project]:
        """RetentionPolicy, checked and normalised; the project it is for (admin role)."""
        if fields.text(body, "algorithm", max_len=8, default="or") != "or":
            raise BadRequest("algorithm must be 'or' (an artifact is kept when any rule keeps it)")
        scope = fields.obj(body, "scope")
        if fields.text(scope, "level", max_len=16, default="project") != "project":
            raise BadRequest("scope.level must be 'project'")
        ref = fields.integer(scope, "ref")
        project = self._project(principal, ref) if ref is not None and ref > 0 else None
        if project is None:
            raise HarborError(404, "NOT_FOUND", f"project {ref} (scope.ref) not found")
        self.harbor._require_role(principal, project, Role.ADMIN)
        raw_rules = fields.array(body, "rules")
        if not 1 <= len(raw_rules) <= MAX_RULES:
            raise BadRequest(f"rules: 1-{MAX_RULES} rules such as {{action: retain, template: latestPushedK,"
                             " params: {latestPushedK: 10}, tag_selectors, scope_selectors}")
        trigger = fields.obj(body, "trigger")
        kind = fields.text(trigger, "kind", max_len=16, default="Schedule")
        cron = fields.text(fields.obj(trigger, "settings"), "cron", max_len=128)
        if kind != "Schedule":
            raise BadRequest("trigger.kind must be 'Schedule' (an empty cron: run by hand only)")
        if cron:
            try:
                parse_cron(cron)
            except ValueError as exc:
                raise BadRequest(f"trigger.settings.cron: {exc}") from None
        return {"algorithm": "or", "rules": [_rule(r, i) for i, r in enumerate(raw_rules)],
                "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
                "scope": {"level": "project", "ref": project.id}}, project


def _rule(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequest("each rule must be an object {action, template, params, tag_selectors,"
                         " scope_selectors}")
    if fields.text(raw, "action", max_len=16, default="retain") != "retain":
        raise BadRequest("a retention rule's action is 'retain'")
    template = fields.text(raw, "template", max_len=32, required=True)
    if template not in TEMPLATES:
        raise BadRequest(f"template {template!r}: use one of {', '.join(TEMPLATES)}")
    params = fields.obj(raw, "params")
    param = 0
    if template != "always":
        value = fields.integer(params, template)
        if value is None or not 0 <= value <= PARAM_MAX:
            raise BadRequest(f"params.{template} must be a number 0-{PARAM_MAX}")
        param = value
    tag_raw = fields.array(raw, "tag_selectors")
    tags = parse_selectors(tag_raw, ("matches", "excludes"), "tag_selectors")
    extras = []
    for entry in tag_raw:
        text = fields.text(entry, "extras", max_len=256)
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise BadRequest('tag_selectors extras must be a JSON object such as {"untagged": true}')
        extras.append(json.dumps({"untagged": bool(parsed.get("untagged"))}))
    repositories = parse_selectors(fields.array(fields.obj(raw, "scope_selectors"), "repository"),
                                   ("repoMatches", "repoExcludes"), "scope_selectors.repository")
    return {"id": index + 1, "priority": index, "disabled": fields.boolean(raw, "disabled"),
            "action": "retain", "template": template,
            "params": {template: param} if template != "always" else {},
            "tag_selectors": [{**s.json(), "extras": e} for s, e in zip(tags, extras, strict=True)],
            "scope_selectors": {"repository": [s.json() for s in repositories]}}
