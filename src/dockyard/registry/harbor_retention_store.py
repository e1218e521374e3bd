"""Harbor tag retention, run by the server: a project's policy, its executions, and the run.

A policy's rules each name repositories (scope selectors) and tags (tag selectors, `extras`
`{"untagged": true}` to let untagged artifacts count) and a template choosing which of the
selected artifacts to keep: `always`, `latestPushedK`, `latestPulledN`, `nDaysSinceLastPush`,
`nDaysSinceLastPull`. With Harbor's `or` algorithm an artifact is kept when any rule keeps it;
in every repository a rule covers, the others are deleted (a dry run only reports them). An
artifact with an immutable tag is never deleted. Blobs go with the next garbage collection.
A `Schedule` trigger's cron (Harbor's six fields, seconds first, or five) runs the policy from
`Registry`'s background loop; `POST /retentions/{id}/executions` runs it now.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from dockyard.registry.harbor_immutable_store import ImmutableRules, Selector, selected
from dockyard.registry.metadata import Manifest, Project, RegistryMetadata, Repository
from dockyard.store import insert_row, update_row, utcnow

TEMPLATES = ("always", "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@dataclass(frozen=True)
class RetentionRule:
    disabled: bool
    template: str
    param: int  # K, N or n days; unused by `always`
    tags: tuple[Selector, ...]
    untagged: bool
    repositories: tuple[Selector, ...]


@dataclass(frozen=True)
class Policy:
    id: int
    project_id: int
    body: dict[str, Any]  # the policy as Harbor shapes it (rules, trigger, scope, algorithm)
    rules: tuple[RetentionRule, ...]
    cron: str  # "" unless the trigger is a schedule


def parse_cron(expression: str) -> list[set[int]]:
    """Five fields (minute hour day month weekday), or Harbor's six with seconds first; `*`,
    `*/n`, `a-b`, `a-b/n` and lists. ValueError naming the field when it is not one."""
    fields = expression.split()
    if len(fields) == 6:
        fields = fields[1:]
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} needs 5 fields (or 6 with seconds first)")
    parsed = []
    for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):
        values: set[int] = set()
        for part in field.split(","):
            match = re.fullmatch(r"(\*|\d{1,2}(?:-\d{1,2})?)(?:/(\d{1,2}))?", part.replace("?", "*"))
            if not match:
                raise ValueError(f"cron field {field!r} is not a number, range, list or */n")
            span, step = match.group(1), int(match.group(2) or 1)
            first, last = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
            if not low <= first <= last <= high or step < 1:
                raise ValueError(f"cron field {field!r} is outside {low}-{high}")
            values.update(range(first, last + 1, step))
        parsed.append(values)
    return parsed


def cron_due(expression: str, moment: dt.datetime) -> bool:
    minute, hour, day, month, weekday = parse_cron(expression)
    return (moment.minute in minute and moment.hour in hour and moment.day in day
            and moment.month in month and moment.isoweekday() % 7 in weekday)


def _keep(rule: RetentionRule, candidates: list[Manifest], now: dt.datetime) -> set[int]:
    """The ids of the candidates that `rule`'s template keeps."""
    def age(stamp: str | None) -> float:
        if not stamp:
            return float("inf")
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return (now - moment).total_seconds() / 86400

    if rule.template == "always":
        return {m.id for m in candidates}
    if rule.template == "latestPushedK":
        return {m.id for m in sorted(candidates, key=lambda m: age(m.pushed_at))[:rule.param]}
    if rule.template == "latestPulledN":
        pulled = [m for m in candidates if m.pulled_at]
        return {m.id for m in sorted(pulled, key=lambda m: age(m.pulled_at))[:rule.param]}
    stamp = "pushed_at" if rule.template == "nDaysSinceLastPush" else "pulled_at"
    return {m.id for m in candidates if age(getattr(m, stamp)) <= rule.param}


