"""Who may see a job and its builds, and who may start or stop them: its repository decides.

A job whose clone URL is a repository of this Dockyard follows what the git side allows
(`RepoService.role`, passed in by the server as `repo_role`: one permission check, not a second
one here): reading a job and its builds needs what `git clone` needs (public and private
repositories, collaborators, org members, administrators, `public-only` tokens), and triggering,
stopping or cancelling a build needs what `git push` needs (write, and a token allowed to write
repositories): whoever could change the Jenkinsfile may run it, a reader may not. A URL on this
server with no repository behind it is for administrators only. Jobs on other servers, local
paths or inline scripts have no repository to ask: every signed-in user sees them (except
`public-only` tokens, which see only what is known to be public) and administrators, who define
them, run them. Hidden jobs answer 404, as Jenkins and Gitea answer for items one may not see; a
visible job one may not run answers 403 naming the permission.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.auth import Principal, Role
from dockyard.ci.scm import local_repo
from dockyard.ci.store import Job, JobNotFound

# (principal, owner, repository name) -> the principal's role, or None when there is no such repository
RepoRole = Callable[[Principal, str, str], "Role | None"]


class JobForbidden(PermissionError):
    """The principal sees the job but may not start or stop its builds (answered as 403)."""


class JobAccess:
    def __init__(self, repo_role: RepoRole | None, base_url: Callable[[], str]) -> None:
        self.repo_role = repo_role
        self.base_url = base_url

    def role(self, principal: Principal, job: Job) -> Role:
        """The principal's role in the job: its repository's role when it is one of this server's."""
        path = self._path_on_this_server(job)
        if path is None:  # no repository of this Dockyard to ask
            if principal.public_only:
                return Role.NONE
            return Role.ADMIN if principal.is_admin else Role.READ
        owner, _, name = path.partition("/")
        assert self.repo_role is not None
        role = self.repo_role(principal, owner, name) if owner and name and "/" not in name else None
        if role is None:  # the URL names no repository (yet): nothing to read, administrators only
            return Role.ADMIN if principal.is_admin and not principal.public_only else Role.NONE
        return role

    def can_read(self, principal: Principal, job: Job) -> bool:
        return self.role(principal, job) >= Role.READ

    def can_run(self, principal: Principal, job: Job) -> bool:
        """Whether the principal may trigger, stop or cancel the job's builds (git push's rule)."""
        return _may_run(principal, self.role(principal, job))

    def check(self, principal: Principal, job: Job) -> Job:
        """`job` when the principal may see it, else the same JobNotFound as for a missing job."""
        if not self.can_read(principal, job):
            raise JobNotFound(f"no job named {job.name!r}")
        return job

    def check_run(self, principal: Principal, job: Job) -> Job:
        """`job` when the principal may start or stop its builds; JobNotFound when they may not
        even see it, JobForbidden (403) when they may only read it."""
        role = self.role(principal, job)
        if role < Role.READ:
            raise JobNotFound(f"no job named {job.name!r}")
        if not _may_run(principal, role):
            who = principal.username or "anonymous"
            path = self._path_on_this_server(job)
            what = (f"write access to repository {path!r} (what `git push` needs)" if path
                    else "a Dockyard administrator (the job has no repository of this server)")
            raise JobForbidden(f"{who} may not start or stop builds of job {job.name!r}: that needs {what}")
        return job

    def _path_on_this_server(self, job: Job) -> str | None:
        """`owner/name` of the job's clone URL when it points at this server, else None."""
        if self.repo_role is None or not job.scm_url:
            return None
        return local_repo(job.scm_url, self.base_url())


def _may_run(principal: Principal, role: Role) -> bool:
    """git push's rule: write on the repository, with a credential allowed to write repositories."""
    return role >= Role.WRITE and principal.allows("repository", True)
