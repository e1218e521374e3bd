"""Gitea's JSON shapes (modules/structs in go-gitea/gitea), field for field where we have data.

Clients written against Gitea (tea, gitea SDKs, Jenkins' Gitea plugin, Argo CD, scripts) read
these objects, so the names here are Gitea's, not ours.
"""

from __future__ import annotations

from typing import Any

from dockyard.auth import Principal, Role
from dockyard.git.apitime import EPOCH, gitea_time
from dockyard.git.bare import CommitInfo, Person
from dockyard.git.repos import Org, Repo


def user_json(user: Any, base_url: str, viewer: Principal | None = None) -> dict[str, Any]:
    """A `User` for a dockyard.auth User (or anything with the same attributes). With a `viewer`
    (an API caller), Gitea's rule: the email and is_admin only to the user themself and
    administrators; others see the placeholder address and `is_admin: false`."""
    full = viewer is None or viewer.is_admin or viewer.user_id == user.id
    return {
        "id": user.id,
        "login": user.username,
        "login_name": "",
        "source_id": 0,
        "full_name": user.full_name,
        "email": (user.email if full else "") or f"{user.username}@noreply.dockyard.local",
        "avatar_url": "",
        "html_url": f"{base_url}/{user.username}",
        "language": "",
        "is_admin": bool(user.is_admin) and full,
        "last_login": gitea_time(user.created_at),
        "created": gitea_time(user.created_at),
        "restricted": False,
        "active": True,
        "prohibit_login": False,
        "location": "",
        "website": "",
        "description": "",
        "visibility": "public",
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
        "username": user.username,
    }


def org_json(org: Org, base_url: str) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "full_name": org.full_name,
        "email": org.email,
        "avatar_url": "",
        "description": org.description,
        "website": org.website,
        "location": org.location,
        "visibility": org.visibility,
        "repo_admin_change_team_access": False,
        "username": org.name,
    }


def org_as_owner_json(org: Org, base_url: str) -> dict[str, Any]:
    """Gitea reports an organisation owning a repo as a `User` object."""
    return {
        "id": org.id, "login": org.name, "login_name": "", "full_name": org.full_name,
        "email": org.email, "avatar_url": "", "html_url": f"{base_url}/{org.name}",
        "language": "", "is_admin": False, "created": gitea_time(org.created_at),
        "restricted": False, "active": False, "prohibit_login": False, "location": org.location,
        "website": org.website, "description": org.description, "visibility": org.visibility,
        "followers_count": 0, "following_count": 0, "starred_repos_count": 0,
        "username": org.name,
    }


def repo_json(
    repo: Repo, base_url: str, owner: dict[str, Any], *, empty: bool, role: Role | None = None,
    ssh_base: str = "",
) -> dict[str, Any]:
    """Gitea's `Repository`; `ssh_base` (dockyard.git.sshpaths.ssh_url_base) is '' while the SSH
    server is off, and so is `ssh_url` then (as Gitea with SSH disabled)."""
    html_url = f"{base_url}/{repo.owner}/{repo.name}"
    permissions = None
    if role is not None:
        permissions = {
            "admin": role >= Role.ADMIN, "push": role >= Role.WRITE, "pull": role >= Role.READ,
        }
    return {
        "id": repo.id,
        "owner": owner,
        "name": repo.name,
        "full_name": repo.full_name,
        "description": repo.description,
        "empty": empty,
        "private": repo.private,
        "fork": False,
        "template": False,
        "parent": None,
        "mirror": False,
        "size": 0,
        "language": "",
        "languages_url": f"{base_url}/api/v1/repos/{repo.full_name}/languages",
        "html_url": html_url,
        "url": f"{base_url}/api/v1/repos/{repo.full_name}",
        "link": "",
        "ssh_url": f"{ssh_base}{repo.full_name}.git" if ssh_base else "",
        "clone_url": f"{html_url}.git",
        "original_url": "",
        "website": repo.website,
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 0,
        "open_issues_count": 0,
        "open_pr_counter": 0,
        "release_counter": 0,
        "default_branch": repo.default_branch,
        "archived": False,
        "created_at": gitea_time(repo.created_at),
        "updated_at": gitea_time(repo.updated_at),
        "archived_at": gitea_time(EPOCH),
        "permissions": permissions,
        "has_issues": False,
        "has_wiki": False,
        "has_pull_requests": False,
        "has_projects": False,
        "has_releases": False,
        "has_packages": False,
        "has_actions": False,
        "ignore_whitespace_conflicts": False,
        "allow_merge_commits": False,
        "allow_rebase": False,
        "allow_rebase_explicit": False,
        "allow_squash_merge": False,
        "default_merge_style": "merge",
        "avatar_url": "",
        "internal": False,
        "mirror_interval": "",
        "object_format_name": "sha1",
        "topics": [],
    }