class Retention:
    def __init__(self, metadata: RegistryMetadata, immutable: ImmutableRules) -> None:
        self.metadata = metadata
        self.immutable = immutable
        self.db = metadata.db

    # policies -----------------------------------------------------------------------------------
    def for_project(self, project_id: int) -> Policy | None:
        row = self.db.row("SELECT * FROM registry_retention_policies WHERE project_id = :p", p=project_id)
        return _policy(row) if row else None

    def get(self, policy_id: int) -> Policy | None:
        row = self.db.row("SELECT * FROM registry_retention_policies WHERE id = :i", i=policy_id)
        return _policy(row) if row else None

    def all(self) -> list[Policy]:
        return [_policy(r) for r in self.db.rows("SELECT * FROM registry_retention_policies ORDER BY id")]

    def create(self, project_id: int, body: dict[str, Any]) -> int:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            return int(insert_row(conn, "registry_retention_policies", {
                "project_id": project_id, "policy": json.dumps(body), "created_at": now, "updated_at": now}))

    def update(self, policy_id: int, body: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            update_row(conn, "registry_retention_policies", {"id": policy_id},
                       {"policy": json.dumps(body), "updated_at": utcnow().isoformat()})

    def delete(self, policy_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM registry_retention_policies WHERE id = :i"), {"i": policy_id})

    def executions(self, policy_id: int) -> list[Any]:
        return self.db.rows("SELECT * FROM registry_retention_executions WHERE policy_id = :p"
                            " ORDER BY id DESC", p=policy_id)

    # running ------------------------------------------------------------------------------------
    def run(self, policy: Policy, *, dry_run: bool, trigger: str, top_level: Any) -> int:
        """Runs `policy` now; the execution id. `top_level(repository)` lists its artifacts."""
        started = utcnow().isoformat()
        with self.db.transaction() as conn:
            execution = int(insert_row(conn, "registry_retention_executions", {
                "policy_id": policy.id, "start_time": started, "end_time": None, "status": "Running",
                "trigger_kind": trigger, "dry_run": dry_run, "retained": 0, "deleted": 0, "log": ""}))
        lines, retained, deleted, status = [], 0, 0, "Succeed"
        try:
            now = dt.datetime.now(dt.UTC)
            project = next((p for p in self.metadata.list_projects() if p.id == policy.project_id), None)
            for repository in self.metadata.list_repositories(policy.project_id) if project else []:
                kept, gone = self._decide(policy, project, repository, top_level(repository), now)
                retained += len(kept)
                for manifest in gone:
                    if not dry_run:
                        self.metadata.delete_manifest(repository.id, manifest.digest)
                    deleted += 1
                    verb = "would delete" if dry_run else "deleted"
                    lines.append(f"{verb} {repository.name}@{manifest.digest}")
        except Exception as exc:  # recorded on the execution, as Harbor's "Error" status
            status = "Error"
            lines.append(f"error: {type(exc).__name__}: {exc}")
        with self.db.transaction() as conn:
            update_row(conn, "registry_retention_executions", {"id": execution}, {
                "end_time": utcnow().isoformat(), "status": status, "retained": retained,
                "deleted": deleted, "log": "\n".join(lines)[-65536:]})
        return execution

    def _decide(self, policy: Policy, project: Project | None, repository: Repository,
                artifacts: list[Manifest], now: dt.datetime) -> tuple[set[int], list[Manifest]]:
        short = repository.name.split("/", 1)[-1]
        rules = [r for r in policy.rules if not r.disabled and selected(r.repositories, short)]
        if not rules:
            return {m.id for m in artifacts}, []  # no rule covers it: untouched
        tags = {m.id: [t.name for t in self.metadata.tags_of(m.id)] for m in artifacts}
        kept: set[int] = set()
        for rule in rules:
            candidates = [m for m in artifacts if any(selected(rule.tags, t) for t in tags[m.id])
                          or (rule.untagged and not tags[m.id])]
            kept |= _keep(rule, candidates, now)
        kept |= {m.id for m in artifacts
                 if any(self.immutable.immutable(repository.name, t) for t in tags[m.id])}
        return kept, [m for m in artifacts if m.id not in kept]

    def run_due(self, moment: dt.datetime, top_level: Any) -> int:
        """Runs every scheduled policy whose cron names this minute; how many ran."""
        ran = 0
        for policy in self.all():
            try:
                due = bool(policy.cron) and cron_due(policy.cron, moment)
            except ValueError:
                due = False
            if due:
                self.run(policy, dry_run=False, trigger="Schedule", top_level=top_level)
                ran += 1
        return ran


def _policy(row: Any) -> Policy:
    body = json.loads(row.policy)
    rules = []
    for rule in body.get("rules", []):
        params = rule.get("params") or {}
        tag_selectors = rule.get("tag_selectors") or []
        rules.append(RetentionRule(
            bool(rule.get("disabled")), rule["template"], int(params.get(rule["template"], 0) or 0),
            tuple(Selector(s["decoration"], s["pattern"]) for s in tag_selectors),
            any(json.loads(s.get("extras") or "{}").get("untagged") for s in tag_selectors),
            tuple(Selector(s["decoration"], s["pattern"])
                  for s in (rule.get("scope_selectors") or {}).get("repository", []))))
    trigger = body.get("trigger") or {}
    cron = str((trigger.get("settings") or {}).get("cron") or "") if trigger.get("kind") == "Schedule" else ""
    return Policy(row.id, row.project_id, {**body, "id": row.id}, tuple(rules), cron)
