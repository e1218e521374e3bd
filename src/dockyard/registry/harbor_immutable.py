"""Harbor's `/api/v2.0/projects/{project}/immutabletagrules[/{id}]` (ImmutableRule shapes as
harborapi models them). Project members read the rules, project admins change them; the
registry and the Harbor API enforce them through `ImmutableRules.refuse`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, Role
from dockyard.http import BadRequest, fields, json_object, small_int
from dockyard.registry.harbor import HarborAPI, HarborError
from dockyard.registry.harbor_immutable_store import ImmutableRules, Rule, Selector, doublestar

MAX_RULES = 15  # Harbor's limit per project
MAX_SELECTORS = 10
PATTERN_MAX = 256
_TAG_DECORATIONS = ("matches", "excludes")
_REPO_DECORATIONS = ("repoMatches", "repoExcludes")


class ImmutableAPI:
    def __init__(self, harbor: HarborAPI, rules: ImmutableRules) -> None:
        self.harbor = harbor
        self.rules = rules

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v2.0/projects/{project}/immutabletagrules", self.harbor.endpoint(self._rules),
                  methods=["GET", "POST"]),
            Route("/api/v2.0/projects/{project}/immutabletagrules/{rule_id}",
                  self.harbor.endpoint(self._rule), methods=["PUT", "DELETE"]),
        ]

    async def _rules(self, request: Request, principal: Principal) -> Response:
        project = self.harbor._visible_project(principal, request.path_params["project"])
        if request.method == "GET":
            self.harbor._require_role(principal, project, Role.READ)
            return self.harbor._page(request, [_json(r) for r in self.rules.of_project(project.id)])
        self.harbor._require_role(principal, project, Role.ADMIN)
        body = await json_object(request)
        if len(self.rules.of_project(project.id)) >= MAX_RULES:
            raise BadRequest(f"project {project.name} has {MAX_RULES} immutable tag rules, Harbor's"
                             " limit: change or delete one")
        _check_kind(body)
        rule_id = self.rules.create(
            project.id, fields.integer(body, "priority", default=0) or 0, fields.boolean(body, "disabled"),
            parse_selectors(fields.array(body, "tag_selectors"), _TAG_DECORATIONS, "tag_selectors"),
            parse_selectors(fields.array(fields.obj(body, "scope_selectors"), "repository"),
                            _REPO_DECORATIONS, "scope_selectors.repository"))
        return Response(status_code=201, headers={
            "Location": f"/api/v2.0/projects/{project.id}/immutabletagrules/{rule_id}"})

    async def _rule(self, request: Request, principal: Principal) -> Response:
        project = self.harbor._visible_project(principal, request.path_params["project"])
        self.harbor._require_role(principal, project, Role.ADMIN)
        rule_id = small_int(request.path_params["rule_id"])
        rule = self.rules.get(project.id, rule_id) if rule_id is not None else None
        if rule is None:
            raise HarborError(404, "NOT_FOUND", f"immutable tag rule {request.path_params['rule_id']}"
                              f" not found in {project.name}")
        if request.method == "DELETE":
            self.rules.delete(rule.id)
            return Response(status_code=200)
        body = await json_object(request)
        _check_kind(body)
        tags = scope = None
        if body.get("tag_selectors") is not None:
            tags = parse_selectors(fields.array(body, "tag_selectors"), _TAG_DECORATIONS, "tag_selectors")
        if body.get("scope_selectors") is not None:
            scope = parse_selectors(fields.array(fields.obj(body, "scope_selectors"), "repository"),
                               _REPO_DECORATIONS, "scope_selectors.repository")
        self.rules.update(rule.id, priority=fields.integer(body, "priority"),
                          disabled=fields.optional_boolean(body, "disabled"),
                          tag_selectors=tags, scope_selectors=scope)
        return Response(status_code=200)


def _check_kind(body: dict[str, Any]) -> None:
    action = fields.text(body, "action", max_len=32, default="immutable")
    template = fields.text(body, "template", max_len=64, default="immutable_template")
    if action != "immutable" or template != "immutable_template":
        raise BadRequest("an immutable tag rule has action 'immutable' and template 'immutable_template'")


def parse_selectors(raw: list[Any], decorations: tuple[str, ...], what: str) -> list[Selector]:
    if not raw or len(raw) > MAX_SELECTORS:
        raise BadRequest(f"{what} needs 1-{MAX_SELECTORS} selectors such as"
                         f" {{kind: doublestar, decoration: {decorations[0]}, pattern: '**'}}")
    selectors = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise BadRequest(f"each of {what} must be an object {{kind, decoration, pattern}}")
        kind = fields.text(entry, "kind", max_len=32, default="doublestar")
        decoration = fields.text(entry, "decoration", max_len=32, required=True)
        pattern = fields.text(entry, "pattern", max_len=PATTERN_MAX, required=True)
        if kind != "doublestar":
            raise BadRequest(f"selector kind {kind!r} is not supported: use 'doublestar'")
        if decoration not in decorations:
            raise BadRequest(f"{what} decoration {decoration!r}: use {' or '.join(decorations)}")
        doublestar(pattern)
        selectors.append(Selector(decoration, pattern))
    return selectors


def _json(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "priority": rule.priority, "disabled": rule.disabled, "action": "immutable",
            "template": "immutable_template", "params": {},
            "tag_selectors": [s.json() for s in rule.tags],
            "scope_selectors": {"repository": [s.json() for s in rule.repositories]}}