def commit_time(value: str) -> str:
    """A git date (`%aI`), keeping its author's offset as Gitea's commit objects do."""
    return gitea_time(value, own_offset=True)


def _person(p: Person, username: str = "") -> dict[str, Any]:
    return {"name": p.name, "email": p.email, "username": username}


def payload_commit_json(commit: CommitInfo, repo_html_url: str) -> dict[str, Any]:
    """`PayloadCommit`, the element of a push payload's `commits`."""
    return {
        "id": commit.sha,
        "message": commit.message,
        "url": f"{repo_html_url}/commit/{commit.sha}",
        "author": _person(commit.author),
        "committer": _person(commit.committer),
        "verification": None,
        "timestamp": commit_time(commit.committer.date or commit.author.date),
        "added": commit.added,
        "removed": commit.removed,
        "modified": commit.modified,
    }


def api_commit_json(commit: CommitInfo, repo: Repo, base_url: str) -> dict[str, Any]:
    """`Commit` as listed by GET /repos/{o}/{r}/commits."""
    api = f"{base_url}/api/v1/repos/{repo.full_name}/git"
    html = f"{base_url}/{repo.full_name}/commit/{commit.sha}"
    return {
        "url": f"{api}/commits/{commit.sha}",
        "sha": commit.sha,
        "created": commit_time(commit.committer.date),
        "html_url": html,
        "commit": {
            "url": f"{api}/commits/{commit.sha}",
            "author": {"name": commit.author.name, "email": commit.author.email,
                       "date": commit_time(commit.author.date)},
            "committer": {"name": commit.committer.name, "email": commit.committer.email,
                          "date": commit_time(commit.committer.date)},
            "message": commit.message,
            "tree": {"url": f"{api}/trees/{commit.tree}", "sha": commit.tree,
                     "created": commit_time(commit.committer.date)},
            "verification": {"verified": False, "reason": "gpg.error.not_signed_commit",
                             "signature": "", "signer": None, "payload": ""},
        },
        "author": None,
        "committer": None,
        "parents": [{"url": f"{api}/commits/{p}", "sha": p, "created": gitea_time("")}
                    for p in commit.parents],
        "files": [{"filename": f, "status": "added"} for f in commit.added]
        + [{"filename": f, "status": "removed"} for f in commit.removed]
        + [{"filename": f, "status": "modified"} for f in commit.modified],
        "stats": None,
    }


def branch_json(name: str, commit: CommitInfo, repo: Repo, base_url: str,
                can_push: bool) -> dict[str, Any]:
    return {
        "name": name,
        "commit": {
            "id": commit.sha,
            "message": commit.message,
            "url": f"{base_url}/{repo.full_name}/commit/{commit.sha}",
            "author": _person(commit.author),
            "committer": _person(commit.committer),
            "verification": None,
            "timestamp": commit_time(commit.committer.date),
            "added": None,
            "removed": None,
            "modified": None,
        },
        "protected": False,
        "required_approvals": 0,
        "enable_status_check": False,
        "status_check_contexts": [],
        "user_can_push": can_push,
        "user_can_merge": can_push,
        "effective_branch_protection_name": "",
    }
