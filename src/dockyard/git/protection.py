"""Protected branches (Gitea's rules: who may push, no force-push, no deletion), enforced by
git's own pre-receive hook so that a refused push reaches the client as git's message
(`! [remote rejected] main -> main (pre-receive hook declined)` plus our `remote:` reason).

The server decides per request what the pusher may do and writes that into a small JSON file
named by an environment variable; the hook only compares refs against it (and asks git whether
an update is a fast-forward). It never calls back into the server.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dockyard.auth import Principal
from dockyard.git.apitime import gitea_time
from dockyard.store import Database, atomic_write_text, update_row, utcnow

RULES_ENV = "DOCKYARD_PUSH_RULES"

_CHECKER = '''"""Dockyard pre-receive check of protected branches (installed by the server)."""
import fnmatch
import json
import os
import subprocess
import sys

ZERO = "0" * 40
with open(os.environ["DOCKYARD_PUSH_RULES"]) as f:
    config = json.load(f)
rules = config["rules"]
failed = False
for line in sys.stdin:
    old, new, ref = line.split()
    if not ref.startswith("refs/heads/"):
        continue
    branch = ref[len("refs/heads/"):]
    exact = [r for r in rules if r["pattern"] == branch]
    rule = (exact or [r for r in rules if fnmatch.fnmatchcase(branch, r["pattern"])] or [None])[0]
    if rule is None:
        continue
    reason = None
    if new == ZERO:
        reason = f"branch {branch} is protected: it cannot be deleted"
    elif not rule["can_push"]:
        reason = f"branch {branch} is protected: {config['pusher']} is not allowed to push to it"
    elif old != ZERO and not rule["can_force"]:
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", old, new])
        if ancestor.returncode != 0:
            reason = f"branch {branch} is protected: force-push is not allowed"
    if reason:
        print(f"error: {reason} (rule {rule['pattern']!r})", file=sys.stderr)
        failed = True
sys.exit(1 if failed else 0)
'''


@dataclass(frozen=True)
class Protection:
    id: int
    repo_id: int
    rule_name: str
    enable_push: bool
    enable_push_whitelist: bool
    push_whitelist_usernames: list[str]
    enable_force_push: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Any) -> Protection:
        return cls(row.id, row.repo_id, row.rule_name, bool(row.enable_push),
                   bool(row.enable_push_whitelist), json.loads(row.push_whitelist_usernames),
                   bool(row.enable_force_push), row.created_at, row.updated_at)

    def can_push(self, principal: Principal) -> bool:
        if not self.enable_push:
            return False
        if not self.enable_push_whitelist:
            return True
        return principal.username.lower() in {u.lower() for u in self.push_whitelist_usernames}

    def matches(self, branch: str) -> bool:
        return branch == self.rule_name or fnmatch.fnmatchcase(branch, self.rule_name)

    def to_json(self) -> dict[str, Any]:
        """Gitea's `BranchProtection` (fields Dockyard does not enforce keep Gitea's defaults)."""
        return {
            "branch_name": self.rule_name, "rule_name": self.rule_name,
            "enable_push": self.enable_push, "enable_push_whitelist": self.enable_push_whitelist,
            "push_whitelist_usernames": self.push_whitelist_usernames,
            "push_whitelist_teams": [], "push_whitelist_deploy_keys": False,
            "enable_force_push": self.enable_force_push,
            "enable_merge_whitelist": False, "merge_whitelist_usernames": [],
            "merge_whitelist_teams": [], "enable_status_check": False,
            "status_check_contexts": [], "required_approvals": 0,
            "enable_approvals_whitelist": False, "approvals_whitelist_username": [],
            "approvals_whitelist_teams": [], "block_on_rejected_reviews": False,
            "block_on_official_review_requests": False, "block_on_outdated_branch": False,
            "dismiss_stale_approvals": False, "ignore_stale_approvals": False,
            "require_signed_commits": False, "protected_file_patterns": "",
            "unprotected_file_patterns": "",
            "created_at": gitea_time(self.created_at),
            "updated_at": gitea_time(self.updated_at),
        }


class ProtectionError(Exception):
    """An invalid rule; the message names the field."""


class ProtectionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def for_repo(self, repo_id: int) -> list[Protection]:
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM git_branch_protections WHERE repo_id = :r"
                                     " ORDER BY id"), {"r": repo_id}).all()
        return [Protection.from_row(r) for r in rows]

    def get(self, repo_id: int, name: str) -> Protection | None:
        return next((p for p in self.for_repo(repo_id) if p.rule_name == name), None)

    def create(self, repo_id: int, option: dict[str, Any]) -> Protection:
        """From Gitea's `CreateBranchProtectionOption` (`rule_name`, or legacy `branch_name`)."""
        name = option.get("rule_name") or option.get("branch_name")
        if not isinstance(name, str) or not name.strip():
            raise ProtectionError("rule_name (a branch name or glob) is required")
        if self.get(repo_id, name) is not None:
            raise ProtectionError(f"a protection rule for {name!r} already exists")
        now = utcnow().isoformat()
        fields = _fields(option)
        with self.db.transaction() as conn:
            conn.execute(
                text("INSERT INTO git_branch_protections (repo_id, rule_name, enable_push,"
                     " enable_push_whitelist, push_whitelist_usernames, enable_force_push,"
                     " created_at, updated_at) VALUES (:r, :n, :p, :w, :u, :f, :c, :c)"),
                {"r": repo_id, "n": name, "p": fields.get("enable_push", False),
                 "w": fields.get("enable_push_whitelist", False),
                 "u": fields.get("push_whitelist_usernames", "[]"),
                 "f": fields.get("enable_force_push", False), "c": now},
            )
        created = self.get(repo_id, name)
        assert created is not None
        return created

    def update(self, rule: Protection, option: dict[str, Any]) -> Protection:
        fields = _fields(option)
        if fields:
            fields["updated_at"] = utcnow().isoformat()
            with self.db.transaction() as conn:
                update_row(conn, "git_branch_protections", {"id": rule.id}, fields)
        updated = self.get(rule.repo_id, rule.rule_name)
        assert updated is not None
        return updated

    def delete(self, rule: Protection) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM git_branch_protections WHERE id = :i"), {"i": rule.id})

    def rules_for(self, repo_id: int, principal: Principal) -> dict[str, Any] | None:
        """What the pre-receive hook needs to judge this pusher; None when nothing is protected."""
        rules = self.for_repo(repo_id)
        if not rules:
            return None
        return {
            "pusher": principal.username,
            "rules": [{"pattern": r.rule_name, "can_push": r.can_push(principal),
                       "can_force": r.enable_force_push and r.can_push(principal)}
                      for r in rules],
        }

    def check(self, repo_id: int, principal: Principal, branch: str, *, deleting: bool = False,
              fast_forward: bool = True) -> str | None:
        """The same judgement for commits made through the API: the reason, or None if allowed."""
        rules = self.for_repo(repo_id)
        exact = [r for r in rules if r.rule_name == branch]
        rule = exact[0] if exact else next((r for r in rules if r.matches(branch)), None)
        if rule is None:
            return None
        if deleting:
            return f"branch {branch} is protected: it cannot be deleted"
        if not rule.can_push(principal):
            return f"branch {branch} is protected: {principal.username} is not allowed to push"
        if not fast_forward and not rule.enable_force_push:
            return f"branch {branch} is protected: force-push is not allowed"
        return None


def _fields(option: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("enable_push", "enable_push_whitelist", "enable_force_push"):
        if option.get(key) is not None:
            if not isinstance(option[key], bool):
                raise ProtectionError(f"{key} must be true or false")
            fields[key] = option[key]
    users = option.get("push_whitelist_usernames")
    if users is not None:
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise ProtectionError("push_whitelist_usernames must be a list of user names")
        fields["push_whitelist_usernames"] = json.dumps(users)
    return fields


def install_pre_receive(hooks_dir: Path) -> None:
    """The hook: a no-op unless the server passed rules for this push."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    checker = hooks_dir / "protected_branches.py"
    hook = hooks_dir / "pre-receive"
    script = (f'#!/bin/sh\n# Installed by Dockyard: enforce protected branches.\n'
              f'if [ -z "${RULES_ENV}" ]; then exit 0; fi\n'
              f'exec "{sys.executable}" -I -S "{checker}"\n')
    for path, content in ((checker, _CHECKER), (hook, script)):
        if not path.exists() or path.read_text() != content:
            atomic_write_text(path, content, mode=0o700)
