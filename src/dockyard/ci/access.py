"""Who may see a job and its builds: whoever may read its repository.

A job whose clone URL is a repository of this Dockyard is visible exactly to those the git side
lets read it (`RepoService.role`, passed in by the server as `repo_role`: one permission check,
not a second one here); that covers public and private repositories, collaborators, org members,
administrators and `public-only` tokens. A URL on this server with no repository behind it is for
administrators only. Jobs on other servers, local paths or inline scripts have no repository to
ask: every signed-in user sees them, except `public-only` tokens, which see only what is known to
be public. Hidden jobs answer 404, as Jenkins and Gitea answer for items one may not see.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.auth import Principal, Role
from dockyard.ci.scm import local_repo
from dockyard.ci.store import Job, JobNotFound

# (principal, owner, repository name) -> the principal's role, or None when there is no such repository
RepoRole = Callable[[Principal, str, str], "Role | None"]


class JobAccess:
    def __init__(self, repo_role: RepoRole | None, base_url: Callable[[], str]) -> None:
        self.repo_role = repo_role
        self.base_url = base_url

    def can_read(self, principal: Principal, job: Job) -> bool:
        path = self._path_on_this_server(job)
        if path is None:  # no repository of this Dockyard to ask
            return not principal.public_only
        owner, _, name = path.partition("/")
        assert self.repo_role is not None
        role = self.repo_role(principal, owner, name) if owner and name and "/" not in name else None
        if role is None:  # the URL names no repository (yet): nothing to read, administrators only
            return principal.is_admin and not principal.public_only
        return role >= Role.READ

    def check(self, principal: Principal, job: Job) -> Job:
        """`job` when the principal may see it, else the same JobNotFound as for a missing job."""
        if not self.can_read(principal, job):
            raise JobNotFound(f"no job named {job.name!r}")
        return job

    def _path_on_this_server(self, job: Job) -> str | None:
        """`owner/name` of the job's clone URL when it points at this server, else None."""
        if self.repo_role is None or not job.scm_url:
            return None
        return local_repo(job.scm_url, self.base_url())
